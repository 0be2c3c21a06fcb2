package ipword

import (
	"math/rand"
	"net/netip"
	"testing"
)

func TestLayoutDirect(t *testing.T) {
	// Every Go release since netip has this layout; one that changes it
	// would turn the fast path off silently, and TestRoundTrip would test
	// the portable path twice.
	if !direct {
		t.Error("netip.Addr's layout no longer starts with the two words: the direct path is off; update layoutMatches and the accessors")
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, d := range []bool{true, false} {
		saved := direct
		direct = d && saved
		for i := 0; i < 1000; i++ {
			var b [16]byte
			rng.Read(b[:])
			a := netip.AddrFrom16(b)
			hi, lo := Words(a)
			if got := From6(hi, lo); got != a {
				t.Fatalf("From6(Words(%v)) = %v", a, got)
			}
			var out [16]byte
			Put6(out[:], a)
			if out != b || Get6(out[:]) != a {
				t.Fatalf("Put6/Get6 %v", a)
			}
		}
		direct = saved
	}
	if From4(0xc0000221) != netip.MustParseAddr("192.0.2.33") {
		t.Error("From4")
	}
}

func TestZeroAllocs(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1")
	var b [16]byte
	if n := testing.AllocsPerRun(100, func() { hi, lo := Words(a); a = From6(hi, lo); Put6(b[:], a); a = Get6(b[:]) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
