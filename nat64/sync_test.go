package nat64

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

var syncKey = []byte("0123456789abcdef0123456789abcdef")

// syncNode is a gateway with its Sync; its outgoing datagrams queue in
// out until the test delivers (or loses, or reorders) them.
type syncNode struct {
	t     *testing.T
	clock *fakeClock
	x     *Translator
	s     *Sync
	out   [][]byte
}

func newSyncNode(t *testing.T, clock *fakeClock, id uint32, key []byte) *syncNode {
	t.Helper()
	n := &syncNode{t: t, clock: clock, x: newTest(t, testConfig(clock))}
	var err error
	n.s, err = NewSync(n.x, SyncConfig{Key: key, NodeID: id, Now: clock.now}, func(b []byte) { n.out = append(n.out, b) })
	if err != nil {
		t.Fatal(err)
	}
	n.x.SetHooks(&Hooks{Session: n.s.Hook})
	return n
}

// tick advances the tables' clock and runs the sync timers.
func (n *syncNode) tick() {
	n.x.Tick(func([]byte) {})
	n.s.Tick()
}

// take returns and clears the queued datagrams.
func (n *syncNode) take() [][]byte {
	d := n.out
	n.out = nil
	return d
}

func deliver(to *syncNode, ds [][]byte) {
	for _, d := range ds {
		to.s.Receive(d)
	}
}

// has reports whether n translates an inbound packet of the flow
// client:sport -> h2:dport, i.e. holds its session.
func (n *syncNode) has(sport uint16, t4port uint16) bool {
	_, r := xl(n.x, tcp4(h2, 80, pool, t4port, header.TCPFlagACK))
	return r.Verdict == translate.Forward && sport != 0
}

func newPair(t *testing.T) (*fakeClock, *syncNode, *syncNode) {
	clock := newClock()
	a, b := newSyncNode(t, clock, 1, syncKey), newSyncNode(t, clock, 2, syncKey)
	a.tick()
	b.tick()
	deliver(b, a.take()) // HELLOs
	deliver(a, b.take())
	clock.advance(time.Second)
	a.tick()
	b.tick()
	deliver(b, a.take())
	deliver(a, b.take())
	return clock, a, b
}

// open makes a TCP session on n (an outbound SYN) and returns its pool4
// port.
func open(t *testing.T, n *syncNode, sport uint16) uint16 {
	t.Helper()
	out, r := xl(n.x, tcp6(h1, sport, h2, 80, header.TCPFlagSYN))
	if r.Verdict != translate.Forward {
		t.Fatalf("SYN: %v", r.Reason)
	}
	return header.UDP(out[20:]).SrcPort()
}

func TestSyncReplicates(t *testing.T) {
	_, a, b := newPair(t)
	port := open(t, a, 40000)
	// SYN-ACK from the server: a state change, coalesced with the
	// creation into one record.
	xl(a.x, tcp4(h2, 80, pool, port, header.TCPFlagSYN|header.TCPFlagACK))
	a.tick()
	ds := a.take()
	if len(ds) != 1 || a.s.Stats().Coalesced != 1 || a.s.Stats().SessionsSent != 1 {
		t.Fatalf("%d datagrams, stats %+v", len(ds), a.s.Stats())
	}
	if len(ds[0]) != syncHeaderLen+syncRecordLen+syncMACLen {
		t.Errorf("datagram of %d octets", len(ds[0]))
	}
	if b.has(40000, port) {
		t.Fatal("B translates before the sync")
	}
	deliver(b, ds)
	if !b.has(40000, port) {
		t.Fatal("B does not hold the session")
	}
	var st string
	b.x.RangeSessions(func(s Session) bool { st = s.State; return true })
	if st != "V4_INIT" && st != "ESTABLISHED" && !strings.Contains(st, "INIT") {
		t.Errorf("B's copy is in state %q", st)
	}
	// B's copy does not echo back.
	b.tick()
	if d := b.take(); len(d) != 0 {
		t.Errorf("B sent %d datagrams about a session it only holds", len(d))
	}
}

