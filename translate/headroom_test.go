package translate

import (
	"bytes"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// An ICMPv4 error with too little headroom is moved towards the end of
// the buffer when the buffer has room for both headers to grow (40
// bytes here), and translated as with headroom; one byte less and it is
// dropped.
func TestICMPErrorWithoutHeadroom(t *testing.T) {
	x := newTestTranslator(t, testCf)
	q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, abcd))
	in := icmpError4To6(header.ICMPv4TimeExceeded, 0, 0, q4)
	want, r := run(x.To6, in)
	if r.Verdict != Forward {
		t.Fatal(r)
	}
	const off, grow = 10, 40
	for _, extra := range []int{0, -1} {
		buf := make([]byte, grow+len(in)+extra)
		copy(buf[off:], in)
		r := x.To6(buf, off, len(in))
		switch {
		case extra < 0 && (r.Verdict != Drop || r.Reason != ReasonNoHeadroom):
			t.Errorf("one byte short: %v", r)
		case extra == 0 && (r.Verdict != Forward || !bytes.Equal(buf[r.Start:r.End], want)):
			t.Errorf("room for %d: %v % x\nwant % x", grow, r, buf[r.Start:r.End], want)
		}
	}
	if GrowICMPError4to6 != 48 {
		t.Errorf("GrowICMPError4to6 = %d: both headers grow by 20, the quoted one by 8 more with a Fragment header", GrowICMPError4to6)
	}
}

// RFC 7915 §4.2 Figure 3 at its ends: pointer 0 maps to 0, 19 to 24,
// and 20, past the fixed header, is dropped.
func TestParamProblemPointerEnds4to6(t *testing.T) {
	x := newTestTranslator(t, testCf)
	q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, abcd))
	for ptr, want := range map[uint32]int{0: 0, 19: 24, 20: -1} {
		out, r := run(x.To6, icmpError4To6(header.ICMPv4ParamProblem, 0, ptr<<24, q4))
		switch {
		case want < 0 && r.Verdict != Drop:
			t.Errorf("pointer %d: %v, want a drop", ptr, r)
		case want >= 0 && (r.Verdict != Forward || out[40] != header.ICMPv6ParamProblem || int(out[47]) != want):
			t.Errorf("pointer %d: %v % x, want pointer %d", ptr, r, out, want)
		}
	}
}

// RFC 7915 §4.2: a Fragmentation Needed with MTU 0 (a router before RFC
// 1191) is estimated from the quoted packet's Total Length, read from
// the quoted header.
func TestFragNeededMTUZero(t *testing.T) {
	cfg := testCf
	cfg.IPv4MTU, cfg.IPv6MTU = 9000, 9000
	x := newTestTranslator(t, cfg)
	q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 64, DF: true}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, make([]byte, 2002-28)))
	out, r := run(x.To6, icmpError4To6(header.ICMPv4DstUnreachable, header.ICMPv4CodeFragNeeded, 0, q4[:28]))
	if r.Verdict != Forward || out[40] != header.ICMPv6PacketTooBig || be32(out[44:]) != 1492+20 {
		t.Errorf("%v % x, want Packet Too Big 1512", r, out)
	}
}

// A length attribute covering the whole ICMPv4 error body leaves an
// empty extension (4 to 6); a quoted bare IPv4 header (a protocol with
// no header of its own) is quoted whole.
func TestICMPv4ErrorBodyEdges(t *testing.T) {
	x := newTestTranslator(t, testCf)
	q4 := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, make([]byte, 100)))
	out, r := run(x.To6, icmpError4To6(header.ICMPv4TimeExceeded, 0, 32<<16, q4))
	if r.Verdict != Forward || out[44] != 18 || len(out) != 40+8+144 {
		t.Errorf("whole-body length: %v, attribute %d, %d bytes", r, out[44], len(out))
	}
	bare := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(50, nil)
	out, r = run(x.To6, icmpError4To6(header.ICMPv4TimeExceeded, 0, 0, bare))
	if r.Verdict != Forward || len(out) != 40+8+40 || out[48+6] != 50 {
		t.Errorf("a bare quoted header: %v % x", r, out)
	}
}

// Update replaces the configuration at once; a refused one changes
// nothing.
func TestUpdate(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, 1000)))
	if err := x.Update(Config{Addr4: xlat4, Addr6: xlat6, IPv4MTU: 576}); err != nil {
		t.Fatal(err)
	}
	if _, r := run(x.To4, in); r.Verdict != Fragment || r.MTU != 576 {
		t.Errorf("after Update to IPv4 MTU 576: %v", r)
	}
	if err := x.Update(Config{IPv4MTU: 20}); err == nil {
		t.Error("IPv4 MTU 20 accepted")
	}
	if _, r := run(x.To4, in); r.MTU != 576 {
		t.Errorf("a refused Update changed the configuration: %v", r)
	}
}

// Offsets at the ends of the buffer: a packet at offset 0 translates
// (To4 needs no headroom); a length past the buffer is truncated, not a
// panic. AppendTo6 takes a large packet.
func TestBufferEnds(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, abcd))
	buf := append([]byte(nil), in...)
	if r := x.To4(buf, 0, len(buf)); r.Verdict != Forward {
		t.Errorf("offset 0: %v", r)
	}
	buf = make([]byte, 100)
	for _, c := range [][2]int{{10, 91}, {0, 101}, {101, 0}, {-1, 10}, {10, -1}} {
		if r := x.Translate(buf, c[0], c[1]); r.Verdict != Drop || r.Reason != ReasonTruncated {
			t.Errorf("off %d n %d in 100 bytes: %v", c[0], c[1], r)
		}
	}
	big := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64, DF: true}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, make([]byte, 1400)))
	if out, r := x.AppendTo6(nil, big); r.Verdict == Drop || len(out) != len(big)+20 {
		t.Errorf("AppendTo6 of %d bytes: %v, %d out", len(big), r, len(out))
	}
}
