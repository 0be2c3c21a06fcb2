package nat64

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
)

// A key is refused when short or one octet repeated; any other key of
// MinSyncKey octets is accepted.
func TestCheckSyncKey(t *testing.T) {
	for _, c := range []struct {
		key  []byte
		want string // "" accepted
	}{
		{bytes.Repeat([]byte{7}, MinSyncKey-1), "31 octets"},
		{make([]byte, MinSyncKey), "every octet is 0x00"},
		{bytes.Repeat([]byte{0xab}, 64), "every octet is 0xab"},
		{append(bytes.Repeat([]byte{7}, MinSyncKey-1), 8), ""},
		{append([]byte{8}, bytes.Repeat([]byte{7}, MinSyncKey-1)...), ""},
		{syncKey, ""},
	} {
		err := CheckSyncKey(c.key)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("key %x: %v, want %q", c.key, err, c.want)
		}
	}
}

// The defaults of SyncConfig.
func TestSyncDefaults(t *testing.T) {
	s, err := NewSync(newTest(t, testConfig(newClock())), SyncConfig{Key: syncKey}, func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.FlushInterval != 20*time.Millisecond || c.SweepInterval != 5*time.Second || c.RefreshMargin != 30*time.Second ||
		c.ReorderWait != 200*time.Millisecond || c.MaxDatagramsPerTick != 256 || c.KeepaliveInterval != time.Second {
		t.Errorf("defaults %+v", c)
	}
	if _, err := NewSync(s.x, SyncConfig{Key: syncKey, SweepInterval: time.Second, RefreshMargin: time.Second}, func([]byte) {}); err == nil {
		t.Error("a refresh margin equal to the sweep interval accepted")
	}
}

// Ticked more often than KeepaliveInterval, an idle gateway still sends a
// keepalive once an interval: only a datagram sent restarts the wait.
func TestSyncKeepaliveBetweenTicks(t *testing.T) {
	clock, a, _ := newPair(t)
	sent := 0
	for i := 0; i < 8; i++ {
		clock.advance(a.s.KeepaliveInterval() / 2)
		a.tick()
		sent += len(a.take())
	}
	if sent != 4 {
		t.Errorf("%d keepalives in four intervals, want 4", sent)
	}
	if st := a.s.Stats(); st.DatagramsSent != 2+4 || st.BytesSent != 6*uint64(syncHeaderLen+syncMACLen) {
		t.Errorf("stats %+v, want 6 datagrams of %d octets", st, syncHeaderLen+syncMACLen)
	}
}

// A sweep runs when SweepInterval has passed, not before: it sends the
// sessions the peers never heard of.
func TestSyncSweepInterval(t *testing.T) {
	clock, a, _ := newPair(t)
	a.x.SetHooks(nil) // a session made while not syncing
	udpOpen(t, a, 46000)
	a.x.SetHooks(&Hooks{Session: a.s.Hook})
	swept := a.s.sweptAt
	clock.advance(swept.Add(a.s.cfg.SweepInterval - time.Second).Sub(clock.now()))
	a.tick()
	if n := a.s.Stats().SessionsSent; n != 0 {
		t.Fatalf("%d sessions sent before the sweep was due", n)
	}
	clock.advance(swept.Add(a.s.cfg.SweepInterval).Sub(clock.now()))
	a.tick()
	if n := a.s.Stats().SessionsSent; n != 1 {
		t.Errorf("%d sessions sent at the sweep, want 1", n)
	}
}

// A session travels with the time it has left, so the peer's copy expires
// when the original does, however long the sender has been running; one
// that expired before it went out is not sent.
func TestSyncRemainingLifetime(t *testing.T) {
	clock, a, b := newPair(t)
	for i := 0; i < 100; i++ { // the tables' clock well past zero
		clock.advance(time.Second)
		a.tick()
		b.tick()
	}
	deliver(b, a.take())
	b.take()
	udpOpen(t, a, 47000)
	// Sent a while after it was made: with less than a whole lifetime
	// left, which is what the copy must get.
	clock.advance(100 * time.Second)
	a.x.Tick(func([]byte) {})
	b.x.Tick(func([]byte) {})
	a.s.Tick()
	deliver(b, a.take())
	orig := sessionOf(t, a.x, UDP, netip.AddrPortFrom(h1, 47000))
	cp := sessionOf(t, b.x, UDP, netip.AddrPortFrom(h1, 47000))
	if d := cp.Expires.Sub(orig.Expires); d < -time.Second || d > time.Second {
		t.Errorf("the copy expires at %v, the original at %v", cp.Expires, orig.Expires)
	}
	// B holds what A told it: its sweep sends nothing back.
	clock.advance(b.s.cfg.SweepInterval)
	b.tick()
	for _, d := range b.take() {
		if len(d) != syncHeaderLen+syncMACLen {
			t.Errorf("B echoed a datagram of %d octets", len(d))
		}
	}
	// Queued with its expiry now: not sent.
	now := a.x.now32()
	a.s.mu.Lock()
	a.s.pending[sessionKey(&orig)] = syncRecord{proto: uint8(UDP), x6: orig.IPv6Src, t4: orig.IPv4Src, z4: orig.IPv4Dst, remain: now}
	a.s.mu.Unlock()
	before := a.s.Stats().SessionsSent
	a.s.flush()
	if n := a.s.Stats().SessionsSent - before; n != 0 {
		t.Errorf("%d expired sessions sent", n)
	}
}

// Loss: a hole pushed out of the 64-datagram window is a loss, counted
// once, and asks for the table again; one still inside is not yet.
func TestSyncWindowLoss(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		seen []uint64 // before next
		next uint64
		lost bool
	}{
		{[]uint64{1, 3}, 65, false}, // 2 is still inside the window
		{[]uint64{1, 3}, 66, true},  // 2 pushed out
		{[]uint64{1, 3}, 3 + 64, true},
		{[]uint64{1, 3}, 3 + 200, true},
		{[]uint64{1, 2, 3}, 3 + 64, false}, // the whole window out, no hole in it; 4…66 may still come
		{[]uint64{1, 2, 3}, 3 + 65, true},  // 4 can no longer come
	} {
		var p peerSeq
		for _, s := range c.seen {
			p.accept(1, s, start)
		}
		if _, lost := p.accept(1, c.next, start); lost != c.lost {
			t.Errorf("%v, then %d: lost %v", c.seen, c.next, lost)
		}
	}
	// A number 64 behind the highest is outside the window: a replay.
	var w peerSeq
	w.accept(1, 1, start)
	w.accept(1, 65, start)
	if ok, _ := w.accept(1, 1, start); ok {
		t.Error("a datagram 64 behind the highest accepted")
	}
	// A hole is overdue after ReorderWait, not at it.
	w = peerSeq{}
	w.accept(1, 1, start)
	w.accept(1, 3, start)
	if w.overdue(start.Add(time.Second), time.Second) {
		t.Error("overdue at exactly the wait")
	}
	if !w.overdue(start.Add(time.Second+time.Nanosecond), time.Second) || w.overdue(start.Add(time.Hour), time.Second) {
		t.Error("not overdue once past the wait, or twice")
	}
	// An old epoch is a replay; a new one starts afresh.
	var p peerSeq
	p.accept(5, 10, start)
	if ok, _ := p.accept(4, 11, start); ok {
		t.Error("an older epoch accepted")
	}
	if ok, _ := p.accept(6, 1, start); !ok || p.epoch != 6 || p.high != 1 {
		t.Errorf("a newer epoch: %v %+v", ok, p)
	}
	if ok, _ := p.accept(6, 1, start); ok {
		t.Error("a repeat accepted")
	}

	// End to end: B sees the jump, counts it, asks for the table.
	_, a, b := newPair(t)
	var ds [][]byte
	for i := 0; i < 70; i++ {
		a.s.mu.Lock()
		ds = append(ds, a.s.datagram(syncSessions, nil))
		a.s.mu.Unlock()
	}
	deliver(b, ds[:1])
	deliver(b, ds[69:])
	if st := b.s.Stats(); st.LossDetected != 1 || st.DatagramsReceived != 2+2 {
		t.Errorf("after a jump of 69: %+v", st)
	}
	b.s.Tick()
	if st := b.s.Stats(); st.ResyncRequests != 2 {
		t.Errorf("no HELLO after the loss: %+v", st)
	}
}

