package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Store keeps the server's tables on disk (§7.4): a snapshot of every
// table plus a journal of the creations and deletions since. Both files
// begin with a magic and a format version; every journal record carries
// a CRC, so a torn tail (a crash in the middle of writing a batch: intact
// records, then nothing intact) is detected and cut off, while damage with
// intact records after it stops the restore with ErrDamaged, unless Repair
// is set.
//
// A Store is not safe for concurrent use; handoffd serialises it with the
// Server.
type Store struct {
	// Repair makes Load keep the snapshot and every intact journal record
	// before the first damaged one, and drop the rest, instead of
	// refusing with ErrDamaged (a damaged snapshot is still refused).
	Repair bool

	report Report

	dir     string
	journal *os.File
	pending []byte // records not yet written
	size    int64  // journal length on disk
}

// ErrDamaged reports persisted state that is neither intact nor a torn
// final journal record. The operator chooses to discard it (§7.4).
var ErrDamaged = errors.New("handoff: persisted state is damaged")

const (
	snapshotName = "tables.snapshot"
	journalName  = "tables.journal"

	formatVersion = 1
	headerLen     = 12 // magic (8) + version (4)

	// A journal record: kind (1), N (4), port (2), client (16+2),
	// generation (4), table_epoch (8), time in unix ns (8), CRC-32C of
	// the preceding octets (4).
	recordLen = 1 + 4 + 2 + 18 + 4 + 8 + 8 + 4
	// A snapshot binding: port (2), client (16+2), generation (4), last
	// use (4).
	bindingLen = 2 + 18 + 4 + 4
)

var (
	snapshotMagic = [8]byte{'h', 'o', 'f', 'f', 's', 'n', 'a', 'p'}
	journalMagic  = [8]byte{'h', 'o', 'f', 'f', 'j', 'r', 'n', 'l'}
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
)

// OpenStore opens (creating if needed) the state in dir. Call Load before
// recording anything.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("handoff: state directory: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Report is what Load found to cut off or drop.
type Report struct {
	// TornRecords is how many records a torn tail held (cut off);
	// DroppedRecords how many Repair dropped from the damage on.
	TornRecords, DroppedRecords int
}

// Load restores the tables (§7.4): the snapshot, then the journal replayed
// idempotently, with cfg for the tables' slot range and limits. It leaves
// the journal open for appending, a torn final record cut off, and
// reports what it cut off or dropped. Restoring logs nothing.
func (st *Store) Load(cfg TableConfig) ([]*Table, Report, error) {
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, Report{}, err
	}
	st.report = Report{}
	tables := map[netip.Addr]*Table{}
	if err := st.loadSnapshot(cfg, tables); err != nil {
		return nil, Report{}, err
	}
	if err := st.openJournal(cfg, tables); err != nil {
		return nil, Report{}, err
	}
	out := make([]*Table, 0, len(tables))
	for _, t := range tables {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Table) int { return a.nat64.Compare(b.nat64) })
	return out, st.report, nil
}

