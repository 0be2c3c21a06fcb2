package header_test

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/fixture"
)

// A SYN's options as Linux sends them (MSS 1460, SACK permitted,
// timestamps, NOP, window scale 7), and the same with the MSS option
// behind one NOP, at an odd offset.
func TestClampMSS(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	for _, tc := range []struct {
		name, opts string
		offset     int
		mss        uint16
	}{
		{"linux", "020405b40402080a0001e2400000000001030307", 22, 1460},
		{"odd", "01020405b401010402080a0001e240000000000303070000", 23, 1460},
		{"none", "0402080a0001e2400000000001030307", 0, 0},
		{"after end", "00020405b4000000", 0, 0},
		{"malformed length", "0200", 0, 0},
		{"overrun", "02080000", 0, 0},
	} {
		opts := fixture.Hex(t, tc.opts)
		seg := make([]byte, 20+len(opts))
		copy(seg[20:], opts)
		seg[12] = byte(len(seg)/4) << 4
		seg[13] = header.TCPFlagSYN
		tcp := header.TCP(seg)
		pseudo := checksum.PseudoHeader4(src, dst, header.ProtoTCP, uint16(len(seg)))
		tcp.SetChecksum(^checksum.Checksum(seg, pseudo))

		if got := tcp.MSSOffset(); got != tc.offset {
			t.Errorf("%s: MSSOffset %d, want %d", tc.name, got, tc.offset)
		}
		if mss, ok := tcp.MSS(); mss != tc.mss || ok != (tc.offset != 0) {
			t.Errorf("%s: MSS %d %v, want %d", tc.name, mss, ok, tc.mss)
		}
		if tcp.ClampMSS(1500) {
			t.Errorf("%s: an MSS below the limit was changed", tc.name)
		}
		changed := tcp.ClampMSS(1220)
		if changed != (tc.mss > 1220) {
			t.Errorf("%s: clamped %v", tc.name, changed)
		}
		if changed {
			if got := uint16(seg[tc.offset])<<8 | uint16(seg[tc.offset+1]); got != 1220 {
				t.Errorf("%s: MSS %d after clamping to 1220", tc.name, got)
			}
		}
		if !checksum.Verify(seg, pseudo) {
			t.Errorf("%s: checksum wrong after clamping", tc.name)
		}
	}
	if header.TCP(make([]byte, 10)).MSSOffset() != 0 {
		t.Error("a short segment has an MSS")
	}
}
