package nat64

import (
	"net/netip"
	"strings"
	"testing"

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
	if x.st.Load().MaxSessions != 0 || x.Engine().Config().IPv4MTU != 1500 || x.Bindings() != 1 {
		t.Errorf("the refused update changed something: max-sessions %d, ipv4-mtu %d, %d bindings",
			x.st.Load().MaxSessions, x.Engine().Config().IPv4MTU, x.Bindings())
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
	if err := x.Update(next); err != nil || x.Bindings() != 2 || x.st.Load().MaxSessions != 77 || x.Engine().Config().IPv4MTU != 1400 {
		t.Errorf("Update: %v, %d bindings, max-sessions %d", err, x.Bindings(), x.st.Load().MaxSessions)
	}
}
