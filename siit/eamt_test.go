package siit

import (
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/translate"
)

func eam(v4, v6 string) EAM {
	p4, err := netip.ParsePrefix(v4)
	if err != nil {
		p4 = netip.PrefixFrom(netip.MustParseAddr(v4), 32)
	}
	p6, err := netip.ParsePrefix(v6)
	if err != nil {
		p6 = netip.PrefixFrom(netip.MustParseAddr(v6), 128)
	}
	return EAM{IPv4: p4, IPv6: p6}
}

// RFC 7757 Figure 1.
var figure1 = []EAM{
	eam("192.0.2.1", "2001:db8:aaaa::"),
	eam("192.0.2.2/32", "2001:db8:bbbb::b/128"),
	eam("192.0.2.16/28", "2001:db8:cccc::/124"),
	eam("192.0.2.128/26", "2001:db8:dddd::/64"),
	eam("192.0.2.192/29", "2001:db8:eeee:8::/62"),
	eam("192.0.2.224/31", "64:ff9b::/127"),
}

func TestRFC7757Vectors(t *testing.T) {
	st, err := newState(Config{Pool6: translate.WellKnownPrefix, EAMT: figure1, AllowNonGlobalWKP: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, v4, v6 string }{
		{"7757-1", "192.0.2.1", "2001:db8:aaaa::"},
		{"7757-2", "192.0.2.2", "2001:db8:bbbb::b"},
		{"7757-3", "192.0.2.16", "2001:db8:cccc::"},
		{"7757-4", "192.0.2.24", "2001:db8:cccc::8"},
		{"7757-5", "192.0.2.31", "2001:db8:cccc::f"},
		{"7757-6", "192.0.2.128", "2001:db8:dddd::"},
		{"7757-7", "192.0.2.152", "2001:db8:dddd:0:6000::"},
		{"7757-8", "192.0.2.183", "2001:db8:dddd:0:dc00::"},
		{"7757-9", "192.0.2.191", "2001:db8:dddd:0:fc00::"},
		{"7757-10", "192.0.2.195", "2001:db8:eeee:9:8000::"},
		{"7757-11", "192.0.2.225", "64:ff9b::1"},
		{"7757-12", "192.0.2.248", "64:ff9b::c000:2f8"},
	} {
		a4, a6 := netip.MustParseAddr(tc.v4), netip.MustParseAddr(tc.v6)
		if got, ok := st.addr6(a4, false, true); !ok || got != a6 {
			t.Errorf("%s: %v -> %v %v, want %v", tc.id, a4, got, ok, a6)
		}
		if got, ok := st.addr4(a6); !ok || got != a4 {
			t.Errorf("%s: %v -> %v %v, want %v", tc.id, a6, got, ok, a4)
		}
	}
}

func TestRFC7757Overlap(t *testing.T) {
	st, err := newState(Config{EAMT: []EAM{eam("0.0.0.0/0", "2001:db8:ff00::/40"), eam("198.51.100.64/32", "2001:db8::abcd/128")}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.addr4(netip.MustParseAddr("2001:db8:ffc6:3364:4000::")); got != netip.MustParseAddr("198.51.100.64") {
		t.Errorf("7757-O1: %v", got)
	}
	if got, _ := st.addr6(netip.MustParseAddr("198.51.100.64"), false, true); got != netip.MustParseAddr("2001:db8::abcd") {
		t.Errorf("7757-O2: %v", got)
	}
	if got, _ := st.addr6(netip.MustParseAddr("198.51.100.65"), false, true); got != netip.MustParseAddr("2001:db8:ffc6:3364:4100::") {
		t.Errorf("7757-O3: %v", got)
	}
	// Figure 3: two IPv4 prefixes on one IPv6 prefix are refused, naming both.
	_, err = NewEAMT([]EAM{eam("198.51.100.8", "2001:db8::1"), eam("198.51.100.9", "2001:db8::1")})
	if err == nil || !strings.Contains(err.Error(), "eamt[1]") || !strings.Contains(err.Error(), "eamt[0]") {
		t.Errorf("duplicate IPv6 prefix: %v", err)
	}
}

func TestEAMTValidation(t *testing.T) {
	for _, bad := range [][]EAM{
		{eam("192.0.2.0/24", "2001:db8::/124")}, // IPv4 suffix longer than IPv6's
		{eam("192.0.2.1/24", "2001:db8::/120")}, // host bits
		{{IPv4: netip.MustParsePrefix("2001:db8::/120"), IPv6: netip.MustParsePrefix("2001:db8::/120")}},
	} {
		if _, err := NewEAMT(bad); err == nil || !strings.Contains(err.Error(), "eamt[0]") {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "pool6") {
		t.Errorf("empty config: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"pool6": "64:ff9b::/96", "pool7": 1}`)); err == nil || !strings.Contains(err.Error(), "pool7") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"pool6": "64:ff9b::/97"}`)); err == nil {
		t.Error("bad pool6 accepted")
	}
}

// BenchmarkEAMTLookup: longest-prefix lookups at 10, 10k and 1M entries.
func BenchmarkEAMTLookup(b *testing.B) {
	for _, n := range []int{10, 10_000, 1_000_000} {
		entries := make([]EAM, n)
		for i := range entries {
			v4 := netip.AddrFrom4([4]byte{10 + byte(i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
			a16 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			entries[i] = EAM{IPv4: netip.PrefixFrom(v4, 32), IPv6: netip.PrefixFrom(netip.AddrFrom16(a16), 128)}
		}
		// A few shorter prefixes so lookups probe more than one length.
		entries = append(entries, eam("192.0.2.0/24", "2001:db8:1::/120"), eam("198.51.100.0/24", "2001:db8:2::/112"))
		var before, after runtimeMem
		before.read()
		t, err := NewEAMT(entries)
		if err != nil {
			b.Fatal(err)
		}
		after.read()
		perEntry := float64(after.heap-before.heap) / float64(len(entries))
		probe4 := entries[n/2].IPv4.Addr()
		probe6 := entries[n/2].IPv6.Addr()
		b.Run(fmt.Sprintf("entries=%d/dir=4to6", n), func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(perEntry, "B/entry")
			for i := 0; i < b.N; i++ {
				if _, ok := t.To6(probe4); !ok {
					b.Fatal("miss")
				}
			}
		})
		b.Run(fmt.Sprintf("entries=%d/dir=6to4", n), func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(perEntry, "B/entry")
			for i := 0; i < b.N; i++ {
				if _, ok := t.To4(probe6); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

func TestEAMTLookupAllocs(t *testing.T) {
	tab, _ := NewEAMT(figure1)
	a4, a6 := netip.MustParseAddr("192.0.2.195"), netip.MustParseAddr("2001:db8:eeee:9:8000::")
	if n := testing.AllocsPerRun(100, func() { tab.To6(a4); tab.To4(a6) }); n != 0 {
		t.Errorf("%v allocs per lookup", n)
	}
}

// RFC 7757 §3.3: the longest matching prefix wins, on either side, however
// the entries are ordered and whatever lengths lie between.
func TestEAMTLongestMatchBothSides(t *testing.T) {
	entries := []EAM{
		{IPv4: netip.MustParsePrefix("192.0.2.0/24"), IPv6: netip.MustParsePrefix("2001:db8:1::/120")},
		{IPv4: netip.MustParsePrefix("198.51.100.7/32"), IPv6: netip.MustParsePrefix("2001:db8:1::7/128")},
		{IPv4: netip.MustParsePrefix("203.0.113.0/28"), IPv6: netip.MustParsePrefix("2001:db8:1::/124")},
		{IPv4: netip.MustParsePrefix("192.0.2.128/25"), IPv6: netip.MustParsePrefix("2001:db8:2::/121")},
		{IPv4: netip.MustParsePrefix("192.0.2.130/32"), IPv6: netip.MustParsePrefix("2001:db8:3::130/128")},
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}} {
		var es []EAM
		for _, i := range order {
			es = append(es, entries[i])
		}
		tab, err := NewEAMT(es)
		if err != nil {
			t.Fatal(err)
		}
		for in, want := range map[string]string{
			"2001:db8:1::7":  "198.51.100.7", // the /128 over the /124 and the /120
			"2001:db8:1::9":  "203.0.113.9",  // the /124 over the /120
			"2001:db8:1::42": "192.0.2.66",   // only the /120
			"192.0.2.130":    "2001:db8:3::130",
			"192.0.2.131":    "2001:db8:2::3", // the /25 over the /24
			"192.0.2.7":      "2001:db8:1::7", // only the /24
		} {
			a := netip.MustParseAddr(in)
			var got netip.Addr
			var ok bool
			if a.Is6() {
				got, ok = tab.To4(a)
			} else {
				got, ok = tab.To6(a)
			}
			if !ok || got != netip.MustParseAddr(want) {
				t.Errorf("order %v: %v maps to %v (%v), want %s", order, a, got, ok, want)
			}
		}
	}
}

// To6 and To4 against a bit-by-bit reference of RFC 7757 §3.3, for every
// IPv4 prefix length and a spread of IPv6 ones (the suffix copied right
// after the IPv6 prefix, the rest zero), with the table's masks at every
// length.
func TestEAMTAgainstReference(t *testing.T) {
	bit := func(b []byte, i int) byte { return b[i/8] >> (7 - i%8) & 1 }
	set := func(b []byte, i int, v byte) {
		if v != 0 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	rng := rand.New(rand.NewSource(7))
	for bits4 := 0; bits4 <= 32; bits4++ {
		s4 := 32 - bits4
		for _, bits6 := range []int{0, 1, 32, 63, 64, 65, 95, 96, 100, 127 - s4, 128 - s4} {
			if bits6 < 0 || bits6 > 128-s4 {
				continue
			}
			var p4 [4]byte
			var p6 [16]byte
			rng.Read(p4[:])
			rng.Read(p6[:])
			pre4 := netip.PrefixFrom(netip.AddrFrom4(p4), bits4).Masked()
			pre6 := netip.PrefixFrom(netip.AddrFrom16(p6), bits6).Masked()
			if pre6.Addr().Is4In6() {
				continue
			}
			tab, err := NewEAMT([]EAM{{IPv4: pre4, IPv6: pre6}})
			if err != nil {
				t.Fatalf("%v <-> %v: %v", pre4, pre6, err)
			}
			for range 8 {
				var a4 [4]byte
				rng.Read(a4[:])
				in4 := pre4.Addr().As4()
				for i := 0; i < s4; i++ { // a's host bits, the prefix's net bits
					in4[(bits4+i)/8] &^= 1 << (7 - (bits4+i)%8)
					set(in4[:], bits4+i, bit(a4[:], bits4+i))
				}
				want6 := pre6.Addr().As16()
				for i := 0; i < s4; i++ {
					set(want6[:], bits6+i, bit(in4[:], bits4+i))
				}
				got6, ok := tab.To6(netip.AddrFrom4(in4))
				if !ok || got6 != netip.AddrFrom16(want6) {
					t.Fatalf("%v <-> %v: To6(%v) = %v, %v; want %v", pre4, pre6, netip.AddrFrom4(in4), got6, ok, netip.AddrFrom16(want6))
				}
				// Back, with junk in the bits after the suffix, which To4
				// discards.
				junk := want6
				for i := bits6 + s4; i < 128; i++ {
					set(junk[:], i, byte(rng.Intn(2)))
				}
				got4, ok := tab.To4(netip.AddrFrom16(junk))
				if !ok || got4 != netip.AddrFrom4(in4) {
					t.Fatalf("%v <-> %v: To4(%v) = %v, %v; want %v", pre4, pre6, netip.AddrFrom16(junk), got4, ok, netip.AddrFrom4(in4))
				}
			}
		}
	}
	var none *EAMT
	if none.Len() != 0 {
		t.Error("a nil table has entries")
	}
}

// RFC 7757 §3.2: the IPv4 suffix may be as long as the IPv6 suffix, not
// longer.
func TestEAMTSuffixLengths(t *testing.T) {
	if _, err := NewEAMT([]EAM{{IPv4: netip.MustParsePrefix("192.0.2.0/24"), IPv6: netip.MustParsePrefix("2001:db8::/120")}}); err != nil {
		t.Errorf("8 bits each side: %v", err)
	}
	if _, err := NewEAMT([]EAM{{IPv4: netip.MustParsePrefix("192.0.2.0/24"), IPv6: netip.MustParsePrefix("2001:db8::/121")}}); err == nil || !strings.Contains(err.Error(), "the IPv4 suffix (8 bits) is longer than the IPv6 suffix (7 bits)") {
		t.Errorf("8 bits into 7: %v", err)
	}
}
