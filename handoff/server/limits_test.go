package server

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/internal/handofftest"
	"github.com/v6xlat/xlat/handoff/internal/vectors"
	"github.com/v6xlat/xlat/handoff/wire"
)

// datagram is a SESSION from `from` (NAT64 epoch Epoch1, token 7) with
// the cookie the test servers' key (0x20, 0x21, ...) gives it, then msgs.
func datagram(from netip.AddrPort, msgs ...wire.Message) []byte {
	var ks [32]byte
	for i := range ks {
		ks[i] = byte(0x20 + i)
	}
	return (&wire.Datagram{Session: wire.Session{Version: wire.ProtocolVersion, NAT64Epoch: vectors.Epoch1, Token: 7,
		Cookie: handoff.Cookie(ks, from.Addr(), from.Port(), vectors.Epoch1)}, Messages: msgs}).Append(nil)
}

func parseOne(t *testing.T, replies [][]byte) *wire.Datagram {
	t.Helper()
	d, err := wire.Parse(one(t, replies))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// §7.1: control ports 1024-1027 exactly are admitted.
func TestServerControlPorts(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	for port, ok := range map[uint16]bool{handoff.ControlPortMin - 1: false, handoff.ControlPortMin: true, handoff.ControlPortMax: true, handoff.ControlPortMax + 1: false} {
		from := netip.AddrPortFrom(nCP.Addr(), port)
		before := s.Stats().BadSource
		got := len(s.Handle(step(1), from, datagram(from), nil)) == 1
		if got != ok || (s.Stats().BadSource == before) != ok {
			t.Errorf("source port %d: answered %v, BadSource %d -> %d; want answered %v", port, got, before, s.Stats().BadSource, ok)
		}
	}
}

// A table of one slot is a valid configuration, a range upside down is
// not; each limit's smallest (and the prefix length's largest) value is.
func TestServerSlotRange(t *testing.T) {
	for _, c := range []struct {
		min, max uint16
		ok       bool
	}{{1028, 1028, true}, {2000, 1999, false}, {1027, 1030, false}} {
		_, err := New(Config{Addr: sAddr, Table: TableConfig{SlotMin: c.min, SlotMax: c.max}})
		if (err == nil) != c.ok {
			t.Errorf("slots %d-%d: %v", c.min, c.max, err)
		}
	}
	for _, c := range []TableConfig{{PrefixQuota: 1}, {QuotaPrefixLen: 1}, {QuotaPrefixLen: 128}, {CreateRate: 0.5}, {CreateBurst: 1}} {
		if _, err := New(Config{Addr: sAddr, Table: c}); err != nil {
			t.Errorf("%+v refused: %v", c, err)
		}
	}
	for _, c := range []TableConfig{{QuotaPrefixLen: 129}, {QuotaPrefixLen: -1}, {PrefixQuota: -1}, {CreateRate: -1}, {CreateBurst: -1}} {
		if _, err := New(Config{Addr: sAddr, Table: c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// §6 Versions: another version's SESSION of at least 44 octets gets
// UNSUPPORTED_VERSION under the challenge rules, with its epoch and
// token; shorter is malformed, and only a SESSION is read that way.
func TestServerUnsupportedVersion(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	d := datagram(nCP, &wire.Lookup{Port: 1028})
	d[2] = 2
	if len(d) != 44 {
		t.Fatalf("test datagram is %d octets", len(d))
	}
	r := parseOne(t, s.Handle(step(1), nCP, d, nil))
	if r.Session.NAT64Epoch != vectors.Epoch1 || r.Session.Token != 7 || len(r.Messages) != 1 {
		t.Fatalf("reply %+v", r)
	}
	if e, ok := r.Messages[0].(*wire.Error); !ok || e.Code != wire.ErrUnsupportedVersion {
		t.Errorf("reply %+v", r.Messages[0])
	}
	if st := s.Stats(); st.ChallengesSent != 1 || s.table(nCP.Addr()) != nil {
		t.Errorf("stats %+v", st)
	}
	if r := s.Handle(step(1), nCP, d[:43], nil); len(r) != 0 || s.Stats().MalformedDatagrams != 1 {
		t.Errorf("43 octets: %x, %+v", r, s.Stats())
	}
	if r := s.Handle(step(1), nCP, d[:wire.HeaderSize], nil); len(r) != 0 || s.Stats().MalformedDatagrams != 2 {
		t.Errorf("a bare version-2 SESSION: %x, %+v", r, s.Stats())
	}
	notSession := bytes.Clone(d)
	notSession[0] = wire.TypeLookup
	if r := s.Handle(step(1), nCP, notSession, nil); len(r) != 0 || s.Stats().MalformedDatagrams != 3 || s.Stats().ChallengesSent != 1 {
		t.Errorf("not a SESSION: %x, %+v", r, s.Stats())
	}
	// The challenge limit holds for them too.
	for i := 0; i <= ChallengeBurstPer24; i++ {
		s.Handle(step(2), nCP, d, nil)
	}
	if st := s.Stats(); st.ChallengesSent != 1+ChallengeBurstPer24 || st.ChallengesSuppressed != 1 {
		t.Errorf("after a burst: %+v", st)
	}
}

// A Rand that gives only zeros gives no table (its epoch would be 0),
// and no answer; one zero and then not, a table with that epoch.
func TestServerEpochNeverZero(t *testing.T) {
	for _, c := range []struct {
		zeros int
		table bool
	}{{1, true}, {3, true}, {4, false}, {1 << 20, false}} {
		rnd := bytes.NewReader(append(make([]byte, 32+8*c.zeros), 0, 0, 0, 0, 0, 0, 0, 9))
		s, err := New(Config{Addr: sAddr, Rand: rnd})
		if err != nil {
			t.Fatal(err)
		}
		var ks [32]byte // the key of a Rand that gives zeros
		d := (&wire.Datagram{Session: wire.Session{Version: 1, NAT64Epoch: vectors.Epoch1, Cookie: handoff.Cookie(ks, nCP.Addr(), nCP.Port(), vectors.Epoch1)}}).Append(nil)
		r := s.Handle(step(1), nCP, d, nil)
		if tb := s.table(nCP.Addr()); (tb != nil) != c.table || len(r) != len(s.tables) || tb != nil && tb.Epoch() != 9 {
			t.Errorf("%d zero epochs: table %v, %d replies", c.zeros, tb != nil, len(r))
		}
	}
}

// Stats count the table's creations and deletions.
func TestServerStatsCreatedDeleted(t *testing.T) {
	s, _ := newTestServer(t, Config{Table: TableConfig{SlotMin: 1028, SlotMax: 1030}})
	for k := 1; k <= 5; k++ {
		s.Handle(step(k), nCP, datagram(nCP, req(client(k))), nil)
	}
	if st := s.Stats(); st.Created != 5 || st.Deleted != 2 {
		t.Errorf("Created %d Deleted %d, want 5 and 2", st.Created, st.Deleted)
	}
}

// §5.6: at most MaxRequestsPerDatagram requests are answered; the rest
// are counted, as are messages a NAT64 does not send and packets with no
// request before them.
func TestServerRequestsPerDatagram(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	var msgs []wire.Message
	msgs = append(msgs, wire.Packet(handofftest.SYN(netip.MustParseAddrPort(client(1)))))
	for k := 0; k <= handoff.MaxRequestsPerDatagram; k++ {
		msgs = append(msgs, &wire.Lookup{Port: uint16(2000 + k)})
	}
	msgs = append(msgs, &wire.Map{Status: wire.StatusNew, Port: 1028, Generation: 1, Client: netip.MustParseAddrPort(client(1))})
	r := parseOne(t, s.Handle(step(1), nCP, datagram(nCP, msgs...), nil))
	if len(r.Messages) != handoff.MaxRequestsPerDatagram {
		t.Errorf("%d answers, want %d", len(r.Messages), handoff.MaxRequestsPerDatagram)
	}
	if u := s.Stats().UnexpectedMessages; u != 3 {
		t.Errorf("UnexpectedMessages %d, want 3 (a packet first, the 17th request, a MAP)", u)
	}
}

// No amplification, exactly: ERRORs fill the octets the broken messages
// took and no more, one per kind, the rest counted.
func TestServerErrorBudget(t *testing.T) {
	errLen := len(wire.AppendMessage(nil, &wire.Error{Code: wire.ErrMalformed, Subtype: wire.TypeMapRequest}))
	kinds := []uint8{wire.TypeMapRequest, wire.TypeLookup, wire.TypeRefresh, wire.TypeInvalidate}
	for _, budget := range []int{2 * len(kinds), 2 * errLen, 3*errLen - 2, 3 * errLen, 4 * errLen} {
		s, _ := newTestServer(t, Config{})
		req := datagram(nCP)
		for _, k := range kinds {
			req = append(req, k, 0)
		}
		for len(req)-wire.HeaderSize < budget { // NOTEs: octets of budget
			req = append(req, wire.TypeNote, 0)
		}
		r := parseOne(t, s.Handle(step(1), nCP, req, nil))
		want := min(len(kinds), budget/errLen)
		if len(r.Messages) != want || s.Stats().ErrorsSuppressed != uint64(len(kinds)-want) {
			t.Errorf("budget %d: %d ERRORs, %d suppressed; want %d and %d", budget, len(r.Messages), s.Stats().ErrorsSuppressed, want, len(kinds)-want)
		}
	}
}

// §5.5: an echo that would make the reply longer than MaxDatagram is
// left out and counted; one that just fits is carried. Answers that do
// not fit one datagram go on in the next, each at most MaxDatagram.
func TestServerEchoAndSplit(t *testing.T) {
	c := netip.MustParseAddrPort(client(1))
	mapLen := len(wire.AppendMessage(nil, &wire.Map{Client: c}))
	for _, over := range []int{0, 1} {
		s, _ := newTestServer(t, Config{})
		pkt := packetOf(c, MaxDatagram-wire.HeaderSize-mapLen+over)
		r := parseOne(t, s.Handle(step(1), nCP, datagram(nCP, req(client(1)), wire.Packet(pkt)), nil))
		echoed := len(r.Messages) == 2
		if echoed != (over == 0) || s.Stats().EchoDropped != uint64(over) {
			t.Errorf("echo of %d octets: echoed %v, EchoDropped %d", len(pkt), echoed, s.Stats().EchoDropped)
		}
	}
	// Two answers with their echoes that fill a datagram to the octet
	// share it; one octet more and the second goes in a datagram of its
	// own.
	for _, over := range []int{0, 1} {
		s, _ := newTestServer(t, Config{})
		room := MaxDatagram - wire.HeaderSize - 2*mapLen
		p1 := packetOf(c, room/2)
		p2 := packetOf(netip.MustParseAddrPort(client(2)), room-room/2+over)
		r := s.Handle(step(1), nCP, datagram(nCP, req(client(1)), wire.Packet(p1), req(client(2)), wire.Packet(p2)), nil)
		if len(r) != 1+over || len(r[0]) > MaxDatagram || over == 0 && len(r[0]) != MaxDatagram {
			t.Errorf("answers of %d octets: %d datagrams", 2*mapLen+room+over, len(r))
		}
	}
}

// packetOf is the IPv6 SYN of client grown to n octets.
func packetOf(client netip.AddrPort, n int) []byte {
	pkt := make([]byte, n)
	copy(pkt, handofftest.SYN(client))
	binary.BigEndian.PutUint16(pkt[4:], uint16(n-40)) // IPv6 Payload Length
	return pkt
}

// The per-/24 challenge buckets are bounded under a flood of spoofed
// sources: the map is cleared when it grows past 65,536 /24s, not before
// (which would hand a spent /24 a fresh bucket whenever a new one shows).
func TestServerChallengeMapBound(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	challenged := func(at time.Time, a netip.Addr) bool {
		d := datagram(netip.AddrPortFrom(a, 1024))
		binary.BigEndian.PutUint64(d[22:], 0) // no cookie
		return len(s.Handle(at, netip.AddrPortFrom(a, 1024), d, nil)) == 1
	}
	at := step(1)
	for i := 0; i < 1<<16-1; i++ {
		at = at.Add(time.Millisecond) // within the global rate
		if !challenged(at, netip.AddrFrom4([4]byte{10 + byte(i>>16), byte(i >> 8), byte(i), 1})) {
			t.Fatalf("source %d not challenged", i)
		}
	}
	spent := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < ChallengeBurstPer24; i++ {
		challenged(at, spent)
	}
	if challenged(at, spent) {
		t.Fatal("the /24's burst did not run out")
	}
	if len(s.per24) != 1<<16 {
		t.Fatalf("%d /24s tracked", len(s.per24))
	}
	challenged(at, netip.MustParseAddr("198.51.100.1")) // the 65,537th
	if challenged(at, spent) {
		t.Error("a spent /24 was challenged again at 65,537 /24s")
	}
	challenged(at, netip.MustParseAddr("203.0.113.1")) // past the bound: cleared
	if !challenged(at, spent) || len(s.per24) != 2 {
		t.Errorf("after the bound: %d /24s tracked, the spent one still spent", len(s.per24))
	}
}

// The server's tunables are the §11 table's values.
func TestTunablesAreSpec(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"TableSlots", TableSlots, 64508}, {"MaxDatagram", MaxDatagram, 1472},
		{"CookieKeyLifetime", CookieKeyLifetime, 24 * 3600 * time.Second},
		{"ChallengeRatePer24", ChallengeRatePer24, 20}, {"ChallengeBurstPer24", ChallengeBurstPer24, 50},
		{"ChallengeRateGlobal", ChallengeRateGlobal, 2000}, {"MaxTables", MaxTables, 64},
		{"QuotaPrefixLen", QuotaPrefixLen, 64}, {"PrefixQuota", PrefixQuota, 4096},
		{"CreateRate", CreateRate, 500}, {"CreateBurst", CreateBurst, 5000},
		{"SnapshotInterval", SnapshotInterval, 300 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, §11 says %v", c.name, c.got, c.want)
		}
	}
}

// §6: the cookie key changes every CookieKeyLifetime, and a cookie under
// the previous key is still accepted; under the one before, not.
func TestServerCookieKeyRotation(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	t0 := step(1)
	d := datagram(nCP) // a cookie under the first key
	accepted := func(at time.Time) bool {
		r := s.Handle(at, nCP, d, nil)
		return len(r) == 1 && r[0][3]&wire.FlagChallenge == 0
	}
	for _, c := range []struct {
		after time.Duration
		ok    bool
	}{{0, true}, {CookieKeyLifetime - time.Nanosecond, true}, {CookieKeyLifetime, true}, {2*CookieKeyLifetime - time.Nanosecond, true}, {2 * CookieKeyLifetime, false}} {
		if got := accepted(t0.Add(c.after)); got != c.ok {
			t.Errorf("a first-key cookie after %v: accepted %v, want %v", c.after, got, c.ok)
		}
	}
}

// TABLE_LIMIT is no longer than what asked for it: a request of its
// length or longer gets it, a shorter one nothing (counted).
func TestServerTableLimitNoAmplification(t *testing.T) {
	s, _ := newTestServer(t, Config{MaxTables: 1})
	s.Handle(step(1), nCP, datagram(nCP), nil)
	n2 := netip.MustParseAddrPort("192.0.2.3:1024")
	for _, c := range []struct {
		note     string
		answered bool
	}{{"0123456789abcdef", true}, {"0123456789abcde", true}, {"0123456789abcd", false}, {"", false}} {
		d := datagram(n2, &wire.Note{Text: c.note})
		before := s.Stats()
		r := s.Handle(step(1), n2, d, nil)
		if (len(r) == 1) != c.answered || len(r) == 1 && len(r[0]) > len(d) ||
			s.Stats().ErrorsSuppressed-before.ErrorsSuppressed != map[bool]uint64{true: 0, false: 1}[c.answered] ||
			s.Stats().TablesRefused-before.TablesRefused != 1 {
			t.Errorf("%d-octet request: %d replies, %+v", len(d), len(r), s.Stats())
		}
	}
}
