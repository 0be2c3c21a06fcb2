package handoff

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/handoff/internal/vectors"
)

func TestTokenCookie(t *testing.T) {
	key := func(first byte) (k [32]byte) {
		for i := range k {
			k[i] = first + byte(i)
		}
		return k
	}
	s, n1, n9 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9")
	for _, tt := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"token E1", Token(key(0x00), s, DefaultServerPort, vectors.Epoch1), vectors.Token1},
		{"cookie E1", Cookie(key(0x20), n1, DefaultControlPort, vectors.Epoch1), vectors.Cookie1},
		{"token E7", Token(key(0x40), s, DefaultServerPort, 0x0f1e2d3c4b5a6978), 0xc6c7cc74b1d7b70f},
		{"cookie E7", Cookie(key(0x20), n9, DefaultControlPort, 0x0f1e2d3c4b5a6978), 0x2bd1c3f94b796527},
		{"token E8", Token(key(0x60), s, DefaultServerPort, 0xc4a1e07b93d2586f), 0xc746a6cc57ec2113},
		{"cookie E8", Cookie(key(0x20), n1, DefaultControlPort, 0xc4a1e07b93d2586f), 0x421aafe088f59b00},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %016x, want %016x", tt.name, tt.got, tt.want)
		}
	}
}

// §13 test 2: datagrams dropped whole.

// Generations compare in serial number arithmetic (RFC 1982, §7.1): newer
// by 1 up to 2^31-1 steps, across the wrap too; equal or 2^31 apart is
// not newer either way.
func TestGenerationNewer(t *testing.T) {
	for _, tc := range []struct {
		a, b uint32
		want bool
	}{
		{1, 0, true},
		{0, 1, false},
		{7, 7, false},
		{0, 0xffffffff, true}, // across the wrap
		{0xffffffff, 0, false},
		{1<<31 - 1, 0, true}, // the farthest still newer
		{1 << 31, 0, false},  // half the circle: neither
		{0, 1 << 31, false},
		{5 + 1<<31 - 1, 5, true},
	} {
		if got := GenerationNewer(tc.a, tc.b); got != tc.want {
			t.Errorf("GenerationNewer(%#x, %#x) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
