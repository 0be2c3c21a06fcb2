package translate

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// router4 is a router on the IPv4 side that reports errors.
var router4 = netip.MustParseAddr("198.51.100.9")

// icmpError4To6 is an ICMPv4 error from router4 to the IPv6 host's IPv4
// address, quoting quoted.
func icmpError4To6(typ, code uint8, rest uint32, quoted []byte) []byte {
	return testpkt.IPv4{Src: router4, Dst: h6v4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.ICMPError(router4, h6v4, typ, code, rest, quoted))
}

// icmpError6To4 is an ICMPv6 error from the IPv6 host to the IPv4 host's
// IPv6 address, quoting quoted.
func icmpError6To4(typ, code uint8, rest uint32, quoted []byte) []byte {
	return testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoICMPv6, testpkt.ICMPError(h6, h4v6, typ, code, rest, quoted))
}

// RFC 7915 §4.1: only an unexpired LSRR or SSRR counts; the option walk
// stops at End of Option List, skips No Operation and refuses a broken
// length.
func TestSourceRouteOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []byte
		want bool
	}{
		{"none", nil, false},
		{"end of list", []byte{0, 131, 7, 4}, false},
		{"NOP, LSRR", []byte{1, 131, 7, 4, 0, 0, 0, 0}, true},
		{"SSRR, pointer at its length", []byte{137, 7, 7, 0, 0, 0, 0}, true},
		{"LSRR, pointer past its length", []byte{131, 7, 8, 0, 0, 0, 0}, false},
		{"LSRR of three octets", []byte{131, 3, 3}, true},
		{"record route alone", []byte{7, 3, 4}, false},
		{"a two-octet option, then LSRR", []byte{68, 2, 131, 7, 4, 0, 0, 0, 0}, true},
		{"an option of length 1", []byte{68, 1, 131, 7, 4, 0, 0, 0}, false},
		{"an option longer than the rest", []byte{68, 9, 131, 7, 4, 0, 0, 0}, false},
		{"a lone type octet", []byte{68}, false},
	} {
		if got := sourceRoute(c.opts); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}

// A bare IPv4 header (Total Length 20, a protocol with no header to
// read) is a whole packet: it becomes a bare IPv6 header.
func TestBareIPv4Header(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(50, nil) // ESP
	out, r := run(x.To6, in)
	if r.Verdict != Forward || len(out) != 40 || out[6] != 50 {
		t.Errorf("%v % x", r, out)
	}
}

// metaPolicy records the Meta of the errors it maps.
type metaPolicy struct {
	PrefixPolicy
	got Meta
}

func (p *metaPolicy) Error4(src, dst, qsrc, qdst netip.Addr, m Meta) (netip.Addr, netip.Addr, Reason) {
	p.got = m
	return p.PrefixPolicy.Error4(src, dst, qsrc, qdst, m)
}

func (p *metaPolicy) Error6(src, dst, qsrc, qdst netip.Addr, m Meta) (netip.Addr, netip.Addr, Reason) {
	p.got = m
	return p.PrefixPolicy.Error6(src, dst, qsrc, qdst, m)
}

// FlowFromQuotedDst (RFC 7757 §4.2.1 rule 3) is set on an error whose
// source is the destination of the packet it quotes, in both directions,
// and only then.
func TestFromQuotedDst(t *testing.T) {
	p := &metaPolicy{PrefixPolicy: PrefixPolicy{Prefix: nsp}}
	x, err := New(testCf, p)
	if err != nil {
		t.Fatal(err)
	}
	router6 := nsp.Embed(router4)
	q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, nil))
	q6 := testpkt.IPv6{Src: h4v6, Dst: h6, HopLimit: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4v6, h6, 53, 1000, nil))
	for _, c := range []struct {
		name string
		to4  bool
		pkt  []byte
		want bool
	}{
		{"4to6 from the quoted destination", false, testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.ICMPError(h4, h6v4, 3, 3, 0, q4)), true},
		{"4to6 from the quoted destination, a bare quoted header", false, testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.ICMPError(h4, h6v4, 3, 3, 0, testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(50, nil))), true},
		{"4to6 from a router", false, icmpError4To6(3, 3, 0, q4), false},
		{"6to4 from the quoted destination", true, icmpError6To4(1, 4, 0, q6), true},
		{"6to4 from a router", true, testpkt.IPv6{Src: router6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoICMPv6, testpkt.ICMPError(router6, h4v6, 1, 4, 0, q6)), false},
	} {
		p.got = 0
		f := x.To6
		if c.to4 {
			f = x.To4
		}
		if _, r := run(f, c.pkt); r.Verdict != Forward || p.got.Has(FlowFromQuotedDst) != c.want || !p.got.Has(FlowICMPError) {
			t.Errorf("%s: %v, flags %b", c.name, r, p.got.Flags())
		}
	}
}

// RFC 7915 §5.2 Figure 6 at its ends: pointer 0 maps to 0, 39 (the last
// octet of the destination address) to 16, and 40, past the header, is
// dropped.
func TestParamProblemPointerEnds6to4(t *testing.T) {
	x := newTestTranslator(t, testCf)
	q6 := testpkt.IPv6{Src: h4v6, Dst: h6, HopLimit: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4v6, h6, 53, 1000, nil))
	for ptr, want := range map[uint32]int{0: 0, 39: 16, 40: -1} {
		in := icmpError6To4(header.ICMPv6ParamProblem, 0, ptr, q6)
		out, r := run(x.To4, in)
		switch {
		case want < 0 && r.Verdict != Drop:
			t.Errorf("pointer %d: %v, want a drop", ptr, r)
		case want >= 0 && (r.Verdict != Forward || out[20] != header.ICMPv4ParamProblem || int(out[24]) != want):
			t.Errorf("pointer %d: %v % x, want pointer %d", ptr, r, out, want)
		}
	}
}

