package siit

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// exact translates pkt in a buffer with the given room in front and none
// behind, and returns the result's version and addresses.
func exact(t *testing.T, f func([]byte, int, int) translate.Result, pkt []byte, front int) (v byte, src, dst netip.Addr, r translate.Result) {
	t.Helper()
	buf := make([]byte, front+len(pkt))
	copy(buf[front:], pkt)
	r = f(buf, front, len(pkt))
	if r.Verdict == translate.Drop {
		return 0, src, dst, r
	}
	p := r.Packet(buf)
	if v = p[0] >> 4; v == 6 {
		return v, header.IPv6(p).Src(), header.IPv6(p).Dst(), r
	}
	return v, header.IPv4(p).Src(), header.IPv4(p).Dst(), r
}

// Intrinsic hairpinning (RFC 7757 §4.2.2) whatever the buffer: the packet
// at offset 0, and ending where the buffer ends; and with set A and set B
// told apart by the protocol, not by payload octets that look like an
// ICMP error's type.
func TestHairpinIntrinsicEdges(t *testing.T) {
	x := hairpinTranslator(t, HairpinIntrinsic)
	toB := wkp.Embed(mustA("192.0.2.2"))
	for _, front := range []int{0, translate.Headroom} {
		for _, sport := range []uint16{1, 0x0100, 0x0300, 0x0b00} { // first octets 1, 3, 11: ICMP error types, were it ICMP
			// 48 octets of payload: long enough to be read as a quoted
			// packet, were the datagram taken for an ICMP error.
			pkt := testpkt.IPv6{Src: hostA, Dst: toB, HopLimit: 10}.Packet(17, testpkt.UDP(hostA, toB, sport, 2, make([]byte, 48)))
			v, src, dst, r := exact(t, x.To4, pkt, front)
			if v != 6 || src != mustA("64:ff9b::192.0.2.1") || dst != hostB {
				t.Errorf("front %d, source port %#04x: %v %v -> %v (%v %v); want hairpinned, 64:ff9b::192.0.2.1 -> %v", front, sport, v, src, dst, r.Verdict, r.Reason, hostB)
			}
		}
	}
	// Set B decides an error by its quoted source, not its destination:
	// an error to a pool6 address outside the EAMT, about a packet from
	// 192.0.2.1 (an EAM host), goes back to the IPv6 side, quoting a
	// packet from that host.
	far := wkp.Embed(mustA("198.51.100.50"))
	q := testpkt.IPv6{Src: wkp.Embed(mustA("192.0.2.1")), Dst: hostB}.Packet(17, testpkt.UDP(wkp.Embed(mustA("192.0.2.1")), hostB, 1, 2, []byte("abcd")))
	e := testpkt.IPv6{Src: hostB, Dst: far}.Packet(58, testpkt.ICMPError(hostB, far, 1, 0, 0, q))
	buf := make([]byte, translate.Headroom+len(e))
	copy(buf[translate.Headroom:], e)
	r := x.To4(buf, translate.Headroom, len(e))
	if out := r.Packet(buf); r.Verdict == translate.Drop || out[0]>>4 != 6 || header.IPv6(out[header.IPv6Size+header.ICMPHeaderSize:]).Src() != hostA {
		t.Errorf("an error whose quoted source is an EAM host: %v %v, % x; want hairpinned, quoting a packet from %v", r.Verdict, r.Reason, out, hostA)
	}
	// An ICMPv6 error too short to quote a whole header is dropped, not
	// read past its end.
	short := testpkt.IPv6{Src: hostB, Dst: far}.Packet(58, testpkt.ICMPError(hostB, far, 1, 0, 0, q[:20]))
	if _, _, _, r := exact(t, x.To4, short, translate.Headroom); r.Verdict != translate.Drop {
		t.Errorf("an ICMPv6 error quoting 20 octets: %v", r.Verdict)
	}
	// A length past the buffer is a drop, not a panic.
	buf = make([]byte, 100)
	if r := x.To4(buf, 0, 200); r.Verdict != translate.Drop {
		t.Errorf("n past the buffer: %v", r.Verdict)
	}
}

// Translate picks the direction by the version even at offset 0, and does
// not read past the buffer for an empty packet at its end.
func TestTranslateByVersion(t *testing.T) {
	x := hairpinTranslator(t, HairpinOff)
	six := testpkt.IPv6{Src: hostA, Dst: wkp.Embed(mustA("198.51.100.9")), HopLimit: 9}.Packet(17, testpkt.UDP(hostA, wkp.Embed(mustA("198.51.100.9")), 1, 2, nil))
	if v, _, _, r := exact(t, x.Translate, six, 0); v != 4 {
		t.Errorf("IPv6 at offset 0: IPv%d (%v %v)", v, r.Verdict, r.Reason)
	}
	four := testpkt.IPv4{Src: mustA("198.51.100.9"), Dst: mustA("192.0.2.1"), TTL: 9}.Packet(17, testpkt.UDP(mustA("198.51.100.9"), mustA("192.0.2.1"), 1, 2, nil))
	if v, _, _, r := exact(t, x.Translate, four, translate.Headroom); v != 6 {
		t.Errorf("IPv4: IPv%d (%v %v)", v, r.Verdict, r.Reason)
	}
	buf := make([]byte, 64)
	for _, n := range []int{0, 1} {
		if r := x.Translate(buf, len(buf), n); r.Verdict != translate.Drop {
			t.Errorf("a packet of %d octets at the buffer's end: %v", n, r.Verdict)
		}
	}
}

// RFC 7915 §4.1/§5.1: multicast (224/4 and up) never goes through pool6,
// from its first address on.
func TestPool6RefusesMulticast(t *testing.T) {
	x := hairpinTranslator(t, HairpinOff)
	for _, a := range []string{"224.0.0.1", "239.1.2.3", "255.255.255.255"} {
		if _, ok := x.Map6(wkp.Embed(mustA(a))); ok {
			t.Errorf("%s mapped through pool6", a)
		}
	}
	if _, ok := x.Map6(wkp.Embed(mustA("223.255.255.255"))); !ok {
		t.Error("223.255.255.255, unicast, refused")
	}
}
