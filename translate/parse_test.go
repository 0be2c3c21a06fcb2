package translate

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// Meta.Has is all of the flags, not any of them.
func TestMetaHas(t *testing.T) {
	m := MakeMeta(header.ProtoUDP, 0, FlowInner|FlowICMPError)
	for _, c := range []struct {
		flags FlowFlags
		want  bool
	}{{FlowInner, true}, {FlowInner | FlowICMPError, true}, {FlowHairpin, false}, {FlowInner | FlowHairpin, false}, {0, true}} {
		if got := m.Has(c.flags); got != c.want {
			t.Errorf("Has(%b) = %v", c.flags, got)
		}
	}
}

// RFC 6052 prefixes: ::ffff:0:0/96 (SIIT's old IPv4-translated form) is
// a /96 like any other; Contains looks at every bit the length covers,
// and the zero Prefix contains nothing.
func TestPrefixContainsEdges(t *testing.T) {
	if _, err := ParsePrefix("::ffff:0:0/96"); err != nil {
		t.Errorf("::ffff:0:0/96: %v", err)
	}
	p96 := MustParsePrefix("64:ff9b::/96")
	p40 := MustParsePrefix("2001:db8:100::/40")
	for _, c := range []struct {
		p    Prefix
		a    string
		want bool
	}{
		{p96, "64:ff9b::c000:201", true}, {p96, "64:ff9b::1:c000:201", false}, {p96, "64:ff9b:0:0:1::c000:201", false},
		{p96, "64:ff9a::c000:201", false}, {p96, "192.0.2.1", false},
		{p40, "2001:db8:1ff:ffff::", true}, {p40, "2001:db8:200::", false}, {p40, "2001:db8:100::ffff:1", true},
		{Prefix{}, "::", false}, {Prefix{}, "2001:db8::1", false},
	} {
		if got := c.p.Contains(netip.MustParseAddr(c.a)); got != c.want {
			t.Errorf("%v contains %s: %v", c.p, c.a, got)
		}
	}
}

// RFC 792 quotes only 8 bytes of the transport header, and a router may
// quote less: 4 bytes still give the ports, fewer refuse the error as
// truncated. A quoted TCP header cut before its flags is read without
// them.
func TestQuotedTransportCut(t *testing.T) {
	x := newTestTranslator(t, testCf)
	udp := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, make([]byte, 8)))
	tcp := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoTCP, testpkt.TCP(h6v4, h4, 1000, 80, header.TCPFlagSYN, nil))
	for _, c := range []struct {
		name  string
		quote []byte
		ok    bool
	}{
		{"UDP, 4 bytes", udp[:24], true}, {"UDP, 3 bytes", udp[:23], false},
		{"TCP, 13 bytes", tcp[:33], true}, {"TCP, 14 bytes", tcp[:34], true},
	} {
		in := icmpError4To6(header.ICMPv4TimeExceeded, 0, 0, c.quote)
		out, r := run(x.To6, in)
		if (r.Verdict == Forward) != c.ok {
			t.Errorf("%s: %v", c.name, r)
			continue
		}
		if c.ok && (len(out) != 40+8+len(c.quote)+20 || out[48+40] != 0x03 || out[48+41] != 0xe8) {
			t.Errorf("%s: % x", c.name, out)
		}
	}
}

// An extension header that ends exactly where the packet ends is whole:
// what follows it (No Next Header here) decides, not truncation.
func TestExtensionHeaderAtEnd(t *testing.T) {
	x := newTestTranslator(t, testCf)
	hbh := []byte{header.ProtoNone, 0, 1, 4, 0, 0, 0, 0}
	in := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64, Ext: hbh, ExtNH: header.ProtoHopByHop}.Packet(header.ProtoNone, nil)
	if len(in) != 48 {
		t.Fatalf("%d bytes", len(in))
	}
	if _, r := run(x.To4, in); r.Reason == ReasonTruncated {
		t.Errorf("%v: an extension header ending with the packet is not truncated", r)
	}
	frag := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64, Frag: true, FragOff: 100, FragID: 7}.Packet(header.ProtoUDP, nil)
	if out, r := run(x.To4, frag); r.Verdict != Forward || len(out) != 20 {
		t.Errorf("an empty last fragment: %v % x", r, out)
	}
}
