package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff/client"
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

// healthGateway runs the gateway's sync and admin socket, without a
// datapath of its own: the test drives its loop's state.
func healthGateway(t *testing.T, ctx context.Context, listen, peer netip.AddrPort, admin string) (*gateway, *loopwatch.Loop) {
	t.Helper()
	l, err := parseConfig([]byte(healthConfig(listen, peer)))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	g.cur.Store(l)
	g.attach(l)
	for _, in := range l.insts {
		if err := g.startSync(ctx, in.instance); err != nil {
			t.Fatal(err)
		}
	}
	loop := new(loopwatch.Loop)
	g.loops = []*loopwatch.Loop{loop}
	if admin != "" {
		al, err := serveAdmin(g, admin)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { al.Close() })
	}
	return g, loop
}

// "xlatgw health" fails when the datapath stalls, when a sync peer goes
// silent, and when a table passes 90% of its limit, and passes when all
// is well again.
func TestHealth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := freeUDP(t), freeUDP(t)
	admin := filepath.Join(t.TempDir(), "admin.sock")
	g, loop := healthGateway(t, ctx, a, b, admin)
	peerCtx, stopPeer := context.WithCancel(ctx)
	healthGateway(t, peerCtx, b, a, "")

	check := func() (string, error) {
		var out bytes.Buffer
		err := healthCmd([]string{"-socket", admin}, &out)
		if err != nil && !errors.Is(err, errUnhealthy) {
			t.Fatal(err)
		}
		return out.String(), err
	}
	waitHealth := func(what string, healthy bool, want string) string {
		t.Helper()
		var out string
		var err error
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if out, err = check(); (err == nil) == healthy && strings.Contains(out, want) {
				return out
			}
		}
		t.Fatalf("%s: health said (err %v):\n%s\nwant healthy=%v with %q", what, err, out, healthy, want)
		return ""
	}

	out := waitHealth("both gateways up", true, "sync=1/1-up")
	if !strings.Contains(out, "nat64 nat64 ok") || !strings.Contains(out, "siit siit ok") || !strings.Contains(out, "pool4-udp=0/10") {
		t.Errorf("healthy output:\n%s", out)
	}

	loop.Working() // a round that does not end
	waitHealth("datapath stalled", false, "datapath stalled")
	loop.Waiting()
	waitHealth("datapath idle again", true, "nat64 nat64 ok")

	stopPeer()
	out = waitHealth("sync peer stopped", false, "sync: 0 of 1 peers up")
	if !strings.Contains(out, "sync=0/1-up") || !strings.Contains(out, "silent for") {
		t.Errorf("after the peer stopped:\n%s", out)
	}
	// The JSON says the same, for scripts.
	var js bytes.Buffer
	if err := healthCmd([]string{"-socket", admin, "-json"}, &js); !errors.Is(err, errUnhealthy) || !strings.Contains(js.String(), `"up":false`) {
		t.Errorf("-json: %v\n%s", err, js.String())
	}
	healthGateway(t, ctx, b, a, "") // the peer is back
	waitHealth("sync peer back", true, "sync=1/1-up")

	// Ten UDP flows: all ten ports of pool4 and all ten sessions.
	x := g.cur.Load().insts[0].nat64
	c6, s6 := netip.MustParseAddr("2001:db8:c::10"), netip.MustParseAddr("2001:db8:64::c000:250")
	for i := range 10 {
		p := testpkt.IPv6{Src: c6, Dst: s6}.Packet(header.ProtoUDP, testpkt.UDP(c6, s6, uint16(3000+i), 53, nil))
		buf := make([]byte, translate.Headroom+len(p))
		copy(buf[translate.Headroom:], p)
		if r := x.Translate(buf, translate.Headroom, len(p)); r.Verdict != translate.Forward {
			t.Fatalf("flow %d: %v", i, r.Reason)
		}
	}
	out = waitHealth("tables full", false, "pool4 UDP 10 of 10")
	if !strings.Contains(out, "sessions 10 of max-sessions 10") || !strings.Contains(out, "siit siit ok") {
		t.Errorf("with full tables:\n%s", out)
	}

	// Several gateways at once: each headed by its socket, one that does
	// not answer named and failing the check.
	missing := filepath.Join(t.TempDir(), "none.sock")
	var several bytes.Buffer
	err := healthCmd([]string{"-socket", admin, "-socket", missing}, &several)
	if err == nil || !strings.Contains(several.String(), "== "+admin+"\nnat64 nat64 FAIL") || !strings.Contains(several.String(), missing+": no answer") {
		t.Errorf("health of two gateways: %v\n%s", err, several.String())
	}
	several.Reset()
	if err := show([]string{"stats", "-socket", admin, "-socket", admin}, &several); err != nil || strings.Count(several.String(), "== "+admin) != 2 {
		t.Errorf("show of two gateways: %v\n%s", err, several.String())
	}
}

// The handoff client's counters reach the metrics by name, those of the
// parse counters it embeds (wire.ParseStats) included.
func TestEachCounterFlattens(t *testing.T) {
	var s client.Stats
	s.MalformedDatagrams, s.Refreshes = 3, 5
	got := map[string]uint64{}
	eachCounter(reflect.ValueOf(s), func(name string, v uint64) { got[name] = v })
	if got["MalformedDatagrams"] != 3 || got["Refreshes"] != 5 || len(got) < 20 {
		t.Errorf("counters %v", got)
	}
}