// RFC 4884 lengths that do not split the body as a length should: one
// longer than the body is no length at all (the body is all quoted
// packet), and one that covers the whole body leaves an empty extension.
func TestRFC4884LengthOddities(t *testing.T) {
	x := newTestTranslator(t, testCf)
	q6 := testpkt.IPv6{Src: h4v6, Dst: h6, HopLimit: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4v6, h6, 53, 1000, make([]byte, 80)))
	for _, c := range []struct {
		name    string
		words   uint32
		lenAttr uint8
		size    int
	}{
		{"longer than the body", 255, 0, 20 + 8 + 108}, {"the whole body", 16, 32, 20 + 8 + 128},
	} {
		in := icmpError6To4(header.ICMPv6TimeExceeded, 0, c.words<<24, q6)
		out, r := run(x.To4, in)
		if r.Verdict != Forward || out[25] != c.lenAttr || len(out) != c.size {
			t.Errorf("%s: %v, length attribute %d, %d bytes", c.name, r, out[25], len(out))
		}
	}
}

// RFC 7915 §5.1: DF is set on a translated packet over 1260 bytes, so a
// 1261-byte one over a 1000-byte IPv4 link gets Packet Too Big, and one
// of exactly 1260 is fragmented.
func TestDFAt1260(t *testing.T) {
	cfg := testCf
	cfg.IPv4MTU = 1000
	x := newTestTranslator(t, cfg)
	for size, want := range map[int]Verdict{1260: Fragment, 1261: Reply} {
		in := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, size-28)))
		if out, r := run(x.To4, in); r.Verdict != want || want == Fragment && header.IPv4(out).DF() {
			t.Errorf("IPv4 size %d: %v", size, r)
		}
	}
}

// innerSixPolicy breaks the Policy contract for quoted packets only.
type innerSixPolicy struct{ PrefixPolicy }

func (p *innerSixPolicy) To4(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	s, d, ps, r := p.PrefixPolicy.To4(src, dst, ports, m)
	if m.Has(FlowInner) {
		s = src
	}
	return s, d, ps, r
}

// A quoted packet given an IPv6 address is refused like an outer one.
func TestPolicyGivingIPv6ToQuoted(t *testing.T) {
	x, err := New(Config{}, &innerSixPolicy{PrefixPolicy{Prefix: nsp}})
	if err != nil {
		t.Fatal(err)
	}
	if _, r := run(x.To4, icmpError6()); r.Verdict != Drop || r.Reason != ReasonUntranslatableSrc {
		t.Errorf("%v, want dropped as untranslatable-source", r)
	}
}

// fitError's layout: the quoted packet padded to 128 bytes and the unit,
// cut to what fits, the extension after it; no extension when it does
// not fit, or when the length would not fit its octet.
func TestFitError(t *testing.T) {
	for _, c := range []struct {
		name                  string
		qlen, elen, unit, max int
		buf                   int // bytes after the quoted packet's start
		end                   int
		attr                  uint8
	}{
		{"padded to 128", 100, 8, 4, 548, 1000, 136, 32},
		{"whole words kept", 300, 8, 8, 1232, 1000, 304, 37},
		{"cut to fit", 600, 8, 4, 520, 1000, 520, 128},
		{"no room for 128 and the extension", 600, 400, 4, 520, 1000, 520, 0},
		{"padding that just fits the buffer", 100, 8, 4, 548, 136, 136, 32},
		{"padding one short of the buffer", 100, 8, 4, 548, 135, 100, 0},
		{"255 units", 1020, 8, 4, 2000, 2000, 1028, 255},
		{"256 units", 1024, 8, 4, 2000, 2000, 1024, 0},
	} {
		buf := make([]byte, c.buf)
		for i := range buf {
			buf[i] = 0xee
		}
		qe := min(c.qlen, c.buf)
		end, attr := fitError(buf, 0, qe, min(qe+c.elen, c.buf), true, c.unit, c.max)
		if end != c.end || attr != c.attr {
			t.Errorf("%s: end %d, attribute %d; want %d, %d", c.name, end, attr, c.end, c.attr)
		}
	}
}

// sum4Words is the ones' complement sum of two addresses' 16-bit words,
// carries folded until none is left, including the last carry a second
// fold makes.
func TestSum4Words(t *testing.T) {
	ref := func(x, y uint32) uint16 {
		s := uint32(0)
		for _, w := range []uint32{x >> 16, x & 0xffff, y >> 16, y & 0xffff} {
			s += w
			s = s&0xffff + s>>16
		}
		return uint16(s)
	}
	for _, c := range [][2]uint32{{0xffffffff, 0x00010000}, {0xffffffff, 0xffffffff}, {0, 0}, {0xc0000221, 0xc6336402}, {0x0000ffff, 0x00000001}} {
		if got, want := sum4Words(c[0], c[1]), ref(c[0], c[1]); got != want {
			t.Errorf("sum4Words(%#x, %#x) = %#x, want %#x", c[0], c[1], got, want)
		}
	}
}

// An echo quoted in an ICMPv4 error, with no data after its 8-byte
// header, is translated to an ICMPv6 echo too.
func TestQuotedEchoHeaderOnly(t *testing.T) {
	x := newTestTranslator(t, testCf)
	q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoICMPv4, testpkt.Echo(h6v4, h4, header.ICMPv4EchoRequest, 7, 1, nil))
	in := icmpError4To6(header.ICMPv4TimeExceeded, 0, 0, q4)
	out, r := run(x.To6, in)
	if r.Verdict != Forward || len(out) != 40+8+40+8 || out[88] != header.ICMPv6EchoRequest {
		t.Errorf("%v % x", r, out)
	}
}
