package nat64

import (
	"net/netip"
	"testing"
	"time"

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
		src := host(i + 1)
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
	if _, r := xl(x, udp6(host(1), 40000, h2, 54)); r.Verdict != translate.Forward {
		t.Errorf("a bound endpoint to a new destination: %v %v", r.Verdict, r.Reason)
	}
	// Once the sessions expire the ports come back.
	clock.advance(time.Hour)
	clock.tick(x)
	if _, r := xl(x, udp6(host(99), 40000, h2, 53)); r.Verdict != translate.Forward {
		t.Errorf("after expiry: %v %v", r.Verdict, r.Reason)
	}
}
