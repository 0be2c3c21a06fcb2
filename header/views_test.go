package header

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/internal/fixture"
)

// An IPv4 header with options, a later fragment with More Fragments set,
// carrying UDP: read field by field, then written field by field.
func TestIPv4View(t *testing.T) {
	pkt := fixture.Hex(t, "46 b8 0024 1234 2010 40 11 5895 c0000201 c6336402 01010100"+ // IHL 6, MF, offset 16
		" 1f90 0035 000c abcd 786c6174") // UDP 8080 -> 53, "xlat"
	h := IPv4(pkt)
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	switch {
	case !h.Valid() || !h.ValidChecksum() || h.CalculateChecksum() != 0x5895:
		t.Fatalf("does not verify: %#04x", h.CalculateChecksum())
	case h.Version() != 4 || h.HeaderLen() != 24 || h.TOS() != 0xb8 || h.TotalLen() != 36 || h.ID() != 0x1234:
		t.Errorf("first words: %d %d %#x %d %#x", h.Version(), h.HeaderLen(), h.TOS(), h.TotalLen(), h.ID())
	case h.DF() || !h.MF() || h.FragOffset() != 16 || !h.IsFragment() || h.FlagsOffset() != 0x2010:
		t.Errorf("flags and offset %#04x", h.FlagsOffset())
	case h.TTL() != 64 || h.Protocol() != ProtoUDP || h.Checksum() != 0x5895:
		t.Errorf("TTL %d, protocol %d, checksum %#04x", h.TTL(), h.Protocol(), h.Checksum())
	case h.Src() != src || h.Dst() != dst || !bytes.Equal(h.SrcBytes(), src.AsSlice()) || !bytes.Equal(h.DstBytes(), dst.AsSlice()):
		t.Errorf("addresses %v %v", h.Src(), h.Dst())
	case !bytes.Equal(h.Options(), []byte{1, 1, 1, 0}) || !bytes.Equal(h.Payload(), pkt[24:]):
		t.Errorf("options % x, payload % x", h.Options(), h.Payload())
	}
	if IPv4(pkt[:35]).Valid() {
		t.Error("valid with Total Length past the buffer")
	}

	w := IPv4(make([]byte, 24))
	w.SetVersionIHL(24)
	w.SetTOS(0xb8)
	w.SetTotalLen(36)
	w.SetID(0x1234)
	w.SetFlagsOffset(IPv4FlagMF | 16)
	w.SetTTL(64)
	w.SetProtocol(ProtoUDP)
	w.SetSrc(src)
	w.SetDst(dst)
	copy(w[20:], []byte{1, 1, 1, 0})
	w.SetChecksumFromHeader()
	if !bytes.Equal(w, pkt[:24]) {
		t.Errorf("written\n% x\nwant\n% x", []byte(w), pkt[:24])
	}

	u := UDP(h.Payload())
	if u.SrcPort() != 8080 || u.DstPort() != 53 || u.Length() != 12 || u.Checksum() != 0xabcd {
		t.Errorf("UDP % x", []byte(u))
	}
	wu := UDP(make([]byte, UDPSize))
	wu.SetSrcPort(8080)
	wu.SetDstPort(53)
	wu.SetLength(12)
	wu.SetChecksum(0xabcd)
	if !bytes.Equal(wu, u[:UDPSize]) {
		t.Errorf("UDP written % x", []byte(wu))
	}
}

func TestTCPView(t *testing.T) {
	b := fixture.Hex(t, "04d2 0050 00000001 00000002 50 12 ffff 1234 0000")
	h := TCP(b)
	if h.SrcPort() != 1234 || h.DstPort() != 80 || h.Seq() != 1 || h.Ack() != 2 || h.DataOffset() != 20 ||
		h.Flags() != TCPFlagSYN|TCPFlagACK || h.Checksum() != 0x1234 {
		t.Errorf("% x", b)
	}
	w := TCP(bytes.Clone(b))
	w.SetSrcPort(4321)
	w.SetDstPort(443)
	w.SetChecksum(0xbeef)
	if !bytes.Equal(w, fixture.Hex(t, "10e1 01bb 00000001 00000002 50 12 ffff beef 0000")) {
		t.Errorf("written % x", []byte(w))
	}
}

