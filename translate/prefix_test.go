package translate

import (
	"encoding/binary"
	"math/rand"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/internal/ipword"
)

func TestRFC6052Vectors(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.33")
	for _, tc := range []struct{ id, prefix, v4, v6 string }{
		{"6052-1", "2001:db8::/32", "192.0.2.33", "2001:db8:c000:221::"},
		{"6052-2", "2001:db8:100::/40", "192.0.2.33", "2001:db8:1c0:2:21::"},
		{"6052-3", "2001:db8:122::/48", "192.0.2.33", "2001:db8:122:c000:2:2100::"},
		{"6052-4", "2001:db8:122:300::/56", "192.0.2.33", "2001:db8:122:3c0:0:221::"},
		{"6052-5", "2001:db8:122:344::/64", "192.0.2.33", "2001:db8:122:344:c0:2:2100::"},
		{"6052-6", "2001:db8:122:344::/96", "192.0.2.33", "2001:db8:122:344::192.0.2.33"},
		{"6052-7", "64:ff9b::/96", "192.0.2.33", "64:ff9b::192.0.2.33"},
		{"6052-9", "2001:db8:122:344::/64", "192.0.2.33", "2001:db8:122:344:c0:2:2100::"},
		{"6052-10", "2001:db8:100::/40", "198.51.100.2", "2001:db8:1c6:3364:2::"},
		{"6052-11", "2001:db8:100::/40", "192.0.2.33", "2001:db8:1c0:2:21::"},
	} {
		p := MustParsePrefix(tc.prefix)
		a4, a6 := netip.MustParseAddr(tc.v4), netip.MustParseAddr(tc.v6)
		if got := p.Embed(a4); got != a6 {
			t.Errorf("%s: Embed(%v) under %v = %v, want %v", tc.id, a4, p, got, a6)
		}
		if got, ok := p.Extract(a6); !ok || got != a4 {
			t.Errorf("%s: Extract(%v) = %v %v, want %v", tc.id, a6, got, ok, a4)
		}
	}
	// 6052-8: the /24 block maps to a /96 block: every address of it lands
	// inside 2001:db8:122:344:c0:2::/96.
	p := MustParsePrefix("2001:db8:122:344::/64")
	block := netip.MustParsePrefix("2001:db8:122:344:c0:2::/96")
	for _, last := range []byte{0, 1, 33, 255} {
		if a := p.Embed(netip.AddrFrom4([4]byte{192, 0, 2, last})); !block.Contains(a) {
			t.Errorf("6052-8: 192.0.2.%d -> %v outside %v", last, a, block)
		}
	}
	// A non-zero suffix is ignored on receipt (§2.2).
	if got, ok := MustParsePrefix("2001:db8::/32").Extract(netip.MustParseAddr("2001:db8:c000:221::1")); !ok || got != v4 {
		t.Errorf("suffix not ignored: %v %v", got, ok)
	}
	// Outside the prefix.
	if _, ok := MustParsePrefix("2001:db8::/32").Extract(netip.MustParseAddr("2001:db9:c000:221::")); ok {
		t.Error("address outside the prefix extracted")
	}
}

func TestPrefixValidation(t *testing.T) {
	for _, bad := range []string{
		"2001:db8::/33", "2001:db8::/44", "2001:db8::/72", "2001:db8::/80", "2001:db8::/128",
		"2001:db8:0:0:100::/96", // u octet set
		"2001:db8::1/32",        // host bits
		"192.0.2.0/24",          // not IPv6
	} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", bad)
		}
	}
	for _, good := range []string{"2001:db8::/32", "2001:db8:100::/40", "64:ff9b::/96", "64:ff9b:1::/48", "2001:db8:0:0:0:100::/96"} {
		if _, err := ParsePrefix(good); err != nil {
			t.Errorf("ParsePrefix(%q): %v", good, err)
		}
	}
}