// A peer's record this table refuses is counted by why: another IPv6
// endpoint holding the IPv4 one here, an address not ours.
func TestSyncApplyRefusals(t *testing.T) {
	_, a, b := newPair(t)
	port := udpOpen(t, a, 48000)
	b.x.SetHooks(nil)
	// B binds the same IPv4 endpoint to another host first.
	if err := b.x.Apply(SessionEvent{Kind: SessionCreated, Session: Session{Proto: UDP, IPv6Src: netip.AddrPortFrom(addr("2001:db8::99"), 1),
		IPv4Src: netip.AddrPortFrom(pool, port), IPv4Dst: netip.AddrPortFrom(h2, 54)}}); err != nil {
		t.Fatal(err)
	}
	a.tick()
	deliver(b, a.take())
	if st := b.s.Stats(); st.ApplyErrors != 1 || st.SessionsReceived != 0 {
		t.Errorf("a conflicting binding: %+v", st)
	}
	a.s.mu.Lock()
	d := a.s.datagram(syncSessions, []syncRecord{{proto: header.ProtoUDP, x6: netip.AddrPortFrom(h1, 1),
		t4: netip.AddrPortFrom(h2, 1), z4: netip.AddrPortFrom(h2, 53), remain: 60}})
	a.s.mu.Unlock()
	deliver(b, [][]byte{d})
	if st := b.s.Stats(); st.ApplyNotOurs != 1 || st.ApplyErrors != 1 {
		t.Errorf("an address not ours: %+v", st)
	}
}

