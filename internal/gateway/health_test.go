package gateway

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// healthConfig is a NAT64 instance with ten UDP ports and ten sessions at
// most, syncing with the peer at peer, and a SIIT instance.
func healthConfig(listen, peer netip.AddrPort) string {
	return fmt.Sprintf(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
	  "instances": [
	    {"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96", "max-sessions": 10,
	      "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32", "ports": "2000-2009"},
	                {"protocol": "TCP", "prefix": "203.0.113.1/32"}]},
	     "sync": {"listen": "%s", "peers": ["%s"], "key": "%s"}},
	    {"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:46::/96"}}]}`,
		listen, peer, strings.Repeat("5a17", 16))
}

func freeUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// healthGateway runs the gateway's sync, without a datapath of its own:
// the test drives its loop's state.
func healthGateway(t *testing.T, ctx context.Context, listen, peer netip.AddrPort) (*Gateway, *loopwatch.Loop) {
	t.Helper()
	l, err := parseConfig([]byte(healthConfig(listen, peer)))
	if err != nil {
		t.Fatal(err)
	}
	g := quietGateway(l)
	for _, in := range l.insts {
		if err := g.startSync(ctx, in.Instance); err != nil {
			t.Fatal(err)
		}
	}
	loop := new(loopwatch.Loop)
	g.loops = []*loopwatch.Loop{loop}
	return g, loop
}

// Health fails an instance when the datapath stalls, when a sync peer
// goes silent, and when a table passes 90% of its limit, and passes it
// when all is well again.
func TestHealth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := freeUDP(t), freeUDP(t)
	g, loop := healthGateway(t, ctx, a, b)
	peerCtx, stopPeer := context.WithCancel(ctx)
	healthGateway(t, peerCtx, b, a)

	// rows is the health of both instances, as one string for the
	// messages.
	rows := func() ([]HealthRow, string) {
		r := g.Health(time.Now())
		return r, fmt.Sprintf("%+v", r)
	}
	waitHealth := func(what string, healthy bool, ok func([]HealthRow) bool) []HealthRow {
		t.Helper()
		var r []HealthRow
		var s string
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			r, s = rows()
			problems := len(r[0].Problems) + len(r[1].Problems)
			if (problems == 0) == healthy && ok(r) {
				return r
			}
		}
		t.Fatalf("%s: health said %s (sync %+v); want healthy=%v", what, s, r[0].Sync, healthy)
		return nil
	}
	has := func(r HealthRow, want string) bool { return strings.Contains(strings.Join(r.Problems, "; "), want) }
	// A peer restarted comes back under another node-id: one up is what
	// counts.
	syncUp := func(r []HealthRow) bool {
		for _, p := range r[0].Sync.Peers {
			if p.Up {
				return true
			}
		}
		return false
	}

	r := waitHealth("both gateways up", true, syncUp)
	if r[0].Type != "nat64" || r[1].Type != "siit" || len(r[0].Pool4) != 3 || r[0].Pool4[1] != (Pool4Use{"UDP", 0, 10}) || r[0].MaxSessions != 10 {
		t.Errorf("healthy rows: %+v", r)
	}

	loop.Working() // a round that does not end
	waitHealth("datapath stalled", false, func(r []HealthRow) bool { return has(r[0], "datapath stalled") && has(r[1], "datapath stalled") })
	loop.Waiting()
	waitHealth("datapath idle again", true, syncUp)

	stopPeer()
	r = waitHealth("sync peer stopped", false, func(r []HealthRow) bool { return has(r[0], "sync: 0 of 1 peers up") })
	if r[0].Sync.Peers[0].Up || !has(r[0], "silent for") || len(r[1].Problems) != 0 {
		t.Errorf("after the peer stopped: %+v", r)
	}
	healthGateway(t, ctx, b, a) // the peer is back
	waitHealth("sync peer back", true, syncUp)

	// Ten UDP flows: all ten ports of pool4 and all ten sessions.
	x := g.cur.Load().insts[0].NAT64()
	c6, s6 := netip.MustParseAddr("2001:db8:c::10"), netip.MustParseAddr("2001:db8:64::c000:250")
	for i := range 10 {
		p := testpkt.IPv6{Src: c6, Dst: s6}.Packet(header.ProtoUDP, testpkt.UDP(c6, s6, uint16(3000+i), 53, nil))
		buf := make([]byte, translate.Headroom+len(p))
		copy(buf[translate.Headroom:], p)
		if r := x.Translate(buf, translate.Headroom, len(p)); r.Verdict != translate.Forward {
			t.Fatalf("flow %d: %v", i, r.Reason)
		}
	}
	r = waitHealth("tables full", false, func(r []HealthRow) bool { return has(r[0], "pool4 UDP 10 of 10") })
	if !has(r[0], "sessions 10 of max-sessions 10") || len(r[1].Problems) != 0 || r[0].Sessions != 10 {
		t.Errorf("with full tables: %+v", r)
	}
}
