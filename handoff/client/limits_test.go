package client

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/nat64"
)

// Both ends of every configured range are accepted, one past them is not.
func TestClientConfigEdges(t *testing.T) {
	base := Config{NAT64: n1, Send: func([]byte) {}, Deliver: func([]byte, bool) {}}
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want string // "" accepted
	}{
		{"control port, first", func(c *Config) { c.ControlPort = handoff.ControlPortMin }, ""},
		{"control port, last", func(c *Config) { c.ControlPort = handoff.ControlPortMax }, ""},
		{"control port, below", func(c *Config) { c.ControlPort = handoff.ControlPortMin - 1 }, "control port 1023"},
		{"one slot", func(c *Config) { c.SlotMin, c.SlotMax = 2000, 2000 }, ""},
		{"the whole slot range", func(c *Config) { c.SlotMin, c.SlotMax = handoff.SlotPortMin, handoff.SlotPortMax }, ""},
		{"slot below the range", func(c *Config) { c.SlotMin = handoff.SlotPortMin - 1 }, "slot range 1027-65535"},
		{"slots reversed", func(c *Config) { c.SlotMin, c.SlotMax = 2001, 2000 }, "slot range 2001-2000"},
		{"invalid destination", func(c *Config) { c.Destinations = []netip.Prefix{{}} }, "destinations[0]"},
	} {
		cfg := base
		c.mod(&cfg)
		_, err := New(cfg)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// The defaults of §11.
	c, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.ControlPort != 1024 || c.cfg.ServerPort != 64646 || c.cfg.SlotMin != 1028 || c.cfg.SlotMax != 65535 ||
		c.cfg.CacheMaxEntries != 262144 || c.cfg.CacheIdleTimeout != 300*time.Second {
		t.Errorf("defaults: %+v", c.cfg)
	}
}

// A server's requests in flight are bounded (MaxPendingPerPeer, §11),
// LOOKUPs and MAP_REQUESTs together: the one past the bound is refused.
func TestClientPendingBound(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.blocked = true
	for i := 0; i < MaxPendingPerPeer-1; i++ {
		if _, c := tb.cli.Out(sAddr, netip.AddrPortFrom(client1.Addr(), uint16(i+1)), false); c != nat64.Await {
			t.Fatalf("request %d: %v", i+1, c)
		}
	}
	if _, c := tb.cli.In(sAddr, 1035, false); c != nat64.Await {
		t.Fatalf("LOOKUP %d: %v, want nat64.Await", MaxPendingPerPeer, c)
	}
	if _, c := tb.cli.In(sAddr, 1034, false); c != nat64.Refused {
		t.Errorf("LOOKUP past the bound: %v, want nat64.Refused", c)
	}
	if _, c := tb.cli.Out(sAddr, client2, false); c != nat64.Refused {
		t.Errorf("MAP_REQUEST past the bound: %v, want nat64.Refused", c)
	}
	if n := tb.cli.Peers()[0].Pending; n != MaxPendingPerPeer {
		t.Errorf("%d pending, want %d", n, MaxPendingPerPeer)
	}
}

// script is randomness the test chooses: each Read returns the next
// value as 8 big-endian octets, or fails once the values run out.
type script []uint64

func (s *script) Read(b []byte) (int, error) {
	if len(*s) == 0 {
		return 0, errors.New("no randomness left")
	}
	binary.BigEndian.PutUint64(b, (*s)[0])
	*s = (*s)[1:]
	return len(b), nil
}

// §8.3: a new client of an UNREACHABLE server gets a random free slot;
// taken ones are drawn again; when every slot is taken it is refused. A
// failing random source still yields a slot.
func TestClientLocalPorts(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.peers[sAddr].state = Unreachable
	// Slots 1028-1035: the values pick 5, then 5 again (taken) and 2, then
	// 13 (5 mod 8, taken), 10 (2, taken) and 7.
	tb.cli.cfg.Rand = &script{5, 5, 2, 13, 10, 7}
	for i, want := range []uint16{1033, 1030, 1035} {
		c := netip.AddrPortFrom(client1.Addr(), uint16(i+1))
		if port, claim := tb.cli.Out(sAddr, c, false); claim != nat64.Claimed || port != want {
			t.Errorf("local port %d: %d %v, want %d", i, port, claim, want)
		}
	}
	tb.cli.cfg.Rand = &script{} // fails: math/rand instead
	for i := 3; i < 8; i++ {
		c := netip.AddrPortFrom(client1.Addr(), uint16(i+1))
		if port, claim := tb.cli.Out(sAddr, c, false); claim != nat64.Claimed || !tb.cli.inSlots(port) {
			t.Errorf("local port %d: %d %v", i, port, claim)
		}
	}
	if n := tb.cli.Peers()[0].Entries; n != 8 {
		t.Fatalf("%d entries, want all 8 slots", n)
	}
	if _, claim := tb.cli.Out(sAddr, client2, false); claim != nat64.Refused {
		t.Errorf("every slot taken: %v, want nat64.Refused", claim)
	}
}

