package server

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/handoff"

	"github.com/v6xlat/xlat/handoff/internal/vectors"

	"github.com/v6xlat/xlat/handoff/wire"

	"github.com/v6xlat/xlat/internal/fixture"
)

// Hardening: answers never larger than what asked for them, except the
// mapping answers the protocol exists for. An authenticated 1,472-octet
// request of small broken messages drew 4,416 octets of ERRORs.
func TestFaultErrorsNoAmplification(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	head := fixture.Hex(t, vectors.E4)[:wire.HeaderSize] // SESSION with the cookie of nCP
	// Broken messages of every kind that can be broken, two octets each
	// (type, length 0), filling a 1,472-octet datagram.
	kinds := []uint8{wire.TypeMapRequest, wire.TypeMap, wire.TypeLookup, wire.TypeUnmapped, wire.TypeRefresh, wire.TypeInvalidate, wire.TypeError}
	req := append([]byte(nil), head...)
	for i := 0; len(req)+2 <= 1472; i++ {
		req = append(req, kinds[i%len(kinds)], 0)
	}
	replies := s.Handle(step(1), nCP, req, nil)
	total := 0
	for _, r := range replies {
		total += len(r)
	}
	if total > len(req) {
		t.Errorf("%d octets of broken messages drew %d octets of answers", len(req), total)
	}
	d, err := wire.Parse(one(t, replies))
	if err != nil || len(d.Messages) == 0 || len(d.Messages) > len(kinds) {
		t.Errorf("answer %+v %v: want at most one ERROR per kind of broken message", d, err)
	}
	// A request with few octets of broken messages gets fewer ERRORs
	// than it has kinds of them, the rest counted.
	small := append(append([]byte(nil), head...), wire.TypeMapRequest, 0, wire.TypeLookup, 0, wire.TypeRefresh, 0)
	r := one(t, s.Handle(step(1), nCP, small, nil))
	if len(r) > len(small) || s.Stats().ErrorsSuppressed == 0 {
		t.Errorf("%d-octet request: %d-octet answer, %d suppressed", len(small), len(r), s.Stats().ErrorsSuppressed)
	}
}

// A journal write that fails leaves the journal as it was, and the batch
// is written at the same place when it works again: nothing lost, nothing
// twice.
func TestFaultJournalWriteFails(t *testing.T) {
	dir := t.TempDir()
	a := startPersisted(t, dir, 8)
	a.send(1, req(client(1))) // Initialized, Created: synced
	jpath := filepath.Join(dir, journalName)
	before, _ := os.ReadFile(jpath)
	// The next batch meets a journal it cannot write.
	w := a.store.journal
	ro, err := os.Open(jpath)
	if err != nil {
		t.Fatal(err)
	}
	a.store.journal = ro
	a.srv.Handle(step(2), nCP, reqDatagram(t, a, req(client(2))), nil)
	if err := a.store.Sync(); err == nil {
		t.Fatal("Sync to a read-only journal succeeded")
	}
	if now, _ := os.ReadFile(jpath); !bytes.Equal(now, before) {
		t.Errorf("the failed write changed the journal: %d octets, was %d", len(now), len(before))
	}
	ro.Close()
	a.store.journal = w
	if err := a.store.Sync(); err != nil {
		t.Fatal(err)
	}
	want := state(a.srv.table(n1))
	a.store.Close()
	b := startPersisted(t, dir, 8)
	if got := state(b.srv.table(n1)); got != want {
		t.Errorf("after the retry:\n got %s\nwant %s", got, want)
	}
}

