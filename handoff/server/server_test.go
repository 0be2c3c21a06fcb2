package server

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/handoff"

	"github.com/v6xlat/xlat/handoff/internal/vectors"

	"github.com/v6xlat/xlat/handoff/wire"

	"github.com/v6xlat/xlat/internal/fixture"
)

func newTestServer(t *testing.T, cfg Config) (*Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Addr, cfg.Rand, cfg.OnEvent, cfg.Persistent = sAddr, seqRand(), rec.Event, true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func one(t *testing.T, replies [][]byte) []byte {
	t.Helper()
	if len(replies) != 1 {
		t.Fatalf("%d replies, want 1", len(replies))
	}
	return replies[0]
}

// The §12 exchange E1-E6 through a server, octet for octet.
func TestServerGoldenExchange(t *testing.T) {
	// §12 E5: the random free slot is 12191; after 3719 was taken its
	// index in the free array is still 12191-1028.
	picks := []int{12191 - handoff.SlotPortMin}
	s, rec := newTestServer(t, Config{Table: TableConfig{Rand: func(n int) int {
		p := picks[0]
		picks = picks[1:]
		return p
	}}})
	now := step(1)

	// E1 → E2: a challenge, nothing stored, nothing logged.
	if got := one(t, s.Handle(now, nCP, fixture.Hex(t, vectors.E1), nil)); !bytes.Equal(got, fixture.Hex(t, vectors.E2)) {
		t.Errorf("challenge = %x\nwant       %x", got, fixture.Hex(t, vectors.E2))
	}
	if rec.Take() != "" || s.table(nCP.Addr()) != nil || s.Stats().ChallengesSent != 1 {
		t.Fatalf("the challenge left state: %+v", s.Stats())
	}

	// E3: the resend with the cookie is adopted.
	e3 := fixture.Hex(t, vectors.E1)
	copy(e3[22:30], fixture.Hex(t, "a6be3c23042a8dcd"))
	got := one(t, s.Handle(now, nCP, e3, nil))
	want := append(fixture.Hex(t, "311201a000005d3c9a1be04f77268e01f2a7c3b45d69a6be3c23042a8dcdc51b590967e9db02"),
		fixture.Hex(t, "330e02000e870000000120010db8000100000000000000000002cfc20000")...)
	if !bytes.Equal(got, want) {
		t.Errorf("E3 reply = %x\nwant       %x", got, want)
	}
	if log := rec.Take(); log != "2024-05-01 12:00:01.000000 Initialized 192.0.2.1\n"+
		"2024-05-01 12:00:01.000000 Created 192.0.2.1:3719 [2001:db8:1::2]:53186\n" {
		t.Errorf("E3 log = %q", log)
	}

	// E4 → E5, with the SYN echoed.
	if got := one(t, s.Handle(step(2), nCP, fixture.Hex(t, vectors.E4), nil)); !bytes.Equal(got, fixture.Hex(t, vectors.E5)) {
		t.Errorf("E5 = %x\nwant %x", got, fixture.Hex(t, vectors.E5))
	}
	if log := rec.Take(); log != "2024-05-01 12:00:02.000000 Created 192.0.2.1:12191 [2001:db8:1::3]:34643\n" {
		t.Errorf("E5 log = %q", log)
	}

	// E6: both generations current, so a SESSION alone, E5's first 38.
	if got := one(t, s.Handle(step(3), nCP, fixture.Hex(t, vectors.E6), nil)); !bytes.Equal(got, fixture.Hex(t, vectors.E5)[:38]) {
		t.Errorf("E6 reply = %x", got)
	}
	if rec.Take() != "" {
		t.Error("E6 logged")
	}
	// A duplicate E4 gets the same answer as EXISTING, and no line.
	dup := one(t, s.Handle(step(4), nCP, fixture.Hex(t, vectors.E4), nil))
	wantDup := fixture.Hex(t, vectors.E5)
	wantDup[40] = uint8(wire.StatusExisting)
	if !bytes.Equal(dup, wantDup) || rec.Take() != "" {
		t.Errorf("duplicate E4 = %x", dup)
	}

	// E8: a restarted NAT64 (new epoch, cookie from a challenge) looks up
	// 3719: EXISTING, the packet echoed, 108 octets, nothing logged.
	e8 := one(t, s.Handle(step(5), nCP, fixture.Hex(t, vectors.E8), nil))
	if len(e8) != 108 || !bytes.Equal(e8[38:48], fixture.Hex(t, "330e01000e8700000001")) || !bytes.Equal(e8[68:], fixture.Hex(t, vectors.E8Packet)) ||
		!bytes.Equal(e8[6:30], fixture.Hex(t, "c4a1e07b93d2586f8e01f2a7c3b45d69421aafe088f59b00")) {
		t.Errorf("E8 reply = %x", e8)
	}
	if rec.Take() != "" {
		t.Error("E8 logged")
	}
}

// §13 test 2: malformed datagrams change nothing and are counted.
func TestServerMalformed(t *testing.T) {
	s, rec := newTestServer(t, Config{})
	e8 := fixture.Hex(t, vectors.E8)
	bad := [][]byte{e8[:37], append(fixture.Hex(t, vectors.E2)[:38:38], 0x51, 0), e8[:41]}
	ihl := append([]byte(nil), e8...)
	ihl[44] = 0x44
	bad = append(bad, ihl)
	for _, b := range bad {
		if r := s.Handle(step(1), nCP, b, nil); len(r) != 0 {
			t.Errorf("%x: answered %x", b, r)
		}
	}
	if st := s.Stats(); st.MalformedDatagrams != uint64(len(bad)) || st.ChallengesSent != 0 || rec.Take() != "" {
		t.Errorf("stats %+v", st)
	}
}

// §13 test 8 (server part): sources and cookies.
func TestServerSpoofing(t *testing.T) {
	s, rec := newTestServer(t, Config{})
	e4 := fixture.Hex(t, vectors.E4) // carries the §12 cookie for 192.0.2.1:1024
	for _, from := range []string{"192.0.2.1:1028", "192.0.2.1:53", "127.0.0.1:1024", "192.0.2.2:1024", "224.0.0.1:1024"} {
		if r := s.Handle(step(1), netip.MustParseAddrPort(from), e4, nil); len(r) != 0 {
			t.Errorf("%s answered", from)
		}
	}
	if s.Stats().BadSource != 5 {
		t.Errorf("BadSource = %d, want 5", s.Stats().BadSource)
	}
	// The cookie of 192.0.2.1:1024 from another N or CP: a challenge.
	for _, from := range []string{"192.0.2.9:1024", "192.0.2.1:1025"} {
		r := one(t, s.Handle(step(1), netip.MustParseAddrPort(from), e4, nil))
		if len(r) != wire.HeaderSize || r[3] != wire.FlagServer|wire.FlagChallenge {
			t.Errorf("%s: %x, want a challenge", from, r)
		}
	}
	// Another epoch: the cookie does not match either.
	other := append([]byte(nil), e4...)
	other[13]++
	if r := one(t, s.Handle(step(1), nCP, other, nil)); r[3] != wire.FlagServer|wire.FlagChallenge {
		t.Errorf("wrong epoch accepted: %x", r)
	}
	if rec.Take() != "" || len(s.tables) != 0 {
		t.Error("a challenged datagram left state")
	}

	// Key rotation: the previous key's cookie works, the one before not.
	// The key was made at the first Handle, step 1.
	if r := one(t, s.Handle(step(1).Add(CookieKeyLifetime), nCP, e4, nil)); r[3]&wire.FlagChallenge != 0 {
		t.Error("the previous key's cookie was refused")
	}
	if r := one(t, s.Handle(step(1).Add(2*CookieKeyLifetime), nCP, e4, nil)); r[3]&wire.FlagChallenge == 0 {
		t.Error("the cookie from two keys ago was accepted")
	}
}

// §13 test 3 at the server: unknown skipped and counted, a short request
// ignored with ERROR MALFORMED in the reply.
func TestServerMessageLevel(t *testing.T) {
	s, _ := newTestServer(t, Config{Table: TableConfig{}})
	head := fixture.Hex(t, vectors.E4)[:38]
	req := fixture.Hex(t, vectors.E4)[38:64]
	b := append(append(append([]byte(nil), head...), 0x3b, 0x01, 0xaa, 0xbb), req...)
	d, err := wire.Parse(one(t, s.Handle(step(1), nCP, b, nil)))
	if err != nil || len(d.Messages) != 1 || d.Messages[0].(*wire.Map).Status != wire.StatusNew || s.Stats().UnknownMessages != 1 {
		t.Fatalf("unknown then request: %+v %v %+v", d, err, s.Stats())
	}
	short := append(append(append([]byte(nil), head...), 0x32, 11), req[2:24]...)
	d, err = wire.Parse(one(t, s.Handle(step(1), nCP, short, nil)))
	if err != nil || len(d.Messages) != 1 || *d.Messages[0].(*wire.Error) != (wire.Error{Code: wire.ErrMalformed, Subtype: wire.TypeMapRequest}) ||
		s.Stats().MalformedMessages != 1 {
		t.Fatalf("L=11: %+v %v", d, err)
	}
	// L = 13: two octets more than defined, accepted, excess ignored.
	long := append(append(append(append([]byte(nil), head...), 0x32, 13), req[2:26]...), 0xee, 0xee)
	d, err = wire.Parse(one(t, s.Handle(step(1), nCP, long, nil)))
	if err != nil || len(d.Messages) != 1 || d.Messages[0].(*wire.Map).Status != wire.StatusExisting || s.Stats().MalformedMessages != 1 {
		t.Fatalf("L=13: %+v %v", d, err)
	}
}

// §13 test 9: TABLE_LIMIT, and REFUSED RATE without a line.
func TestServerLimits(t *testing.T) {
	s, rec := newTestServer(t, Config{MaxTables: 1, Table: TableConfig{CreateRate: 1, CreateBurst: 1}})
	s.Handle(step(1), nCP, fixture.Hex(t, vectors.E4), nil)
	rec.Take()
	// A second NAT64 with a valid cookie of its own.
	n2 := netip.MustParseAddrPort("192.0.2.3:1024")
	e4 := fixture.Hex(t, vectors.E4)
	var ks [32]byte
	for i := range ks {
		ks[i] = byte(0x20 + i)
	}
	c := handoff.Cookie(ks, n2.Addr(), n2.Port(), vectors.Epoch1)
	for i := 0; i < 8; i++ {
		e4[22+i] = byte(c >> (56 - 8*i))
	}
	r := one(t, s.Handle(step(1), n2, e4, nil))
	if !strings.HasSuffix(string(r), "table limit\xff") || len(r) != 56 || s.Stats().TablesRefused != 1 || rec.Take() != "" {
		t.Errorf("TABLE_LIMIT = %x, %+v", r, s.Stats())
	}
	// The bucket of one is spent: another client is refused, unlogged.
	other := fixture.Hex(t, vectors.E4)[:64]
	other[59] = 9
	d, _ := wire.Parse(one(t, s.Handle(step(1), nCP, other, nil)))
	if m := d.Messages[0].(*wire.Map); m.Status != wire.StatusRefused || m.Reason != wire.ReasonRate || rec.Take() != "" || s.Stats().RefusedRate != 1 {
		t.Errorf("rate: %+v %+v", m, s.Stats())
	}
}

// FuzzServerHandle sends the server datagrams with a valid cookie and
// arbitrary messages: it never panics, its replies parse and stay within
// MaxDatagram, and the table's structures agree.
func FuzzServerHandle(f *testing.F) {
	var ks [32]byte
	for i := range ks {
		ks[i] = byte(0x20 + i)
	}
	hdr := (&wire.Datagram{Session: wire.Session{Version: 1, NAT64Epoch: vectors.Epoch1, Token: 3, Cookie: handoff.Cookie(ks, nCP.Addr(), nCP.Port(), vectors.Epoch1)}}).Append(nil)
	for _, h := range []string{vectors.E4, vectors.E6, vectors.E8} {
		f.Add(fixture.Hex(f, h)[wire.HeaderSize:])
	}
	f.Fuzz(func(t *testing.T, msgs []byte) {
		s, _ := newTestServer(t, Config{Table: TableConfig{SlotMin: 1028, SlotMax: 1040, PrefixQuota: 3}})
		for i := 0; i < 3; i++ {
			for _, r := range s.Handle(step(i), nCP, append(hdr[:len(hdr):len(hdr)], msgs...), nil) {
				if len(r) > MaxDatagram {
					t.Fatalf("reply of %d octets", len(r))
				}
				if _, err := wire.Parse(r); err != nil {
					t.Fatalf("reply does not parse: %v\n%x", err, r)
				}
			}
		}
		if tb := s.table(nCP.Addr()); tb != nil {
			checkTable(t, tb)
		}
	})
}
