package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/v6xlat/xlat/handoff/internal/handofftest"
	"github.com/v6xlat/xlat/handoff/internal/vectors"

	"github.com/v6xlat/xlat/handoff/wire"
)

// persisted is a server wired to a store as handoffd wires them: every
// event journaled, the journal synced before replies leave.
type persisted struct {
	t     *testing.T
	dir   string
	srv   *Server
	store *Store
	rec   *recorder
}

func startPersisted(t *testing.T, dir string, slots uint16) *persisted {
	t.Helper()
	return startPersistedWith(t, dir, TableConfig{SlotMin: 1028, SlotMax: 1028 + slots - 1})
}

func startPersistedWith(t *testing.T, dir string, cfg TableConfig) *persisted {
	t.Helper()
	p := &persisted{t: t, dir: dir, rec: &recorder{}}
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	tables, _, err := st.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Addr: sAddr, Persistent: true, Rand: seqRand(), Table: cfg,
		OnEvent: func(e Event) { p.rec.Event(e); st.Record(e) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Restore(tables); err != nil {
		t.Fatal(err)
	}
	p.srv, p.store = srv, st
	return p
}

// send hands the server one datagram of msgs from nCP with a valid cookie
// and returns its parsed reply.
func (p *persisted) send(now int, msgs ...wire.Message) *wire.Datagram {
	p.t.Helper()
	replies := p.srv.Handle(step(now), nCP, datagram(nCP, msgs...), nil)
	if err := p.store.Sync(); err != nil {
		p.t.Fatal(err)
	}
	r, err := wire.Parse(one(p.t, replies))
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// state is what §13 test 12 compares: epoch, generation counter and the
// bindings in LRU order.
func state(t *Table) string {
	s := fmt.Sprintf("%v epoch %x gen %d:", t.NAT64(), t.Epoch(), t.generation())
	t.Bindings(func(b Binding) bool {
		s += fmt.Sprintf(" %d=%v/%d@%d", b.Port, b.Client, b.Generation, b.LastUse)
		return true
	})
	return s
}

func client(k int) string { return fmt.Sprintf("[2001:db8:%x::1]:1000", k) }

// §13 test 12: a clean stop, then kill -9 right after a reply reporting a
// creation; each restart keeps table_epoch, bindings, generations and
// order, logs nothing, and the next creation takes the next generation.
func TestStoreServerRestart(t *testing.T) {
	dir := t.TempDir()
	a := startPersisted(t, dir, 3)
	for k := 1; k <= 4; k++ { // the fourth evicts the first
		a.send(k, req(client(k)))
	}
	a.send(5, &wire.Lookup{Port: 1029}) // touch: 1029 becomes the most recent
	want := state(a.srv.table(n1))
	if err := a.store.Snapshot(a.srv.Tables()); err != nil {
		t.Fatal(err)
	}
	a.store.Close()

	b := startPersisted(t, dir, 3)
	if got := state(b.srv.table(n1)); got != want {
		t.Fatalf("after a clean stop:\n got %s\nwant %s", got, want)
	}
	r := b.send(6, req(client(5)))
	if r.Session.TableEpoch != b.srv.table(n1).Epoch() || r.Session.TableEpoch != 0x8e01f2a7c3b45d69 {
		t.Errorf("table_epoch %x changed", r.Session.TableEpoch)
	}
	if m := r.Messages[len(r.Messages)-1].(*wire.Map); m.Generation != 5 || m.Port != 1030 {
		t.Errorf("next creation = %+v, want generation 5 on the LRU port 1030", m)
	}
	if log := b.rec.Take(); log != "2024-05-01 12:00:06.000000 Deleted 192.0.2.1:1030 [2001:db8:3::1]:1000\n"+
		"2024-05-01 12:00:06.000000 Created 192.0.2.1:1030 [2001:db8:5::1]:1000\n" {
		t.Errorf("log after restore = %q (restore must log nothing)", log)
	}
	// kill -9: no snapshot, no close; the reply above was sent only after
	// its records were synced.
	want = state(b.srv.table(n1))

	c := startPersisted(t, dir, 3)
	if got := state(c.srv.table(n1)); got != want {
		t.Fatalf("after kill -9:\n got %s\nwant %s", got, want)
	}
	if c.rec.Take() != "" {
		t.Error("restore logged")
	}
}

// §13 test 12: a crash between the snapshot's rename and the journal's
// truncation replays records the snapshot already holds, correctly.
func TestStoreCrashAfterRename(t *testing.T) {
	dir := t.TempDir()
	a := startPersisted(t, dir, 2)
	for k := 1; k <= 5; k++ { // churn: evictions, a re-creation, touches
		a.send(k, req(client(k%3+1)))
	}
	a.send(6, adopt(client(9), 1028))
	want := state(a.srv.table(n1))
	if err := a.store.writeSnapshot(a.srv.Tables()); err != nil { // no truncation
		t.Fatal(err)
	}
	b := startPersisted(t, dir, 2)
	if got := state(b.srv.table(n1)); got != want {
		t.Fatalf("replay over the snapshot:\n got %s\nwant %s", got, want)
	}
	// Journal alone (no snapshot), the same state.
	os.Remove(filepath.Join(dir, snapshotName))
	c := startPersisted(t, dir, 2)
	if got := state(c.srv.table(n1)); got != want {
		t.Fatalf("journal alone:\n got %s\nwant %s", got, want)
	}
}

// A crash after the rename, when the journal holds a binding the
// snapshot no longer has (a prefix at its quota lost it to an adoption,
// and its slot stayed free): replay takes it back out, and the generation
// counter stays where the snapshot left it rather than where the old
// record was.
func TestStoreCrashAfterRenameFreedSlot(t *testing.T) {
	dir := t.TempDir()
	cfg := TableConfig{SlotMin: 1028, SlotMax: 1035, PrefixQuota: 2}
	a := startPersistedWith(t, dir, cfg)
	a.send(1, req("[2001:db8:a::1]:1"))
	a.send(2, req("[2001:db8:a::2]:1"))
	a.send(3, adopt("[2001:db8:a::3]:1", 1033)) // a::1 and its slot 1028 go
	want := state(a.srv.table(n1))
	if err := a.store.writeSnapshot(a.srv.Tables()); err != nil { // no truncation
		t.Fatal(err)
	}
	b := startPersistedWith(t, dir, cfg)
	if got := state(b.srv.table(n1)); got != want {
		t.Fatalf("replay over the snapshot:\n got %s\nwant %s", got, want)
	}
	if m := b.send(4, req("[2001:db8:b::1]:1")).Messages[0].(*wire.Map); m.Generation != 4 {
		t.Errorf("next creation took generation %d, want 4", m.Generation)
	}
}

// §7.4: a torn final record is detected and skipped; damage elsewhere
// stops the restore until the operator discards the state.
func TestStoreDamage(t *testing.T) {
	dir := t.TempDir()
	a := startPersisted(t, dir, 8)
	a.send(1, req(client(1)))
	a.send(2, req(client(2)))
	want := state(a.srv.table(n1))
	jpath := filepath.Join(dir, journalName)
	j, _ := os.ReadFile(jpath)
	if len(j) != headerLen+3*recordLen { // Initialized, two Created
		t.Fatalf("journal is %d octets", len(j))
	}

	// A crash mid-write: half a record, or a whole one with a bad CRC.
	for _, tail := range [][]byte{j[headerLen : headerLen+20], append(j[headerLen:headerLen+recordLen-1:headerLen+recordLen-1], 0)} {
		os.WriteFile(jpath, append(append([]byte(nil), j...), tail...), 0o600)
		b := startPersisted(t, dir, 8)
		if got := state(b.srv.table(n1)); got != want {
			t.Fatalf("torn record %x:\n got %s\nwant %s", tail, got, want)
		}
		// Appending after the cut record works.
		b.send(3, req(client(3)))
		want3 := state(b.srv.table(n1))
		b.store.Close()
		if got := state(startPersisted(t, dir, 8).srv.table(n1)); got != want3 {
			t.Fatalf("append after a torn record:\n got %s\nwant %s", got, want3)
		}
		os.WriteFile(jpath, j, 0o600)
	}

	damage := map[string]func([]byte) []byte{
		"flipped octet in the first record": func(b []byte) []byte { b[headerLen+9] ^= 1; return b },
		"format version 2":                  func(b []byte) []byte { b[11] = 2; return b },
		"foreign file":                      func(b []byte) []byte { copy(b, "GIF89a"); return b },
	}
	for name, f := range damage {
		os.WriteFile(jpath, f(append([]byte(nil), j...)), 0o600)
		st, _ := OpenStore(dir)
		if _, _, err := st.Load(TableConfig{SlotMin: 1028, SlotMax: 1035}); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: Load = %v, want ErrDamaged", name, err)
		}
	}
	// A damaged snapshot too.
	os.WriteFile(jpath, j, 0o600)
	if err := a.store.writeSnapshot(a.srv.Tables()); err != nil {
		t.Fatal(err)
	}
	spath := filepath.Join(dir, snapshotName)
	s, _ := os.ReadFile(spath)
	s[len(s)-10] ^= 0x40
	os.WriteFile(spath, s, 0o600)
	st, _ := OpenStore(dir)
	if _, _, err := st.Load(TableConfig{SlotMin: 1028, SlotMax: 1035}); !errors.Is(err, ErrDamaged) {
		t.Errorf("damaged snapshot: Load = %v, want ErrDamaged", err)
	}
	if err := st.Discard(); err != nil {
		t.Fatal(err)
	}
	if tables, _, err := st.Load(TableConfig{SlotMin: 1028, SlotMax: 1035}); err != nil || len(tables) != 0 {
		t.Errorf("after Discard: %d tables, %v", len(tables), err)
	}
}

// A restored table behaves as the original under further requests: the
// same answers for a sequence of requests, LOOKUPs and REFRESHes.
func TestStoreRestoredEquivalent(t *testing.T) {
	dir := t.TempDir()
	a := startPersisted(t, dir, 4)
	for k := 1; k <= 6; k++ {
		a.send(k, req(client(k)))
	}
	a.store.Snapshot(a.srv.Tables())
	a.send(7, req(client(7)))
	b := startPersisted(t, dir, 4)
	for k := 8; k <= 14; k++ {
		msgs := []wire.Message{req(client(k % 9)), &wire.Lookup{Port: uint16(1028 + k%4)}, &wire.Refresh{Entries: []wire.RefreshEntry{{Port: 1029, Generation: uint32(k % 7)}}}}
		ra, rb := a.send(k, msgs...), b.send(k, msgs...)
		if !reflect.DeepEqual(ra.Messages, rb.Messages) {
			t.Fatalf("step %d: original %s, restored %s", k, fmtMsgs(ra.Messages), fmtMsgs(rb.Messages))
		}
	}
	if sa, sb := state(a.srv.table(n1)), state(b.srv.table(n1)); sa != sb {
		t.Errorf("diverged:\n%s\n%s", sa, sb)
	}
}

// §13 test 16: a NOTE's text never reaches the connection log.
func TestServerNoteNotLogged(t *testing.T) {
	p := startPersisted(t, t.TempDir(), 4)
	p.send(1, &wire.Note{Text: "hello\n2024-05-01 12:00:01.000000 Created 192.0.2.1:9 [2001:db8::66]:1"}, req(client(1)))
	if log := p.rec.Take(); log != "2024-05-01 12:00:01.000000 Initialized 192.0.2.1\n"+
		"2024-05-01 12:00:01.000000 Created 192.0.2.1:1028 [2001:db8:1::1]:1000\n" {
		t.Errorf("log = %q", log)
	}
}

// §13 test 10: carried packets are echoed byte for byte after NEW and
// EXISTING, in order; none after REFUSED or UNMAPPED, and none after an
// ADOPT (packets follow only requests without A, §5.5: unexpected).
func TestServerCarriedPackets(t *testing.T) {
	p := startPersisted(t, t.TempDir(), 8)
	pk1, pk2 := wire.Packet(handofftest.SYN(client1)), wire.Packet(handofftest.SYN(client1)[:60])
	r := p.send(1, req(client1.String()), pk1, pk2)
	if len(r.Messages) != 3 || r.Messages[0].(*wire.Map).Status != wire.StatusNew ||
		!bytes.Equal(r.Messages[1].(wire.Packet), pk1) || !bytes.Equal(r.Messages[2].(wire.Packet), pk2) {
		t.Fatalf("after NEW: %s", fmtMsgs(r.Messages))
	}
	r = p.send(2, req(client1.String()), pk1)
	if len(r.Messages) != 2 || r.Messages[0].(*wire.Map).Status != wire.StatusExisting || !bytes.Equal(r.Messages[1].(wire.Packet), pk1) {
		t.Fatalf("after EXISTING: %s", fmtMsgs(r.Messages))
	}
	lk := wire.Packet(handofftest.SYN(client2))
	r = p.send(3, &wire.Lookup{Port: 1028}, lk, &wire.Lookup{Port: 1030}, lk, req("[fe80::1]:5"), lk)
	want := []wire.Message{mapped(wire.StatusExisting, 1028, 1, client1.String()), lk, &wire.Unmapped{Port: 1030},
		&wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonInvalid, Client: netip.MustParseAddrPort("[fe80::1]:5")}}
	expect(t, "LOOKUP hit, miss, refused", r.Messages, want...)
	before := p.srv.Stats().UnexpectedMessages
	r = p.send(4, adopt(client2.String(), 1031), lk)
	if len(r.Messages) != 1 || p.srv.Stats().UnexpectedMessages != before+1 {
		t.Errorf("after ADOPT: %s, unexpected %d", fmtMsgs(r.Messages), p.srv.Stats().UnexpectedMessages-before)
	}
}

