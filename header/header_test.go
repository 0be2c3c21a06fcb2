package header

import (
	"math/rand"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
)

func TestIPv4Encode(t *testing.T) {
	h := make(IPv4, 20)
	f := IPv4Fields{TOS: 0xb8, TotalLength: 0x73, ID: 0x1234, FlagsOffset: IPv4FlagDF, TTL: 64, Protocol: ProtoUDP,
		Src: [4]byte{192, 168, 0, 1}, Dst: [4]byte{192, 168, 0, 199}}
	h.Encode(&f)
	// Total Length 0x73 runs past these 20 bytes: not Valid, though
	// every field reads back.
	if h.Valid() || h.Version() != 4 || h.HeaderLen() != 20 || h.TOS() != 0xb8 ||
		h.TotalLen() != 0x73 || h.ID() != 0x1234 || !h.DF() || h.MF() || h.TTL() != 64 || h.Protocol() != 17 ||
		h.Src() != netip.MustParseAddr("192.168.0.1") || h.Dst() != netip.MustParseAddr("192.168.0.199") {
		t.Fatalf("fields: % x", []byte(h))
	}
	if !h.ValidChecksum() || h.Checksum() != h.CalculateChecksum() {
		t.Errorf("checksum %#04x, recomputed %#04x", h.Checksum(), h.CalculateChecksum())
	}
	// CK-11 of the checksum digest.
	f = IPv4Fields{TotalLength: 0x73, FlagsOffset: IPv4FlagDF, TTL: 64, Protocol: 17, Src: [4]byte{192, 168, 0, 1}, Dst: [4]byte{192, 168, 0, 199}}
	h.Encode(&f)
	if h.Checksum() != 0xb861 {
		t.Errorf("CK-11: %#04x", h.Checksum())
	}
	// The 20-byte fast path and the general sum agree for headers with options.
	opt := make(IPv4, 24)
	copy(opt, h)
	opt[0] = 0x46
	opt[20] = 1
	if opt.CalculateChecksum() != ^checksum.Checksum(append(append([]byte{}, opt[:10]...), opt[12:]...), 0) {
		t.Error("options header checksum")
	}
}

func TestIPv6Fields(t *testing.T) {
	h := make(IPv6, 40)
	h.SetVersionClassFlow(0xb8, 0x12345)
	h.SetPayloadLen(100)
	h.SetNextHeader(ProtoTCP)
	h.SetHopLimit(64)
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("64:ff9b::c000:221")
	h.SetSrc(src)
	h.SetDst(dst)
	if h.Version() != 6 || h.TrafficClass() != 0xb8 || h.FlowLabel() != 0x12345 || h.PayloadLen() != 100 ||
		h.NextHeader() != 6 || h.HopLimit() != 64 || h.Src() != src || h.Dst() != dst {
		t.Fatalf("% x", []byte(h))
	}
	if h.PseudoHeaderSum(6, 100) != checksum.PseudoHeader6(src, dst, 6, 100) {
		t.Error("pseudo-header sum")
	}
	fh := make(IPv6Fragment, 8)
	fh.Set(ProtoUDP, 185, true, 0xdeadbeef)
	if fh.NextHeader() != 17 || fh.Offset() != 185 || !fh.More() || fh.ID() != 0xdeadbeef {
		t.Errorf("fragment header % x", []byte(fh))
	}
}

// ValidChecksum's five-word sum for option-less headers agrees with the
// general checksum on headers that verify, that almost do (one bit off)
// and random ones, including sums that fold more than once.
func TestIPv4ValidChecksumAgrees(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	h := make(IPv4, 20)
	for i := 0; i < 100000; i++ {
		rng.Read(h)
		if i%4 == 3 {
			for j := range h {
				h[j] = 0xff // the largest sums
			}
		}
		h[0] = 0x45
		if i%2 == 0 {
			h.SetChecksumFromHeader()
			if i%8 == 0 {
				h[2+rng.Intn(18)] ^= 1 << rng.Intn(8)
			}
		}
		if got, want := h.ValidChecksum(), checksum.Verify(h, 0); got != want {
			t.Fatalf("% x: ValidChecksum %v, Verify %v", []byte(h), got, want)
		}
	}
}