// A lost datagram: the gap does not close within ReorderWait, B asks for
// the table again and gets every session.
func TestSyncLoss(t *testing.T) {
	clock, a, b := newPair(t)
	var ports []uint16
	var ds [][]byte
	for i := 0; i < 3; i++ {
		ports = append(ports, open(t, a, uint16(41000+i)))
		a.tick()
		ds = append(ds, a.take()...)
	}
	deliver(b, [][]byte{ds[0], ds[2]}) // ds[1] is lost
	if b.has(41001, ports[1]) {
		t.Fatal("B holds the lost session")
	}
	b.tick()
	if len(b.take()) != 0 {
		t.Fatal("resync asked before ReorderWait")
	}
	clock.advance(300 * time.Millisecond)
	b.tick()
	deliver(a, b.take()) // the HELLO
	a.tick()             // (A sent a table less than a second ago: it waits)
	clock.advance(time.Second)
	a.tick()
	deliver(b, a.take()) // the table
	for i, p := range ports {
		if !b.has(uint16(41000+i), p) {
			t.Errorf("session %d missing after the resync", i)
		}
	}
	if st := b.s.Stats(); st.LossDetected != 1 || st.ResyncRequests != 2 {
		t.Errorf("B stats %+v", st)
	}
	if st := a.s.Stats(); st.ResyncsSent < 1 {
		t.Errorf("A stats %+v", st)
	}
}