// §13 test 9: no challenge is larger than its request; a /24 beyond its
// burst is suppressed, another /24 is not.
func TestServerChallengeLimits(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	d := (&wire.Datagram{Session: wire.Session{Version: 1, NAT64Epoch: vectors.Epoch1, Token: 1}}).Append(nil)
	for i := 0; i < ChallengeBurstPer24; i++ {
		r := one(t, s.Handle(step(1), nCP, d, nil))
		if len(r) > len(d) {
			t.Fatalf("challenge of %d octets for a %d-octet request", len(r), len(d))
		}
	}
	if r := s.Handle(step(1), netip.MustParseAddrPort("192.0.2.77:1024"), d, nil); len(r) != 0 {
		t.Error("the /24 beyond its burst was challenged")
	}
	if st := s.Stats(); st.ChallengesSent != ChallengeBurstPer24 || st.ChallengesSuppressed != 1 {
		t.Errorf("stats %+v", st)
	}
	if r := s.Handle(step(1), netip.MustParseAddrPort("198.51.100.1:1024"), d, nil); len(r) != 1 {
		t.Error("another /24 was suppressed too")
	}
	// After a second, the bucket has refilled by the rate.
	if r := s.Handle(step(2), nCP, d, nil); len(r) != 1 {
		t.Error("no challenge a second later")
	}
}