func TestWellKnownRestriction(t *testing.T) {
	// §3.1: the WKP must not carry non-global IPv4 addresses; the RFC 8215
	// local-use block and NSPs may.
	local := MustParsePrefix("64:ff9b:1::/96")
	nsp := MustParsePrefix("2001:db8::/96")
	for _, a := range []string{"10.1.2.3", "192.168.1.1", "127.0.0.1", "192.0.2.33", "100.64.0.1", "224.0.0.1"} {
		v4 := netip.MustParseAddr(a)
		if WellKnownPrefix.Permits(v4) {
			t.Errorf("WKP permits %v", v4)
		}
		if !local.Permits(v4) || !nsp.Permits(v4) {
			t.Errorf("NSP refuses %v", v4)
		}
	}
	if !WellKnownPrefix.Permits(netip.MustParseAddr("8.8.8.8")) {
		t.Error("WKP refuses a global address")
	}
	// The embedding itself works for any address (tested apart from policy).
	if got := WellKnownPrefix.Embed(netip.MustParseAddr("192.0.2.33")); got != netip.MustParseAddr("64:ff9b::c000:221") {
		t.Errorf("WKP embed = %v", got)
	}
	pol := &PrefixPolicy{Prefix: WellKnownPrefix}
	if _, _, _, r := pol.To6(netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.1"), 0, 0); r != ReasonUntranslatableDst {
		t.Errorf("policy let a private destination through the WKP: %v", r)
	}
}

func TestChecksumNeutralPrefixes(t *testing.T) {
	for _, p := range []string{"64:ff9b::/96", "64:ff9b:1:fffe::/96", "64:ff9b:1:fffd:1::/96", "64:ff9b:1:fffc:2::/96", "64:ff9b:1:abcd:0:5431::/96"} {
		if !MustParsePrefix(p).ChecksumNeutral() {
			t.Errorf("%s (8215 §6) not neutral", p)
		}
	}
	if MustParsePrefix("2001:db8:100::/40").ChecksumNeutral() {
		t.Error("2001:db8:100::/40 reported neutral")
	}
	if LocalUsePrefix.String() != "64:ff9b:1::/48" {
		t.Error("local-use prefix")
	}
}

func TestPrefixText(t *testing.T) {
	var p Prefix
	if err := p.UnmarshalText([]byte("2001:db8:100::/40")); err != nil || p != MustParsePrefix("2001:db8:100::/40") {
		t.Fatalf("UnmarshalText: %v %v", p, err)
	}
	b, _ := p.MarshalText()
	if string(b) != "2001:db8:100::/40" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := p.UnmarshalText([]byte("2001:db8::/44")); err == nil {
		t.Error("bad prefix accepted")
	}
}

// TestGlobal4Words holds the word table IsGlobal4 and PrefixPolicy use to
// the netip.Prefix list it is built from, at every block's first and last
// address, just outside them, and at random addresses.
func TestGlobal4Words(t *testing.T) {
	byPrefix := func(a netip.Addr) bool {
		for _, p := range nonGlobal4 {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	var probes []uint32
	for _, p := range nonGlobal4 {
		a := p.Addr().As4()
		first := binary.BigEndian.Uint32(a[:])
		last := first | ^uint32(0)>>p.Bits()
		probes = append(probes, first, last, first-1, last+1)
	}
	rng := rand.New(rand.NewSource(1))
	for range 100000 {
		probes = append(probes, rng.Uint32())
	}
	for _, v := range probes {
		a := ipword.From4(v)
		if want := byPrefix(a); IsGlobal4(a) != want || global4(v) != want {
			t.Fatalf("%v: IsGlobal4 %v, global4 %v, want %v", a, IsGlobal4(a), global4(v), want)
		}
	}
	if !IsGlobal4(netip.MustParseAddr("2001:db8::1")) {
		t.Error("an IPv6 address is in an IPv4 block")
	}
}