// A HELLO is answered with the whole table at most once a second.
func TestSyncResyncCount(t *testing.T) {
	clock, a, b := newPair(t)
	udpOpen(t, a, 49000)
	a.tick()
	a.take()
	before := a.s.Stats().ResyncsSent
	for i := 0; i < 3; i++ {
		b.s.mu.Lock()
		d := b.s.datagram(syncHello, nil)
		b.s.mu.Unlock()
		deliver(a, [][]byte{d})
		clock.advance(time.Second)
		a.tick()
	}
	if n := a.s.Stats().ResyncsSent - before; n != 3 {
		t.Errorf("%d resyncs for 3 HELLOs a second apart", n)
	}
}

// A session kept alive here is sent again when its copy on the peers has
// less than RefreshMargin left, not when it has exactly that.
func TestSyncRefreshMargin(t *testing.T) {
	clock, a, b := newPair(t)
	udpOpen(t, a, 47500)
	a.tick()
	deliver(b, a.take())
	s := sessionOf(t, a.x, UDP, netip.AddrPortFrom(h1, 47500))
	known := a.s.known[sessionKey(&s)]
	margin := uint32(a.s.cfg.RefreshMargin / time.Second)
	clock.advance(time.Duration(known.exp-margin-a.x.now32()) * time.Second)
	a.x.Tick(func([]byte) {})
	xl(a.x, udp6(h1, 47500, h2, 53)) // traffic here: a later expiry than the peers know
	before := a.s.Stats().Refreshes
	a.s.sweep()
	if n := a.s.Stats().Refreshes - before; n != 0 {
		t.Errorf("refreshed with exactly the margin left (%d)", n)
	}
	clock.advance(time.Second)
	a.x.Tick(func([]byte) {})
	a.s.sweep()
	if n := a.s.Stats().Refreshes - before; n != 1 {
		t.Errorf("%d refreshes with less than the margin left, want 1", n)
	}
}