// The rest-of-header word means something different for each type.
func TestICMPViews(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    string
		ok   func(ICMPv4) bool
	}{
		{"echo", "08 00 f7fd 0001 0002", func(h ICMPv4) bool {
			return h.Type() == ICMPv4EchoRequest && h.Code() == 0 && h.Checksum() == 0xf7fd && h.Ident() == 1 && h.Seq() == 2
		}},
		{"parameter problem", "0c 00 0000 14 000000", func(h ICMPv4) bool { return h.Pointer() == 20 }},
		{"fragmentation needed", "03 04 0000 0000 05dc", func(h ICMPv4) bool { return h.Code() == ICMPv4CodeFragNeeded && h.MTU() == 1500 }},
		{"RFC 4884 length", "0b 00 0000 00 20 0000", func(h ICMPv4) bool { return h.Length() == 32 && ICMPv4IsError(h.Type()) }},
	} {
		if !tc.ok(ICMPv4(fixture.Hex(t, tc.b))) {
			t.Errorf("ICMPv4 %s: %s", tc.name, tc.b)
		}
	}
	for _, tc := range []struct {
		name string
		b    string
		ok   func(ICMPv6) bool
	}{
		{"echo", "80 00 1111 1234 0001", func(h ICMPv6) bool {
			return h.Type() == ICMPv6EchoRequest && h.Checksum() == 0x1111 && h.Ident() == 0x1234 && !ICMPv6IsError(h.Type())
		}},
		{"packet too big", "02 00 0000 00000500", func(h ICMPv6) bool { return h.MTU() == 1280 && ICMPv6IsError(h.Type()) }},
		{"parameter problem", "04 00 0000 00000028", func(h ICMPv6) bool { return h.Pointer() == 40 }},
		{"RFC 4884 length", "01 04 0000 0a 000000", func(h ICMPv6) bool { return h.Code() == ICMPv6CodePortUnreach && h.Length() == 10 }},
	} {
		if !tc.ok(ICMPv6(fixture.Hex(t, tc.b))) {
			t.Errorf("ICMPv6 %s: %s", tc.name, tc.b)
		}
	}

	w4 := ICMPv4(make([]byte, ICMPHeaderSize))
	w4.SetTypeCode(ICMPv4EchoReply, 0)
	w4.SetChecksum(0xabcd)
	w4.SetRest(0x00010002)
	w4.SetIdent(7)
	if !bytes.Equal(w4, fixture.Hex(t, "00 00 abcd 0007 0002")) {
		t.Errorf("ICMPv4 written % x", []byte(w4))
	}
	w6 := ICMPv6(make([]byte, ICMPHeaderSize))
	w6.SetTypeCode(ICMPv6EchoReply, 0)
	w6.SetChecksum(0xabcd)
	w6.SetRest(0x00010002)
	w6.SetIdent(7)
	if !bytes.Equal(w6, fixture.Hex(t, "81 00 abcd 0007 0002")) {
		t.Errorf("ICMPv6 written % x", []byte(w6))
	}
}