// Reordered datagrams within ReorderWait are no loss.
func TestSyncReorder(t *testing.T) {
	clock, a, b := newPair(t)
	var ds [][]byte
	for i := 0; i < 3; i++ {
		open(t, a, uint16(42000+i))
		a.tick()
		ds = append(ds, a.take()...)
	}
	deliver(b, [][]byte{ds[2], ds[0], ds[1]})
	clock.advance(time.Second)
	b.tick()
	if st := b.s.Stats(); st.LossDetected != 0 || st.SessionsReceived != 3 || st.Replayed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A datagram under another key, or a replayed one, changes nothing and is
// counted.
func TestSyncWrongKeyAndReplay(t *testing.T) {
	clock, a, b := newPair(t)
	c := newSyncNode(t, clock, 3, []byte("another key, also 32 octets long"))
	open(t, c, 43000)
	c.tick()
	before := b.s.Stats().SessionsReceived
	deliver(b, c.take())
	if st := b.s.Stats(); st.Unauthenticated != 2 || st.SessionsReceived != before { // HELLO and sessions
		t.Errorf("wrong key: %+v", st)
	}
	// A tampered datagram of the right key fails too.
	open(t, a, 43001)
	a.tick()
	ds := a.take()
	bad := append([]byte(nil), ds[0]...)
	bad[40] ^= 1
	deliver(b, [][]byte{bad})
	if b.s.Stats().Unauthenticated != 3 {
		t.Error("tampered datagram accepted")
	}
	// So does one whose MAC is wrong in any one of its 16 octets, the
	// last included: the whole tag is compared.
	for i := 1; i <= syncMACLen; i++ {
		bad := append([]byte(nil), ds[0]...)
		bad[len(bad)-i] ^= 0x80
		deliver(b, [][]byte{bad})
		if n := b.s.Stats().Unauthenticated; n != uint64(3+i) {
			t.Errorf("a datagram with MAC octet %d of %d flipped accepted", syncMACLen+1-i, syncMACLen)
			break
		}
	}
	deliver(b, ds)
	deliver(b, ds) // replayed
	if st := b.s.Stats(); st.Replayed != 1 || st.SessionsReceived != before+1 {
		t.Errorf("replay: %+v", st)
	}
	// A's restart: datagrams of its old epoch are replays from then on.
	a2 := newSyncNode(t, clock, 1, syncKey)
	clock.advance(time.Millisecond)
	a2.tick()
	deliver(b, a2.take())
	deliver(b, ds)
	if st := b.s.Stats(); st.Replayed != 2 {
		t.Errorf("old epoch: %+v", st)
	}
}

// A restarted peer says HELLO and gets the whole table.
func TestSyncPeerRestart(t *testing.T) {
	clock, a, b := newPair(t)
	var ports []uint16
	for i := 0; i < 50; i++ { // more than one datagram's worth
		ports = append(ports, open(t, a, uint16(44000+i)))
	}
	a.tick()
	deliver(b, a.take())
	// B restarts empty.
	clock.advance(2 * time.Second)
	b = newSyncNode(t, clock, 2, syncKey)
	b.tick()
	deliver(a, b.take())
	a.tick()
	ds := a.take()
	if len(ds) != 2 {
		t.Errorf("table of 50 sessions in %d datagrams, want 2", len(ds))
	}
	deliver(b, ds)
	for i, p := range ports {
		if !b.has(uint16(44000+i), p) {
			t.Fatalf("session %d missing after the restart", i)
		}
	}
}

// Lifetimes: a session kept alive by traffic on A is refreshed on B just
// before B's copy would expire; an idle one is not, and both expire.
func TestSyncRefresh(t *testing.T) {
	clock, a, b := newPair(t)
	busy := udpOpen(t, a, 45000)
	idle := udpOpen(t, a, 45001)
	a.tick()
	deliver(b, a.take())
	for s := 0; s < 7*60; s += 5 {
		clock.advance(5 * time.Second)
		xl(a.x, udp6(h1, 45000, h2, 53)) // traffic on the busy flow
		a.tick()
		deliver(b, a.take())
		b.tick()
	}
	if !bHasUDP(b, busy) {
		t.Error("B lost the busy session")
	}
	if bHasUDP(b, idle) {
		t.Error("B kept the idle session past its lifetime")
	}
	st := a.s.Stats()
	// 7 minutes of a 5-minute lifetime: a refresh every ~4.5 minutes.
	if st.Refreshes < 1 || st.Refreshes > 3 {
		t.Errorf("refreshes %d for 7 minutes of one busy flow", st.Refreshes)
	}
}

func udpOpen(t *testing.T, n *syncNode, sport uint16) uint16 {
	out, r := xl(n.x, udp6(h1, sport, h2, 53))
	if r.Verdict != translate.Forward {
		t.Fatalf("UDP: %v", r.Reason)
	}
	return header.UDP(out[20:]).SrcPort()
}

func bHasUDP(b *syncNode, port uint16) bool {
	found := false
	b.x.RangeSessions(func(s Session) bool {
		found = found || s.IPv4Src.Port() == port && s.Proto == UDP
		return true
	})
	return found
}

func TestSyncConfigErrors(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	for _, c := range []struct {
		cfg  SyncConfig
		want string
	}{
		{SyncConfig{Key: []byte("short")}, "key: 5 octets"},
		{SyncConfig{Key: syncKey, SweepInterval: time.Minute}, "refresh margin"},
		{SyncConfig{Key: syncKey, ReorderWait: -1}, "positive"},
	} {
		if _, err := NewSync(x, c.cfg, func([]byte) {}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// Sessions synchronised per second, end to end on one core: the hook
// queueing an update, batching, sealing, verifying and applying it on the
// peer; and bytes on the wire per session.
func BenchmarkSync(b *testing.B) {
	clock := newClock()
	tb := &testing.T{}
	a := newSyncNode(tb, clock, 1, syncKey)
	c := newSyncNode(tb, clock, 2, syncKey)
	const n = 4096
	buf := make([]byte, translate.Headroom+256)
	for i := 0; i < n; i++ {
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 8: byte(i >> 8), 9: byte(i), 15: 1})
		p := udp6(src, uint16(1024+i), h2, 53)
		copy(buf[translate.Headroom:], p)
		a.x.To4(buf, translate.Headroom, len(p))
	}
	var evs []SessionEvent
	a.x.RangeSessions(func(s Session) bool { evs = append(evs, SessionEvent{Kind: SessionChanged, Session: s}); return true })
	a.tick()
	a.take()
	bytes := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.s.Hook(evs[i%n])
		if i%syncPerDatagram == syncPerDatagram-1 || i == b.N-1 {
			a.s.flush()
			for _, d := range a.take() {
				bytes += len(d)
				c.s.Receive(d)
			}
		}
	}
	b.StopTimer()
	if got := c.s.Stats().SessionsReceived; got != uint64(b.N) {
		b.Fatalf("%d sessions applied of %d", got, b.N)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/session")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// freeLoopbackPort returns a UDP port on 127.0.0.1 that was free a moment
// ago, or skips the test when there is no loopback.
func freeLoopbackPort(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skip("no loopback UDP:", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Two translators synchronised over UDP on the loopback interface.
func TestSyncConnLoopback(t *testing.T) {
	pa, pb := freeLoopbackPort(t), freeLoopbackPort(t)
	xa, xb := newTest(t, testConfig(newClock())), newTest(t, testConfig(newClock()))
	ca, err := ListenSync(xa, SyncConfig{Key: syncKey}, SyncNetwork{Listen: pa, Peers: []netip.AddrPort{pb}})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ListenSync(xb, SyncConfig{Key: syncKey}, SyncNetwork{Listen: pb, Peers: []netip.AddrPort{pa}})
	if err != nil {
		t.Fatal(err)
	}
	xa.SetHooks(&Hooks{Session: ca.Hook})
	xb.SetHooks(&Hooks{Session: cb.Hook})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ca.Run(ctx)
	go cb.Run(ctx)
	out, _ := xl(xa, udp6(h1, 46000, h2, 53))
	port := header.UDP(out[20:]).SrcPort()
	for i := 0; i < 100 && xb.Sessions() == 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if _, r := xl(xb, udp4(h2, 53, pool, port)); r.Verdict != translate.Forward {
		t.Fatalf("B does not translate A's flow: %v (stats %+v)", r.Reason, cb.Stats())
	}
	for _, n := range []SyncNetwork{
		{Listen: pa},
		{Listen: pa, Peers: []netip.AddrPort{pb}, Group: netip.MustParseAddrPort("[ff02::1:2]:9")},
		{Group: netip.MustParseAddrPort("192.0.2.1:9"), Interface: "lo"},
		{Group: netip.MustParseAddrPort("239.1.1.1:9")},
	} {
		if _, err := ListenSync(xa, SyncConfig{Key: syncKey}, n); err == nil {
			t.Errorf("%+v accepted", n)
		}
	}
}

// Active/active: each gateway allocates from its own pool4 and stands by
// for the other's; a flow of A, synced to B, is translated by B once the
// traffic moves there, and B never hands out A's address.
func TestSyncActiveActive(t *testing.T) {
	clock := newClock()
	other := netip.MustParseAddr("203.0.113.2")
	mk := func(id uint32, own, standby netip.Addr) *syncNode {
		cfg := testConfig(clock)
		for i := range cfg.Pool4 {
			cfg.Pool4[i].Prefix = netip.PrefixFrom(own, 32)
		}
		cfg.StandbyPool4 = []netip.Prefix{netip.PrefixFrom(standby, 32)}
		n := &syncNode{t: t, clock: clock, x: newTest(t, cfg)}
		n.s, _ = NewSync(n.x, SyncConfig{Key: syncKey, NodeID: id, Now: clock.now}, func(b []byte) { n.out = append(n.out, b) })
		n.x.SetHooks(&Hooks{Session: n.s.Hook})
		return n
	}
	a, b := mk(1, pool, other), mk(2, other, pool)
	out, _ := xl(a.x, udp6(h1, 47000, h2, 53))
	port := header.UDP(out[20:]).SrcPort()
	a.tick()
	deliver(b, a.take())
	o, r := xl(b.x, udp4(h2, 53, pool, port))
	if r.Verdict != translate.Forward || header.IPv6(o).Dst() != h1 {
		t.Fatalf("B on A's standby address: %v", r.Reason)
	}
	for i := 0; i < 50; i++ {
		o, _ := xl(b.x, udp6(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 2)}), 1000, h2, 53))
		if header.IPv4(o).Src() != other {
			t.Fatalf("B allocated %v", header.IPv4(o).Src())
		}
	}
	cfg := testConfig(clock)
	cfg.StandbyPool4 = []netip.Prefix{netip.PrefixFrom(pool, 32)}
	if _, err := New(cfg, fixedRandom()); err == nil || !strings.Contains(err.Error(), "standby-pool4[0]") {
		t.Errorf("standby inside pool4: %v", err)
	}
}

// FuzzSyncReceive hands a gateway authenticated datagrams with arbitrary
// contents (what a peer holding the key could send): never a panic, and
// the tables stay usable.
func FuzzSyncReceive(f *testing.F) {
	clock := newClock()
	seedNode := newSyncNode(&testing.T{}, clock, 1, syncKey)
	open(&testing.T{}, seedNode, 40000)
	seedNode.tick()
	for _, d := range seedNode.take() {
		f.Add(d[:len(d)-syncMACLen])
	}
	f.Add([]byte("XS\x01\x02\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := newSyncNode(t, newClock(), 2, syncKey)
		mac := newSyncMAC(syncKey)
		n.s.Receive(mac.seal(append([]byte(nil), body...)))
		n.s.Receive(body) // unauthenticated
		n.tick()
		open(t, n, 40001)
		n.x.RangeSessions(func(s Session) bool {
			if !s.IPv6Src.Addr().Is6() || !s.IPv4Src.Addr().Is4() {
				t.Fatalf("bad session %+v", s)
			}
			return true
		})
	})
}

// A resync larger than one tick's budget goes out over several ticks and
// arrives whole.
func TestSyncPacedResync(t *testing.T) {
	clock := newClock()
	a := &syncNode{t: t, clock: clock, x: newTest(t, testConfig(clock))}
	a.s, _ = NewSync(a.x, SyncConfig{Key: syncKey, NodeID: 1, Now: clock.now, MaxDatagramsPerTick: 2}, func(b []byte) { a.out = append(a.out, b) })
	a.x.SetHooks(&Hooks{Session: a.s.Hook})
	b := newSyncNode(t, clock, 2, syncKey)
	for i := 0; i < 200; i++ { // six datagrams' worth
		open(t, a, uint16(48000+i))
	}
	ticks := 0
	for b.s.Stats().SessionsReceived < 200 && ticks < 20 {
		clock.advance(20 * time.Millisecond)
		a.tick()
		ds := a.take()
		if len(ds) > 2 {
			t.Fatalf("%d datagrams in one tick, budget 2", len(ds))
		}
		deliver(b, ds)
		ticks++
	}
	if got := b.s.Stats().SessionsReceived; got != 200 || b.s.Stats().LossDetected != 0 {
		t.Errorf("%d sessions after %d ticks, stats %+v", got, ticks, b.s.Stats())
	}
}

// An idle gateway says it is alive: with nothing to send for
// KeepaliveInterval it sends an empty datagram, which its peer counts as
// heard; a peer that falls silent shows by the age of its LastHeard.
func TestSyncKeepalive(t *testing.T) {
	clock, a, b := newPair(t)
	heard := func(n *syncNode, node uint32) time.Time {
		for _, p := range n.s.Peers() {
			if p.Node == node {
				return p.LastHeard
			}
		}
		return time.Time{}
	}
	for i := 0; i < 3; i++ {
		clock.advance(a.s.KeepaliveInterval())
		a.tick()
		b.tick()
		da, db := a.take(), b.take()
		if len(da) != 1 || len(db) != 1 {
			t.Fatalf("idle second %d: %d and %d datagrams, want one keepalive each", i, len(da), len(db))
		}
		before := b.s.Stats().SessionsReceived
		deliver(b, da)
		deliver(a, db)
		if !heard(b, 1).Equal(clock.now()) || !heard(a, 2).Equal(clock.now()) {
			t.Fatalf("idle second %d: last heard %v and %v, now %v", i, heard(b, 1), heard(a, 2), clock.now())
		}
		if b.s.Stats().SessionsReceived != before || b.s.Stats().Malformed != 0 {
			t.Fatalf("a keepalive applied records or was malformed: %+v", b.s.Stats())
		}
	}
	// Within the interval, nothing more.
	clock.advance(a.s.KeepaliveInterval() / 2)
	a.tick()
	if d := a.take(); len(d) != 0 {
		t.Errorf("%d datagrams within the keepalive interval", len(d))
	}
	// A sends, B stops: B's age on A grows.
	last := heard(a, 2)
	clock.advance(3 * time.Second)
	a.tick()
	deliver(b, a.take())
	if age := clock.now().Sub(heard(a, 2)); !heard(a, 2).Equal(last) || age < 3*time.Second {
		t.Errorf("silent peer heard %v ago", age)
	}
}