// The sync socket's network: unicast peers or a multicast group with an
// interface, each with what it needs.
func TestSyncNetworkValidate(t *testing.T) {
	l := netip.MustParseAddrPort("192.0.2.1:7000")
	p := netip.MustParseAddrPort("192.0.2.2:7000")
	g := netip.MustParseAddrPort("[ff02::1:2]:7000")
	for _, c := range []struct {
		n    SyncNetwork
		want string // "" valid
	}{
		{SyncNetwork{Listen: l, Peers: []netip.AddrPort{p}}, ""},
		{SyncNetwork{Group: g, Interface: "eth1"}, ""},
		{SyncNetwork{Listen: l, Peers: []netip.AddrPort{p}, Group: g, Interface: "eth1"}, "choose unicast peers or a multicast group"},
		{SyncNetwork{Listen: l}, "nobody to sync with"},
		{SyncNetwork{Group: netip.MustParseAddrPort("192.0.2.9:7000"), Interface: "eth1"}, "not a multicast address"},
		{SyncNetwork{Group: g}, "needs an interface"},
		{SyncNetwork{Peers: []netip.AddrPort{p}}, "need an address and port"},
		{SyncNetwork{Listen: netip.AddrPortFrom(l.Addr(), 0), Peers: []netip.AddrPort{p}}, "need an address and port"},
		{SyncNetwork{Listen: l, Peers: []netip.AddrPort{netip.AddrPortFrom(p.Addr(), 0)}}, "peers[0]"},
	} {
		err := c.n.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.n, err, c.want)
		}
	}
	if _, err := ListenSync(newTest(t, testConfig(newClock())), SyncConfig{Key: syncKey}, SyncNetwork{Group: g, Interface: "no-such-if0"}); err == nil || !strings.Contains(err.Error(), "interface no-such-if0") {
		t.Errorf("a missing interface: %v", err)
	}
}

// Run ends without an error when its context does, and with one when
// reading fails otherwise.
func TestSyncRunEnds(t *testing.T) {
	c, err := ListenSync(newTest(t, testConfig(newClock())), SyncConfig{Key: syncKey},
		SyncNetwork{Listen: freeLoopbackPort(t), Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	// Any other failure to read is an error.
	c, err = ListenSync(newTest(t, testConfig(newClock())), SyncConfig{Key: syncKey},
		SyncNetwork{Listen: freeLoopbackPort(t), Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}})
	if err != nil {
		t.Fatal(err)
	}
	c.conn.SetReadDeadline(time.Now())
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "sync: ") {
		t.Errorf("Run after a read failed: %v", err)
	}
}

// Datagrams: at most syncPerDatagram records (35 in 1,400 octets); a
// sealed datagram too short for a header is not authentic; a record with
// a TCP state past the table is malformed.
func TestSyncWire(t *testing.T) {
	if syncPerDatagram != 35 || syncHeaderLen+syncPerDatagram*syncRecordLen+syncMACLen > SyncMaxDatagram {
		t.Errorf("%d records a datagram", syncPerDatagram)
	}
	_, a, b := newPair(t)
	for i := 0; i < syncPerDatagram+1; i++ {
		udpOpen(t, a, uint16(30000+i))
	}
	a.tick()
	ds := a.take()
	if len(ds) != 2 || len(ds[0]) > SyncMaxDatagram || len(ds[1]) > SyncMaxDatagram {
		t.Errorf("%d sessions in %d datagrams", syncPerDatagram+1, len(ds))
	}
	before := b.s.Stats()
	a.s.mu.Lock()
	short := a.s.mac.seal(make([]byte, syncHeaderLen-1))
	bad := a.s.datagram(syncSessions, []syncRecord{{proto: header.ProtoTCP, state: tcpState(len(tcpStateNames)), x6: netip.AddrPortFrom(h1, 1),
		t4: netip.AddrPortFrom(pool, 1), z4: netip.AddrPortFrom(h2, 1), remain: 60}})
	a.s.mu.Unlock()
	deliver(b, [][]byte{short, bad})
	st := b.s.Stats()
	if st.Unauthenticated-before.Unauthenticated != 1 || st.Malformed-before.Malformed != 1 {
		t.Errorf("a short datagram and a bad state: %+v", st)
	}
}