// A crash in the middle of a batch leaves intact records and then a tail
// with nothing intact in it: any number of records of it are cut off at
// start, and counted. Damage with intact records after it is refused,
// unless Repair keeps the snapshot and every record before the damage.
func TestFaultJournalTornTailAndRepair(t *testing.T) {
	dir := t.TempDir()
	a := startPersisted(t, dir, 8)
	a.send(1, req(client(1)))
	if err := a.store.Snapshot(a.srv.Tables()); err != nil { // client 1 in the snapshot
		t.Fatal(err)
	}
	for i := 2; i <= 6; i++ {
		a.send(i, req(client(i))) // five Created in the journal
	}
	a.store.Close()
	jpath := filepath.Join(dir, journalName)
	j, _ := os.ReadFile(jpath)
	if len(j) != headerLen+5*recordLen {
		t.Fatalf("journal of %d octets", len(j))
	}
	load := func(b []byte, repair bool) (*Store, []*Table, Report, error) {
		os.WriteFile(jpath, b, 0o600)
		st, _ := OpenStore(dir)
		st.Repair = repair
		tables, report, err := st.Load(TableConfig{SlotMin: 1028, SlotMax: 1035})
		return st, tables, report, err
	}
	bindings := func(ts []*Table) int {
		n := 0
		for _, t := range ts {
			n += t.Len()
		}
		return n
	}
	// The last three records and half of another torn.
	torn := append([]byte(nil), j...)
	for i := headerLen + 2*recordLen; i < len(torn); i++ {
		torn[i] = 0xa5
	}
	torn = append(torn, make([]byte, recordLen/2)...)
	st, tables, report, err := load(torn, false)
	if err != nil || report.TornRecords != 4 || bindings(tables) != 3 {
		t.Errorf("torn tail: %v, %d records cut, %d bindings; want 4 cut, 3 bindings (1 snapshot + 2 journal)", err, report.TornRecords, bindings(tables))
	}
	st.Close()
	if b, _ := os.ReadFile(jpath); len(b) != headerLen+2*recordLen {
		t.Errorf("the torn tail was not cut off: %d octets", len(b))
	}
	// One damaged record with intact ones after it: refused, or
	// repaired.
	mid := append([]byte(nil), j...)
	mid[headerLen+recordLen+9] ^= 1 // the second of five
	if _, _, _, err := load(mid, false); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "intact records follow") {
		t.Errorf("damage before intact records: %v, want ErrDamaged", err)
	}
	st, tables, report, err = load(mid, true)
	if err != nil || report.DroppedRecords != 4 || bindings(tables) != 2 {
		t.Errorf("repair: %v, %d dropped, %d bindings; want 4 dropped, 2 bindings (the snapshot's and the first record's)", err, report.DroppedRecords, bindings(tables))
	}
	st.Close()
}

// reqDatagram is persisted.send's datagram, to hand the server without
// the Sync send does.
func reqDatagram(t *testing.T, p *persisted, msgs ...wire.Message) []byte {
	t.Helper()
	var ks [32]byte
	for i := range ks {
		ks[i] = byte(0x20 + i)
	}
	d := wire.Datagram{Session: wire.Session{Version: 1, NAT64Epoch: vectors.Epoch1, Token: 7,
		Cookie: handoff.Cookie(ks, nCP.Addr(), nCP.Port(), vectors.Epoch1)}, Messages: msgs}
	return d.Append(nil)
}

// Fault item 16: Restore installed a zero Table, whose LastUse then
// panicked; a table's address, epoch and event hook were writable from
// outside (a cleared hook cut the journal and the connection log off).
// Now Restore refuses what a Store did not load, all or nothing, and the
// table's identity is read through methods.
func TestFaultRestoreRefusesForeignTables(t *testing.T) {
	srv, err := New(Config{Addr: sAddr, Rand: seqRand()})
	if err != nil {
		t.Fatal(err)
	}
	good := newTable(netip.MustParseAddr("192.0.2.1"), 7, TableConfig{})
	for _, tables := range [][]*Table{{{}}, {nil}, {good, {}}} {
		if err := srv.Restore(tables); err == nil {
			t.Errorf("Restore(%d tables, one not from a Store): no error", len(tables))
		}
		if n := len(srv.Tables()); n != 0 {
			t.Errorf("a refused Restore installed %d tables", n)
		}
	}
	if err := srv.Restore([]*Table{good}); err != nil {
		t.Fatal(err)
	}
	if tb := srv.Tables(); len(tb) != 1 || tb[0].NAT64() != netip.MustParseAddr("192.0.2.1") || tb[0].Epoch() != 7 || tb[0].onEvent == nil {
		t.Errorf("restored: %v", tb)
	}
}