// Discard removes the persisted state, for an operator who chooses to
// start empty rather than repair it.
func (st *Store) Discard() error {
	st.Close()
	for _, n := range []string{snapshotName, journalName} {
		if err := os.Remove(filepath.Join(st.dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (st *Store) loadSnapshot(cfg TableConfig, tables map[netip.Addr]*Table) error {
	b, err := os.ReadFile(filepath.Join(st.dir, snapshotName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("handoff: snapshot: %w", err)
	}
	damaged := func(why string, a ...any) error {
		return fmt.Errorf("%w: snapshot %s: %s", ErrDamaged, filepath.Join(st.dir, snapshotName), fmt.Sprintf(why, a...))
	}
	if len(b) < headerLen+8 || !bytes.Equal(b[:8], snapshotMagic[:]) {
		return damaged("not a handoff snapshot")
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != formatVersion {
		return damaged("format version %d, this build reads %d", v, formatVersion)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return damaged("checksum mismatch")
	}
	r := body[headerLen:]
	n := binary.BigEndian.Uint32(r)
	r = r[4:]
	for k := uint32(0); k < n; k++ {
		if len(r) < 4+8+4+4 {
			return damaged("table %d truncated", k)
		}
		nat64 := netip.AddrFrom4([4]byte(r[:4]))
		epoch := binary.BigEndian.Uint64(r[4:])
		gen := binary.BigEndian.Uint32(r[12:])
		count := int(binary.BigEndian.Uint32(r[16:]))
		r = r[20:]
		if epoch == 0 || tables[nat64] != nil || count*bindingLen > len(r) {
			return damaged("table %d (%v) invalid", k, nat64)
		}
		t := newTable(nat64, epoch, cfg)
		for ; count > 0; count-- {
			b := Binding{
				Port:       binary.BigEndian.Uint16(r),
				Client:     netip.AddrPortFrom(netip.AddrFrom16([16]byte(r[2:18])), binary.BigEndian.Uint16(r[18:])),
				Generation: binary.BigEndian.Uint32(r[20:]),
				LastUse:    binary.BigEndian.Uint32(r[24:]),
			}
			r = r[bindingLen:]
			if err := t.replayCreated(b); err != nil {
				return damaged("table %v: %v", nat64, err)
			}
		}
		t.gen = gen
		tables[nat64] = t
	}
	if len(r) != 0 {
		return damaged("%d octets after the last table", len(r))
	}
	return nil
}

func (st *Store) openJournal(cfg TableConfig, tables map[netip.Addr]*Table) error {
	path := filepath.Join(st.dir, journalName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("handoff: journal: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("handoff: journal: %w", err)
	}
	damaged := func(why string, a ...any) error {
		f.Close()
		return fmt.Errorf("%w: journal %s: %s", ErrDamaged, path, fmt.Sprintf(why, a...))
	}
	if len(b) < headerLen {
		// New, or torn while its header was written: start it afresh.
		hdr := appendHeader(nil, journalMagic)
		if _, err := f.WriteAt(hdr, 0); err != nil {
			f.Close()
			return fmt.Errorf("handoff: journal: %w", err)
		}
		b = hdr
	}
	if !bytes.Equal(b[:8], journalMagic[:]) {
		return damaged("not a handoff journal")
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != formatVersion {
		return damaged("format version %d, this build reads %d", v, formatVersion)
	}
	intact := func(off int) bool {
		return off+recordLen <= len(b) && crc32.Checksum(b[off:off+recordLen-4], castagnoli) == binary.BigEndian.Uint32(b[off+recordLen-4:])
	}
	records := func(from int) int { return (len(b) - from + recordLen - 1) / recordLen }
	valid := headerLen
	for off := headerLen; off < len(b); off += recordLen {
		if !intact(off) {
			// §7.4: a crash in the middle of a batch leaves intact
			// records and then a tail with nothing intact in it; that
			// tail is cut off. An intact record after the damage means
			// the damage is something else.
			later := false
			for o := off + recordLen; o < len(b) && !later; o += recordLen {
				later = intact(o)
			}
			if !later {
				st.report.TornRecords = records(off)
				break
			}
			if !st.Repair {
				return damaged("record at offset %d fails its checksum, and intact records follow", off)
			}
			st.report.DroppedRecords = records(off)
			break
		}
		if err := replay(cfg, tables, b[off:off+recordLen]); err != nil {
			if !st.Repair {
				return damaged("record at offset %d: %v", off, err)
			}
			st.report.DroppedRecords = records(off)
			break
		}
		valid = off + recordLen
	}
	if err := f.Truncate(int64(valid)); err != nil {
		f.Close()
		return fmt.Errorf("handoff: journal: %w", err)
	}
	st.journal, st.size = f, int64(valid)
	return nil
}

// replay applies one journal record.
func replay(cfg TableConfig, tables map[netip.Addr]*Table, rec []byte) error {
	nat64 := netip.AddrFrom4([4]byte(rec[1:5]))
	b := Binding{
		Port:       binary.BigEndian.Uint16(rec[5:]),
		Client:     netip.AddrPortFrom(netip.AddrFrom16([16]byte(rec[7:23])), binary.BigEndian.Uint16(rec[23:])),
		Generation: binary.BigEndian.Uint32(rec[25:]),
	}
	epoch := binary.BigEndian.Uint64(rec[29:])
	at := time.Unix(0, int64(binary.BigEndian.Uint64(rec[37:])))
	b.LastUse = unixSeconds(at)
	t := tables[nat64]
	switch EventKind(rec[0]) {
	case Initialized:
		if epoch == 0 {
			return fmt.Errorf("table %v with epoch 0", nat64)
		}
		if t == nil {
			tables[nat64] = newTable(nat64, epoch, cfg)
		}
		return nil
	case Created:
		if t == nil {
			return fmt.Errorf("creation in %v, which has no table", nat64)
		}
		return t.replayCreated(b)
	case Deleted:
		if t == nil {
			return fmt.Errorf("deletion in %v, which has no table", nat64)
		}
		t.replayDeleted(b.Port, b.Generation)
		return nil
	}
	return fmt.Errorf("unknown record kind %d", rec[0])
}

func appendHeader(b []byte, magic [8]byte) []byte {
	b = append(b, magic[:]...)
	return binary.BigEndian.AppendUint32(b, formatVersion)
}

// Record queues the journal record of a table event; Sync writes it.
func (st *Store) Record(e Event) {
	r := append(st.pending, byte(e.Kind))
	n4 := e.NAT64.As4()
	r = append(r, n4[:]...)
	r = binary.BigEndian.AppendUint16(r, e.Port)
	var c [16]byte
	if e.Client.IsValid() {
		c = e.Client.Addr().As16()
	}
	r = append(r, c[:]...)
	r = binary.BigEndian.AppendUint16(r, e.Client.Port())
	r = binary.BigEndian.AppendUint32(r, e.Generation)
	r = binary.BigEndian.AppendUint64(r, e.Epoch)
	r = binary.BigEndian.AppendUint64(r, uint64(e.Time.UnixNano()))
	st.pending = binary.BigEndian.AppendUint32(r, crc32.Checksum(r[len(r)-(recordLen-4):], castagnoli))
}

// Sync puts the queued records on stable storage. §7.4: call it before
// sending a reply that reports their effect; one Sync may serve a batch of
// datagrams.
func (st *Store) Sync() error {
	if len(st.pending) == 0 {
		return nil
	}
	if st.journal == nil {
		return errors.New("handoff: journal not open (Load first)")
	}
	_, err := st.journal.WriteAt(st.pending, st.size)
	if err == nil {
		err = st.journal.Sync()
	}
	if err != nil {
		// A failed write leaves the journal as it was: what part of
		// the batch reached the file is cut off again, and the batch
		// stays queued for the next Sync, written at the same offset.
		st.journal.Truncate(st.size)
		return fmt.Errorf("handoff: journal: %w", err)
	}
	st.size += int64(len(st.pending))
	st.pending = st.pending[:0]
	return nil
}

// Snapshot writes every table to a new snapshot, renames it over the old
// one and then empties the journal (§7.4). A crash between the rename and
// the truncation leaves records the snapshot already holds; replay skips
// them.
func (st *Store) Snapshot(tables []*Table) error {
	if err := st.writeSnapshot(tables); err != nil {
		return err
	}
	if err := st.journal.Truncate(headerLen); err != nil {
		return fmt.Errorf("handoff: journal: %w", err)
	}
	st.size = headerLen
	return st.journal.Sync()
}

func (st *Store) writeSnapshot(tables []*Table) error {
	if err := st.Sync(); err != nil {
		return err
	}
	b := appendHeader(nil, snapshotMagic)
	b = binary.BigEndian.AppendUint32(b, uint32(len(tables)))
	for _, t := range tables {
		n4 := t.nat64.As4()
		b = append(b, n4[:]...)
		b = binary.BigEndian.AppendUint64(b, t.epoch)
		b = binary.BigEndian.AppendUint32(b, t.gen)
		b = binary.BigEndian.AppendUint32(b, uint32(t.Len()))
		t.Bindings(func(x Binding) bool {
			b = binary.BigEndian.AppendUint16(b, x.Port)
			a := x.Client.Addr().As16()
			b = append(b, a[:]...)
			b = binary.BigEndian.AppendUint16(b, x.Client.Port())
			b = binary.BigEndian.AppendUint32(b, x.Generation)
			b = binary.BigEndian.AppendUint32(b, x.LastUse)
			return true
		})
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))

	path := filepath.Join(st.dir, snapshotName)
	tmp, err := os.CreateTemp(st.dir, snapshotName+".*")
	if err != nil {
		return fmt.Errorf("handoff: snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(st.dir)
	}
	if err != nil {
		return fmt.Errorf("handoff: snapshot: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close writes what is queued and closes the journal.
func (st *Store) Close() error {
	if st.journal == nil {
		return nil
	}
	err := st.Sync()
	if cerr := st.journal.Close(); err == nil {
		err = cerr
	}
	st.journal = nil
	return err
}
