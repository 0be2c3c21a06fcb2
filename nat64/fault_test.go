package nat64

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
)

// Update is all or nothing: a configuration whose static bindings cannot
// all go in (one conflicts with a binding traffic made, or two with each
// other) is refused before anything changes, engine options included.
func TestFaultUpdateAllOrNothing(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	x := newTest(t, cfg)
	// Traffic binds 2001:db8::1#1500 to some pool4 port.
	out, _ := xl(x, tcp6(h1, 1500, h2, 80, header.TCPFlagSYN))
	t4, _ := ports4(out)
	bound := netip.AddrPortFrom(pool, t4)

	next := testConfig(clock)
	next.MaxSessions = 77
	next.IPv4MTU = 1400
	next.StaticBIB = []StaticBIB{
		{Protocol: TCP, IPv6: Endpoint{netip.MustParseAddrPort("[2001:db8::2]:22")}, IPv4: Endpoint{netip.AddrPortFrom(pool, 2222)}},
		{Protocol: TCP, IPv6: Endpoint{netip.MustParseAddrPort("[2001:db8::3]:22")}, IPv4: Endpoint{bound}}, // taken
	}
	if err := x.Update(next); err == nil || !strings.Contains(err.Error(), "already bound") {
		t.Fatalf("Update with a conflicting static binding: %v", err)
	}
	if x.st.Load().MaxSessions != 0 || x.engine.Config().IPv4MTU != 1500 || x.Bindings() != 1 {
		t.Errorf("the refused update changed something: max-sessions %d, ipv4-mtu %d, %d bindings",
			x.st.Load().MaxSessions, x.engine.Config().IPv4MTU, x.Bindings())
	}
	// Two entries of the list for one IPv4 endpoint: refused, nothing added.
	next.StaticBIB[1].IPv4 = Endpoint{netip.AddrPortFrom(pool, 2222)}
	if err := x.Update(next); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("Update with two entries for one endpoint: %v", err)
	}
	if x.Bindings() != 1 {
		t.Errorf("%d bindings after the refused update, want the one traffic made", x.Bindings())
	}
	// And Check says the same as Update without doing it.
	next.StaticBIB = next.StaticBIB[:1]
	if err := x.Check(next); err != nil || x.Bindings() != 1 || x.st.Load().MaxSessions != 0 {
		t.Errorf("Check: %v, %d bindings, max-sessions %d", err, x.Bindings(), x.st.Load().MaxSessions)
	}
	if err := x.Update(next); err != nil || x.Bindings() != 2 || x.st.Load().MaxSessions != 77 || x.engine.Config().IPv4MTU != 1400 {
		t.Errorf("Update: %v, %d bindings, max-sessions %d", err, x.Bindings(), x.st.Load().MaxSessions)
	}
}

// A sync peer is held to this gateway's limits: its sessions only on
// addresses of this pool4, no more than max-sessions and the per-source
// limit allow, and no longer-lived than this table's own timeouts, each
// refusal counted by its reason.
func TestFaultSyncPeerLimits(t *testing.T) {
	clock := newClock()
	a := newSyncNode(t, clock, 1, syncKey)
	b := &syncNode{t: t, clock: clock}
	cfg := testConfig(clock)
	cfg.MaxSessions, cfg.MaxSessionsPerSource = 10, 2
	b.x = newTest(t, cfg)
	var err error
	if b.s, err = NewSync(b.x, SyncConfig{Key: syncKey, NodeID: 2, Now: clock.now}, func(p []byte) {}); err != nil {
		t.Fatal(err)
	}
	var recs []syncRecord
	for i := 0; i < 60; i++ {
		t4 := pool
		if i < 20 {
			t4 = netip.MustParseAddr("8.8.8.8") // in neither pool4 nor standby-pool4
		}
		recs = append(recs, syncRecord{proto: uint8(UDP),
			x6:     netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i % 30)}), uint16(1000+i)),
			t4:     netip.AddrPortFrom(t4, uint16(2000+i)),
			z4:     netip.MustParseAddrPort("192.0.2.1:53"),
			remain: 365 * 24 * 3600}) // a year
	}
	for len(recs) > 0 {
		n := min(len(recs), syncPerDatagram)
		b.s.Receive(a.s.datagram(syncSessions, recs[:n]))
		recs = recs[n:]
	}
	st := b.s.Stats()
	if b.x.Sessions() != 10 || st.SessionsReceived != 10 || st.ApplyNotOurs != 20 || st.ApplyAtLimit != 30 {
		t.Errorf("%d sessions; received %d, not ours %d, at a limit %d; want 10, 10, 20, 30", b.x.Sessions(), st.SessionsReceived, st.ApplyNotOurs, st.ApplyAtLimit)
	}
	perSource := map[netip.Addr]int{}
	udp := DefaultUDPTimeout
	b.x.RangeSessions(func(s Session) bool {
		perSource[s.IPv6Src.Addr()]++
		if s.IPv4Src.Addr() != pool {
			t.Errorf("a session on %v was taken", s.IPv4Src.Addr())
		}
		if s.Expires.After(clock.now().Add(udp + time.Second)) {
			t.Errorf("a session lives until %v, past the UDP timeout %v", s.Expires, udp)
		}
		return true
	})
	for src, n := range perSource {
		if n > 2 {
			t.Errorf("%v has %d sessions, over max-sessions-per-source 2", src, n)
		}
	}
}

// Sync datagrams from anyone cost the datapath nothing: oversized ones are
// dropped unread, forged ones are checked without the lock the
// datapath's hook takes, and on a unicast socket only the configured
// peers are listened to.
func TestFaultSyncFlood(t *testing.T) {
	clock := newClock()
	b := newSyncNode(t, clock, 2, syncKey)
	b.s.Receive(make([]byte, SyncMaxDatagram+1))
	forged := make([]byte, SyncMaxDatagram)
	copy(forged, "XS\x01\x01")
	// The datapath holds the lock (its Hook is running): a forged
	// datagram is refused all the same, without waiting for it.
	b.s.mu.Lock()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			b.s.Receive(forged)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forged datagrams waited for the lock the datapath holds")
	}
	b.s.mu.Unlock()
	if st := b.s.Stats(); st.Oversized != 1 || st.Unauthenticated != 1000 {
		t.Errorf("oversized %d, unauthenticated %d; want 1 and 1000", st.Oversized, st.Unauthenticated)
	}

	// Over UDP: a stranger's datagrams are not even read as sync.
	me, peer := freeLoopbackPort(t), freeLoopbackPort(t)
	c, err := ListenSync(newTest(t, testConfig(newClock())), SyncConfig{Key: syncKey}, SyncNetwork{Listen: me, Peers: []netip.AddrPort{peer}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	stranger, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(me))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	for i := 0; i < 20; i++ {
		stranger.Write(forged)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().UnknownSource < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := c.Stats(); st.UnknownSource != 20 || st.Unauthenticated != 0 {
		t.Errorf("from a stranger: unknown source %d, unauthenticated %d; want 20 and 0", st.UnknownSource, st.Unauthenticated)
	}
}