// UpperLayer walks every extension header RFC 8200 §4 lists before the
// upper layer, AH by its own length unit (RFC 4302 §2.2), and says when
// the packet does not hold the upper-layer header.
func TestUpperLayer(t *testing.T) {
	ip := func(nh uint8, ext string) IPv6 {
		h := make(IPv6, IPv6Size)
		h.SetVersionClassFlow(0, 0)
		h.SetNextHeader(nh)
		e := fixture.Hex(t, ext)
		h.SetPayloadLen(uint16(len(e)))
		return append(h, e...)
	}
	for _, tc := range []struct {
		name  string
		pkt   IPv6
		off   int
		proto uint8
		ok    bool
	}{
		{"none", ip(ProtoUDP, "0001 0002 0008 0000"), 40, ProtoUDP, true},
		{"hop-by-hop, destination options", ip(ProtoHopByHop, "3c 00 0000 00000000"+"11 01 0000 00000000 00000000 00000000"+"00010002"), 64, ProtoUDP, true},
		{"AH (payload length 4: 24 bytes)", ip(ProtoAH, "06 04 0000 00000001 00000001 00000000 00000000 00000000"+"04d20050"), 64, ProtoTCP, true},
		{"first fragment", ip(ProtoFragment, "11 00 0001 12345678"+"00010002"), 48, ProtoUDP, true},
		{"later fragment", ip(ProtoFragment, "11 00 00b8 12345678"+"00000000"), 40, ProtoUDP, false},
		{"hop-by-hop cut short", ip(ProtoHopByHop, "11 00 0000"), 40, ProtoHopByHop, false},
		{"AH cut short", ip(ProtoAH, "06 04 0000"), 40, ProtoAH, false},
		{"length past the end", ip(ProtoDstOpts, "11 02 0000 00000000"), 64, ProtoUDP, false},
	} {
		off, proto, ok := tc.pkt.UpperLayer()
		if off != tc.off || proto != tc.proto || ok != tc.ok {
			t.Errorf("%s: %d, %d, %v; want %d, %d, %v", tc.name, off, proto, ok, tc.off, tc.proto, tc.ok)
		}
	}
}

// An Ethernet header carrying IPv6, read and then written whole; and the
// offsets the XDP program uses point at the fields the accessors read.
func TestEthernetView(t *testing.T) {
	frame := fixture.Hex(t, "020000000080 02000000000a 86dd")
	e := Ethernet(frame)
	dst, src := [6]byte{2, 0, 0, 0, 0, 0x80}, [6]byte{2, 0, 0, 0, 0, 0x0a}
	if e.Dst() != dst || e.Src() != src || e.Type() != EtherTypeIPv6 {
		t.Errorf("read % x % x %#04x", e.Dst(), e.Src(), e.Type())
	}
	out := make(Ethernet, EthernetSize)
	out.Encode(dst, src, EtherType(IPv6Version))
	if !bytes.Equal(out, frame) {
		t.Errorf("written % x, want % x", []byte(out), frame)
	}
	if EtherType(IPv4Version) != EtherTypeIPv4 || EtherType(5) != 0 {
		t.Errorf("EtherType(4) %#04x, EtherType(5) %#04x", EtherType(IPv4Version), EtherType(5))
	}
	v4 := fixture.Hex(t, "45b8 0024 1234 0000 40 11 0000 c0000201 c6336402")
	v6 := fixture.Hex(t, "60000000 0008 11 40 20010db8000000000000000000000001 20010db8000000000000000000000002")
	switch {
	case v4[IPv4TOSOffset] != IPv4(v4).TOS() || v4[IPv4ProtocolOffset] != IPv4(v4).Protocol():
		t.Error("IPv4 TOS or protocol offset")
	case netip.AddrFrom4([4]byte(v4[IPv4SrcOffset:])) != IPv4(v4).Src() || netip.AddrFrom4([4]byte(v4[IPv4DstOffset:])) != IPv4(v4).Dst():
		t.Error("IPv4 address offsets")
	case int(v4[IPv4TotalLenOffset])<<8|int(v4[IPv4TotalLenOffset+1]) != int(IPv4(v4).TotalLen()):
		t.Error("IPv4 total length offset")
	case v6[IPv6NextHeaderOffset] != IPv6(v6).NextHeader() || int(v6[IPv6PayloadLenOffset+1]) != int(IPv6(v6).PayloadLen()):
		t.Error("IPv6 next header or payload length offset")
	case netip.AddrFrom16([16]byte(v6[IPv6SrcOffset:])) != IPv6(v6).Src() || netip.AddrFrom16([16]byte(v6[IPv6DstOffset:])) != IPv6(v6).Dst():
		t.Error("IPv6 address offsets")
	}
}
