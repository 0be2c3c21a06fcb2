package translate

import (
	"bytes"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// ext4884 is an RFC 4884 extension structure: the version 2 header and
// one empty object (class 1, c-type 1).
var ext4884 = []byte{0x20, 0, 0, 0, 0, 4, 1, 1}

// RFC 7915 §4.2 and §5.2 with RFC 4884: Time Exceeded carries a length
// attribute in both families (32-bit words in ICMPv4, 64-bit words in
// ICMPv6); the quoted packet is translated, padded to at least 128 bytes
// and the unit, and the extension follows it. Destination Unreachable is
// the same.
func TestRFC4884LengthAttribute(t *testing.T) {
	x := newTestTranslator(t, testCf)
	for _, c := range []struct {
		name  string
		typ4  uint8
		code4 uint8
		typ6  uint8
		code6 uint8
	}{
		{"Time Exceeded", header.ICMPv4TimeExceeded, 0, header.ICMPv6TimeExceeded, 0},
		{"Destination Unreachable", header.ICMPv4DstUnreachable, 1, header.ICMPv6DstUnreachable, 0},
	} {
		// 4 to 6: a 100-byte quoted packet padded to 128 (32 words), then
		// the extension. Translated, the 148 bytes (padding included)
		// keep the 144 of whole 64-bit words (18).
		q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, make([]byte, 72)))
		body := append(append(append([]byte(nil), q4...), make([]byte, 128-len(q4))...), ext4884...)
		in := icmpError4To6(c.typ4, c.code4, 32<<16, body)
		out, r := run(x.To6, in)
		if r.Verdict != Forward || out[40] != c.typ6 || out[41] != c.code6 || out[44] != 18 ||
			len(out) != 40+8+144+len(ext4884) || !bytes.Equal(out[len(out)-len(ext4884):], ext4884) {
			t.Errorf("%s 4to6: %v, length attribute %d, %d bytes % x", c.name, r, out[44], len(out), out)
		}
		// 6 to 4: a 128-byte quoted packet (16 words), then the
		// extension. Translated, 108 bytes pad to 128 (32 words).
		q6 := testpkt.IPv6{Src: h4v6, Dst: h6, HopLimit: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4v6, h6, 53, 1000, make([]byte, 80)))
		body = append(append([]byte(nil), q6...), ext4884...)
		in = icmpError6To4(c.typ6, c.code6, 16<<24, body)
		out, r = run(x.To4, in)
		if r.Verdict != Forward || out[20] != c.typ4 || out[25] != 32 ||
			len(out) != 20+8+128+len(ext4884) || !bytes.Equal(out[len(out)-len(ext4884):], ext4884) {
			t.Errorf("%s 6to4: %v, length attribute %d, %d bytes % x", c.name, r, out[25], len(out), out)
		}
	}
}

// RFC 7915 §4.2 and §5.2: the MTU in a translated Packet Too Big or
// Fragmentation Needed, with links where each term of the min decides.
func TestMTUTranslation(t *testing.T) {
	c, err := Config{IPv4MTU: 9000, IPv6MTU: 9000}.compile()
	if err != nil {
		t.Fatal(err)
	}
	// A router before RFC 1191 says 0: the plateau below the quoted
	// packet's Total Length, not the one equal to it.
	for _, tc := range []struct {
		mtu4, inner uint16
		want        uint32
	}{
		{0, 2002, 1492 + 20}, {0, 2003, 2002 + 20}, {0, 1492, 1280} /* 1006+20, raised to the IPv6 minimum */, {1400, 0, 1420}, {0, 8166, 4352 + 20},
	} {
		if got := c.mtu4to6(tc.mtu4, tc.inner); got != tc.want {
			t.Errorf("mtu4to6(%d, inner %d) = %d, want %d", tc.mtu4, tc.inner, got, tc.want)
		}
	}
	c, _ = Config{IPv4MTU: 9000, IPv6MTU: 1500}.compile()
	for _, tc := range []struct {
		mtu6 uint32
		want uint16
	}{
		{9000, 1480}, {1400, 1380}, {20, 0}, {19, 0}, {21, 1},
	} {
		if got := c.mtu6to4(tc.mtu6); got != tc.want {
			t.Errorf("mtu6to4(%d) with an IPv6 link of 1500 = %d, want %d", tc.mtu6, got, tc.want)
		}
	}
}
