package server

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crc32c is the CRC of the on-disk formats, from the standard library.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The journal record, field by field as the comment on recordLen lays it
// out: 49 octets, the last four the CRC-32C of the others. The kinds are
// 1, 2 and 3 on disk.
func TestJournalRecordLayout(t *testing.T) {
	st := &Store{}
	at := time.Unix(1714564801, 5)
	st.Record(Event{Kind: Initialized, Time: at, NAT64: n1, Epoch: 0x8e01f2a7c3b45d69})
	st.Record(Event{Kind: Created, Time: at, NAT64: n1, Port: 3719, Generation: 1,
		Client: netip.MustParseAddrPort("[2001:db8:1::2]:53186"), Epoch: 0x8e01f2a7c3b45d69})
	st.Record(Event{Kind: Deleted, Time: at, NAT64: n1, Port: 3719, Generation: 1,
		Client: netip.MustParseAddrPort("[2001:db8:1::2]:53186"), Epoch: 0x8e01f2a7c3b45d69})
	want := [][]byte{
		unhex(t, `01 c0000201 0000 00000000000000000000000000000000 0000 00000000 8e01f2a7c3b45d69 17cb5b9a33fe4a05`),
		unhex(t, `02 c0000201 0e87 20010db8000100000000000000000002 cfc2 00000001 8e01f2a7c3b45d69 17cb5b9a33fe4a05`),
		unhex(t, `03 c0000201 0e87 20010db8000100000000000000000002 cfc2 00000001 8e01f2a7c3b45d69 17cb5b9a33fe4a05`),
	}
	if len(st.pending) != 3*49 {
		t.Fatalf("%d octets for three records, want 3×49", len(st.pending))
	}
	for i, w := range want {
		rec := st.pending[49*i : 49*(i+1)]
		if string(rec[:45]) != string(w) || binary.BigEndian.Uint32(rec[45:]) != crc32c(w) {
			t.Errorf("record %d:\n got %x\nwant %x %08x", i, rec, w, crc32c(w))
		}
	}
}

// snapshotFile is a snapshot of body (what follows the header) with its
// CRC, as a writer that knows the format would make it.
func snapshotFile(body []byte) []byte {
	b := append([]byte("hoffsnap\x00\x00\x00\x01"), body...)
	return binary.BigEndian.AppendUint32(b, crc32c(b))
}

// tableRecord is a snapshot table: NAT64, epoch, generation counter, and
// bindings of port, client, generation and last use.
func tableRecord(nat64 string, epoch uint64, gen uint32, bindings ...Binding) []byte {
	a := netip.MustParseAddr(nat64).As4()
	b := append([]byte(nil), a[:]...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = binary.BigEndian.AppendUint32(b, gen)
	b = binary.BigEndian.AppendUint32(b, uint32(len(bindings)))
	for _, x := range bindings {
		b = binary.BigEndian.AppendUint16(b, x.Port)
		c := x.Client.Addr().As16()
		b = append(b, c[:]...)
		b = binary.BigEndian.AppendUint16(b, x.Client.Port())
		b = binary.BigEndian.AppendUint32(b, x.Generation)
		b = binary.BigEndian.AppendUint32(b, x.LastUse)
	}
	return b
}

func tables(n uint32, recs ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	for _, r := range recs {
		b = append(b, r...)
	}
	return b
}

// The snapshot a Store writes is the format read back here, octet for
// octet; and what a Store reads: snapshots with a valid CRC that are
// still wrong are refused as damaged, never a panic, and the edge cases
// of a valid one (no tables, a table of no bindings, two tables) load.
func TestSnapshotFormat(t *testing.T) {
	b1 := Binding{Port: 1030, Client: netip.MustParseAddrPort("[2001:db8:1::2]:53186"), Generation: 7, LastUse: 1714564801}
	dir := t.TempDir()
	st, _ := OpenStore(dir)
	cfg := TableConfig{SlotMin: 1028, SlotMax: 1035}
	if _, _, err := st.Load(cfg); err != nil {
		t.Fatal(err)
	}
	tb := newTable(n1, 0x8e01f2a7c3b45d69, cfg)
	if err := tb.replayCreated(b1); err != nil {
		t.Fatal(err)
	}
	tb.gen = 9
	if err := st.writeSnapshot([]*Table{tb}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, snapshotName))
	if want := snapshotFile(tables(1, tableRecord("192.0.2.1", 0x8e01f2a7c3b45d69, 9, b1))); string(got) != string(want) || len(got) != 68 {
		t.Errorf("snapshot:\n got %x\nwant %x", got, want)
	}
	st.Close()

	good := map[string]struct {
		file   []byte
		tables int
	}{
		"no tables":           {snapshotFile(tables(0)), 0},
		"a table, no binding": {snapshotFile(tables(1, tableRecord("192.0.2.1", 5, 0))), 1},
		"two tables":          {snapshotFile(tables(2, tableRecord("192.0.2.1", 5, 7, b1), tableRecord("192.0.2.3", 6, 0))), 2},
	}
	for name, c := range good {
		os.WriteFile(filepath.Join(dir, snapshotName), c.file, 0o600)
		st, _ := OpenStore(dir)
		got, _, err := st.Load(cfg)
		if err != nil || len(got) != c.tables {
			t.Errorf("%s: %d tables, %v", name, len(got), err)
		}
		st.Close()
	}
	short := tableRecord("192.0.2.1", 5, 7, b1)
	bad := map[string][]byte{
		"a header and its CRC only":          snapshotFile(nil),
		"table header cut short":             snapshotFile(tables(1, short[:19])),
		"fewer bindings than counted":        snapshotFile(tables(1, tableRecord("192.0.2.1", 5, 7, b1)[:20+27])),
		"count of two, one binding":          snapshotFile(tables(1, append(append(short[:16:16], 0, 0, 0, 2), short[20:]...))),
		"two tables counted, one present":    snapshotFile(tables(2, short)),
		"one table counted, two present":     snapshotFile(tables(1, short, tableRecord("192.0.2.3", 6, 0))),
		"epoch 0":                            snapshotFile(tables(1, tableRecord("192.0.2.1", 0, 7, b1))),
		"the same NAT64 twice":               snapshotFile(tables(2, short, short)),
		"a binding outside the slot range":   snapshotFile(tables(1, tableRecord("192.0.2.1", 5, 7, Binding{Port: 1036, Client: b1.Client, Generation: 1}))),
		"too short for the header and count": []byte("hoffsnap\x00\x00\x00\x01\x00\x00\x00"),
	}
	for name, file := range bad {
		os.WriteFile(filepath.Join(dir, snapshotName), file, 0o600)
		st, _ := OpenStore(dir)
		if _, _, err := st.Load(cfg); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: Load = %v, want ErrDamaged", name, err)
		}
		st.Close()
	}
}

// Close writes what was recorded and not yet synced.
func TestStoreCloseSyncs(t *testing.T) {
	dir := t.TempDir()
	st, _ := OpenStore(dir)
	cfg := TableConfig{SlotMin: 1028, SlotMax: 1035}
	st.Load(cfg)
	st.Record(Event{Kind: Initialized, Time: step(1), NAT64: n1, Epoch: 42})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	st, _ = OpenStore(dir)
	got, _, err := st.Load(cfg)
	if err != nil || len(got) != 1 || got[0].Epoch() != 42 {
		t.Errorf("after Close: %d tables, %v", len(got), err)
	}
}
