package siit

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// pick stays inside the pool, ignores host bits written into it, and
// over many draws reaches every address of a small pool: RFC 6791 §5's
// random choice, not one address per router. 5000 draws miss one of 256
// addresses with a probability of about 1e-6 (2000 missed one in ten).
func TestPickRandomInPool(t *testing.T) {
	for _, tc := range []struct {
		pool string
		all  int // distinct addresses expected over the draws; 0: do not count
	}{
		{"198.51.100.1/32", 1},
		{"198.51.100.5/29", 8}, // host bits set: the pool is 198.51.100.0/29
		{"203.0.113.0/24", 256},
		{"0.0.0.0/0", 0},
		{"2001:db8:6791::/126", 4},
		{"2001:db8:6791::/64", 0},
		{"2001:db8::/32", 0},
		{"2001:db8::1/128", 1},
	} {
		p := netip.MustParsePrefix(tc.pool)
		masked := p.Masked()
		seen := map[netip.Addr]bool{}
		const draws = 5000
		for i := 0; i < draws; i++ {
			a := pick(p)
			if !masked.Contains(a) {
				t.Fatalf("%s: picked %v outside %v", tc.pool, a, masked)
			}
			seen[a] = true
		}
		if tc.all != 0 && len(seen) != tc.all {
			t.Errorf("%s: %d distinct addresses in %d draws, want %d", tc.pool, len(seen), draws, tc.all)
		}
		if tc.all == 0 && len(seen) < draws-100 {
			t.Errorf("%s: only %d distinct addresses in %d draws", tc.pool, len(seen), draws)
		}
	}
}

// RFC 6791 through the translator: an ICMPv6 error from a router with no
// IPv4 form (neither under pool6 nor in the EAMT) leaves with a source from
// the pool, and its quoted packet is translated as usual.
func TestRFC6791Pool(t *testing.T) {
	pool := netip.MustParsePrefix("203.0.113.8/29")
	x, err := New(Config{Pool6: wkp, EAMT: figure1, AllowNonGlobalWKP: true, RFC6791v4: pool})
	if err != nil {
		t.Fatal(err)
	}
	// hostA (192.0.2.1 by the EAMT) sent to 64:ff9b::198.51.100.2; a
	// router on the way answers Time Exceeded.
	far := wkp.Embed(mustA("198.51.100.2"))
	seen := map[netip.Addr]bool{}
	for i := 0; i < 200; i++ {
		q := testpkt.IPv6{Src: hostA, Dst: far}.Packet(17, testpkt.UDP(hostA, far, 1, 2, []byte("abcd")))
		in := testpkt.IPv6{Src: router6, Dst: hostA}.Packet(58, testpkt.ICMPError(router6, hostA, header.ICMPv6TimeExceeded, 0, 0, q))
		out := xlate(t, x.To4, in)
		ip := header.IPv4(out)
		if !pool.Contains(ip.Src()) || ip.Dst() != mustA("192.0.2.1") || ip.Protocol() != header.ProtoICMPv4 {
			t.Fatalf("%v -> %v, protocol %d", ip.Src(), ip.Dst(), ip.Protocol())
		}
		inner := header.IPv4(out[ip.HeaderLen()+header.ICMPHeaderSize:])
		if inner.Src() != mustA("192.0.2.1") || inner.Dst() != mustA("198.51.100.2") {
			t.Fatalf("quoted %v -> %v", inner.Src(), inner.Dst())
		}
		seen[ip.Src()] = true
	}
	if len(seen) < 2 {
		t.Errorf("200 errors all sourced from %v: not a random choice", seen)
	}
}
