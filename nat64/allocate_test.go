package nat64

import (
	"net/netip"
	"testing"
)

// allocator builds the pool4 allocator of entries, with a fixed secret.
func allocator(t *testing.T, entries ...Pool4Entry) *pool4Allocator {
	t.Helper()
	cfg := testConfig(newClock())
	cfg.Pool4 = entries
	s, err := cfg.validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &pool4Allocator{pools: s.pools, secret: [2]uint64{0x0123456789abcdef, 0xfedcba9876543210}}
}

func free(netip.AddrPort) bool { return false }

// RFC 4787 REQ-2, paired pooling: the address depends on the IPv6 address
// alone, and over many hosts every pool4 address of every range is used.
func TestAllocatePaired(t *testing.T) {
	a := allocator(t,
		Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.0/30")},
		Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("198.51.100.8/31")})
	seen := map[netip.Addr]int{}
	for i := 0; i < 600; i++ {
		got, ok := a.Allocate(UDP, netip.AddrPortFrom(host(i), 40000), free)
		again, _ := a.Allocate(UDP, netip.AddrPortFrom(host(i), 50001), free)
		if !ok || got.Addr() != again.Addr() {
			t.Fatalf("host %d: %v then %v", i, got, again)
		}
		seen[got.Addr()]++
	}
	for _, s := range []string{"203.0.113.0", "203.0.113.1", "203.0.113.2", "203.0.113.3", "198.51.100.8", "198.51.100.9"} {
		if n := seen[netip.MustParseAddr(s)]; n < 50 {
			t.Errorf("%s picked for %d of 600 hosts", s, n)
		}
	}
	if len(seen) != 6 {
		t.Errorf("addresses %v, want the six of pool4", seen)
	}
}

// RFC 4787 REQ-3 and REQ-3a, RFC 6146 §3.5.1.1: a port of the source
// port's class (0-1023 or 1024-65535) and parity while there is one; ICMP
// identifiers keep neither.
func TestAllocateClassAndParity(t *testing.T) {
	a := allocator(t, Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.1/32"), Ports: PortRange{1, 65535}},
		Pool4Entry{Protocol: ICMP, Prefix: netip.MustParsePrefix("203.0.113.1/32"), Ports: PortRange{1, 65535}})
	for i := 0; i < 200; i++ {
		for _, sport := range []uint16{53, 1023, 1024, 40000, 40001} {
			got, ok := a.Allocate(UDP, netip.AddrPortFrom(host(i), sport), free)
			if p := got.Port(); !ok || (p < 1024) != (sport < 1024) || p&1 != sport&1 {
				t.Fatalf("source port %d got %v", sport, got)
			}
		}
	}
	var high, odd, even int
	for i := 0; i < 200; i++ {
		got, _ := a.Allocate(ICMP, netip.AddrPortFrom(host(i), 5), free)
		if got.Port() >= 1024 {
			high++
		}
		if got.Port()&1 == 1 {
			odd++
		} else {
			even++
		}
	}
	if high == 0 || odd == 0 || even == 0 {
		t.Errorf("ICMP identifiers for identifier 5: %d of 1024 and up, %d odd, %d even", high, odd, even)
	}
}

// When the source port's parity is taken, any port of the address; when
// the address is full, another range's; then nothing. A single port is a
// range; a port of the wrong parity at its end is not stepped out of it.
func TestAllocateFallbacks(t *testing.T) {
	a := allocator(t,
		Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.1/32"), Ports: PortRange{1025, 1025}},
		Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.9/32"), Ports: PortRange{2000, 2001}})
	first, second := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.9")
	// A host whose address is the first range's.
	var src netip.AddrPort
	for i := 0; ; i++ {
		src = netip.AddrPortFrom(host(i), 40000) // even; 1025 is odd
		if got, _ := a.Allocate(UDP, src, free); got.Addr() == first {
			break
		}
	}
	used := map[netip.AddrPort]bool{}
	inUse := func(c netip.AddrPort) bool { return used[c] }
	for _, want := range []netip.AddrPort{
		netip.AddrPortFrom(first, 1025),  // the odd port: parity given up, the address kept
		netip.AddrPortFrom(second, 2000), // the address full: another range, parity again
		netip.AddrPortFrom(second, 2001),
	} {
		got, ok := a.Allocate(UDP, src, inUse)
		if !ok || got != want {
			t.Fatalf("got %v %v, want %v (in use: %v)", got, ok, want, used)
		}
		used[got] = true
	}
	if got, ok := a.Allocate(UDP, src, inUse); ok {
		t.Errorf("every port in use: got %v", got)
	}
	// The search is bounded: maxProbes candidates a pass.
	big := allocator(t, Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.1/32"), Ports: PortRange{1024, 65535}})
	calls := 0
	if _, ok := big.Allocate(UDP, src, func(netip.AddrPort) bool { calls++; return true }); ok || calls != 2*maxProbes {
		t.Errorf("a full pool: %d candidates tried, want %d", calls, 2*maxProbes)
	}
}

// Aligned allocation (Translator.shard4): only ports whose bits 1 and up,
// masked, equal want, inside the range, with the source port's parity on
// the first pass; the first and last ports of a range count.
func TestAllocateAligned(t *testing.T) {
	const mask = 3 // four shards: bits 1-2
	for _, c := range []struct {
		ports PortRange
		want  uint16
	}{
		{PortRange{1024, 65535}, 0},
		{PortRange{1024, 65535}, 3},
		{PortRange{1030, 1100}, 1},
		{PortRange{1026, 1026}, 1}, // the range's only port is aligned
	} {
		a := allocator(t, Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.0/30"), Ports: c.ports})
		for i := 0; i < 100; i++ {
			got, ok := a.allocate(UDP, netip.AddrPortFrom(host(i), 40000), free, c.want, mask)
			p := got.Port()
			if !ok || p>>1&mask != c.want || p < c.ports.Min || p > c.ports.Max || p&1 != 0 {
				t.Fatalf("ports %v want %d: got %v %v", c.ports, c.want, got, ok)
			}
		}
	}
	// Nothing aligned in the range.
	a := allocator(t, Pool4Entry{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.0/30"), Ports: PortRange{1024, 1025}})
	if got, ok := a.allocate(UDP, netip.AddrPortFrom(host(1), 40000), free, 1, mask); ok {
		t.Errorf("no aligned port: got %v", got)
	}
}