// MaxPeers bounds the servers tracked; notifications towards one more are
// refused and counted once each.
func TestClientPeerBound(t *testing.T) {
	tb := newTestbed(t, Config{})
	tb.blocked = true
	server := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}) }
	for i := 0; i < MaxPeers; i++ {
		tb.cli.SessionCreated(server(i), client1, 1030)
	}
	if st := tb.cli.Stats(); st.PeersRefused != 0 || len(tb.cli.Peers()) != MaxPeers {
		t.Fatalf("%d peers, %d refused", len(tb.cli.Peers()), st.PeersRefused)
	}
	tb.cli.SessionCreated(server(MaxPeers), client1, 1030)
	tb.cli.SessionCreated(server(0), client2, 1031) // known: not refused
	if st := tb.cli.Stats(); st.PeersRefused != 1 || len(tb.cli.Peers()) != MaxPeers {
		t.Errorf("%d peers, %d refused; want %d and 1", len(tb.cli.Peers()), st.PeersRefused, MaxPeers)
	}
}

// Notifications are paid for by the data traffic (NotifyCreditPerPacket
// per outbound packet): one costs its datagram's octets times
// MaxTransmissions, and goes out only when the credit covers that.
func TestClientNotifyCredit(t *testing.T) {
	tb := newTestbed(t, Config{Note: "paid for"})
	tb.blocked = true
	s := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	tb.cli.SessionCreated(s(1), client1, 1030)
	if len(tb.toServer) != 1 {
		t.Fatalf("%d datagrams for the first notification", len(tb.toServer))
	}
	cost := (len(tb.toServer[0]) - udpIPv4Header) * MaxTransmissions
	tb.toServer = nil
	if got := NotifyCreditMax - tb.cli.credit; got != cost {
		t.Fatalf("the notification cost %d octets of credit, want %d", got, cost)
	}
	// Exactly enough credit: the notification goes out, none is left.
	tb.cli.credit = cost
	tb.cli.SessionCreated(s(2), client1, 1030)
	if st := tb.cli.Stats(); st.Notifications != 2 || st.NotifyNoCredit != 0 || tb.cli.credit != 0 {
		t.Fatalf("with the credit it costs: %+v, credit %d", st, tb.cli.credit)
	}
	// One octet short of it is not enough.
	tb.cli.credit = cost - 1
	tb.cli.SessionCreated(s(3), client1, 1030)
	if st := tb.cli.Stats(); st.Notifications != 2 || st.NotifyNoCredit != 1 {
		t.Fatalf("one octet short: %+v", st)
	}
	// Outbound packets towards handoff destinations earn it back, peeks
	// (quoted packets) do not.
	tb.cli.credit = 0
	for i := 0; i < cost/NotifyCreditPerPacket; i++ {
		tb.cli.Out(s(9), client1, true)
	}
	if tb.cli.credit != 0 {
		t.Fatalf("peeks earned %d octets", tb.cli.credit)
	}
	for i := 0; i < (cost+NotifyCreditPerPacket-1)/NotifyCreditPerPacket; i++ {
		tb.cli.Out(s(9), client1, false)
	}
	if want := (cost + NotifyCreditPerPacket - 1) / NotifyCreditPerPacket * NotifyCreditPerPacket; tb.cli.credit != want {
		t.Fatalf("credit %d, want %d", tb.cli.credit, want)
	}
	tb.cli.SessionCreated(s(4), client1, 1030)
	if st := tb.cli.Stats(); st.Notifications != 3 || st.NotifyNoCredit != 1 {
		t.Errorf("after earning it: %+v", st)
	}
	// The credit never exceeds NotifyCreditMax.
	tb.cli.credit = NotifyCreditMax - 1
	tb.cli.Out(s(9), client1, false)
	if tb.cli.credit != NotifyCreditMax {
		t.Errorf("credit %d, want the cap %d", tb.cli.credit, NotifyCreditMax)
	}
}

// §8.2: a full cache drops its least recently used entry, whichever
// server it belongs to (the victim is the oldest of a sample of 16, and
// these caches are smaller than that). Map order is random, so each case
// runs many times.
func TestClientEvictsLRU(t *testing.T) {
	other := netip.MustParseAddr("192.0.2.3")
	for run := 0; run < 20; run++ {
		for _, oldestOnOther := range []bool{false, true} {
			tb := newTestbed(t, Config{CacheMaxEntries: 5})
			c := tb.cli
			c.mu.Lock()
			ps, po := c.peer(sAddr, tb.now), c.peer(other, tb.now)
			for i := 0; i < 4; i++ {
				c.install(ps, netip.AddrPortFrom(client1.Addr(), uint16(i+1)), uint16(1028+i), 1, false, tb.now.Add(time.Duration(i+1)*time.Second))
			}
			oldest := tb.now.Add(10 * time.Second)
			if oldestOnOther {
				oldest = tb.now
			} else {
				ps.byPort[1030].lastUse = tb.now // the third of four
			}
			c.install(po, client2, 1028, 1, false, oldest)
			c.install(po, netip.AddrPortFrom(client2.Addr(), 1), 1029, 1, false, tb.now.Add(20*time.Second))
			c.mu.Unlock()
			st := c.Stats()
			_, _, _, onOther := c.lookup(other, client2)
			_, _, _, third := c.lookup(sAddr, netip.AddrPortFrom(client1.Addr(), 3))
			if st.CacheEvicted != 1 || onOther == oldestOnOther || third != oldestOnOther {
				t.Fatalf("oldest on the other server %v: evicted %d; oldest entries still there: %v %v", oldestOnOther, st.CacheEvicted, onOther, third)
			}
		}
	}
}
