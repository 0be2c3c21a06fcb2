package nat64

import (
	"net/netip"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// A pool4 of eight UDP ports hands out every one of them, even ports for
// even source ports and odd for odd (RFC 4787 REQ-3a parity), although
// most IPv6 endpoints' home shards hold none of them and allocation falls
// back to the whole range; then a new flow is refused cleanly, and one
// whose binding exists still passes.
func TestPoolExhaustion(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Pool4 = []Pool4Entry{{Protocol: UDP, Prefix: netip.PrefixFrom(pool, 32), Ports: PortRange{1024, 1031}}}
	x := newTest(t, cfg)
	got := map[uint16]bool{}
	for i := 0; i < 12; i++ {
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		sport := uint16(40000 + i%2) // alternately even and odd
		out, r := xl(x, udp6(src, sport, h2, 53))
		if i < 8 {
			if r.Verdict != translate.Forward {
				t.Fatalf("flow %d: %v %v with %d of 8 ports bound", i, r.Verdict, r.Reason, len(got))
			}
			p, _ := ports4(out)
			if p < 1024 || p > 1031 || p%2 != sport%2 || got[p] {
				t.Fatalf("flow %d from port %d got port %d (have %v)", i, sport, p, got)
			}
			got[p] = true
			continue
		}
		if r.Reason != translate.ReasonPolicyNoResources {
			t.Errorf("flow %d with the pool full: %v %v", i, r.Verdict, r.Reason)
		}
	}
	first := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	if _, r := xl(x, udp6(first, 40000, h2, 54)); r.Verdict != translate.Forward {
		t.Errorf("a bound endpoint to a new destination: %v %v", r.Verdict, r.Reason)
	}
	// Once the sessions expire the ports come back.
	clock.advance(time.Hour)
	clock.tick(x)
	last := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 99})
	if _, r := xl(x, udp6(last, 40000, h2, 53)); r.Verdict != translate.Forward {
		t.Errorf("after expiry: %v %v", r.Verdict, r.Reason)
	}
}

// RemoveStaticBIB turns a manual binding back into a dynamic one: with no
// session it goes at once; with one, when the session does.
func TestRemoveStaticBIB(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	s := StaticBIB{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(h1, 53)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 53)}}
	s2 := StaticBIB{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(h1, 54)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 54)}}
	cfg.StaticBIB = []StaticBIB{s, s2}
	x := newTest(t, cfg)
	bindings := func() int {
		n := 0
		x.RangeBIB(func(BIBEntry) bool { n++; return true })
		return n
	}
	unreachable := func(port uint16) bool {
		p, r := xl(x, udp4(h2, 9999, pool, port))
		return r.Verdict == translate.Reply && header.ICMPv4(p[20:]).Type() == header.ICMPv4DstUnreachable
	}

	if !x.RemoveStaticBIB(s) || bindings() != 1 || !unreachable(53) {
		t.Fatalf("removing an idle static binding left %d bindings", bindings())
	}
	if x.RemoveStaticBIB(s) {
		t.Error("removed the same binding twice")
	}

	// A session keeps the other one until it expires.
	if _, r := xl(x, udp4(h2, 9999, pool, 54)); r.Verdict != translate.Forward {
		t.Fatalf("static inbound: %v %v", r.Verdict, r.Reason)
	}
	if !x.RemoveStaticBIB(s2) || bindings() != 1 || unreachable(54) {
		t.Fatalf("a binding with a session: %d bindings", bindings())
	}
	clock.advance(time.Hour)
	clock.tick(x)
	if bindings() != 0 || !unreachable(54) {
		t.Errorf("after its session expired: %d bindings", bindings())
	}
}
