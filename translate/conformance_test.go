package translate

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// Behaviour beyond Jool's corpus (docs/conformance.md): the errors a
// translator owes for what it refuses, the address classes a router must
// not forward, the translator's own address, unpredictable IPv4 IDs. Each
// case runs on the plain path and on the general path alike.

// refusingPolicy is the Appendix A prefix policy, except that the
// addresses in refuse have no translation, and those in to6 translate to
// the address given (to put a translation into a forbidden class).
type refusingPolicy struct {
	PrefixPolicy
	refuse map[netip.Addr]bool
	to6    map[netip.Addr]netip.Addr
}

func (p *refusingPolicy) To4(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	s, d, ps, r := p.PrefixPolicy.To4(src, dst, ports, m)
	if r == ReasonNone && p.refuse[d] {
		return src, dst, ports, ReasonUntranslatableDst
	}
	return s, d, ps, r
}

func (p *refusingPolicy) To6(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	if p.refuse[dst] {
		return src, dst, ports, ReasonUntranslatableDst
	}
	s, d, ps, r := p.PrefixPolicy.To6(src, dst, ports, m)
	if a, ok := p.to6[dst]; ok {
		d = a
	}
	return s, d, ps, r
}

func (p *refusingPolicy) Error6(src, dst, qsrc, qdst netip.Addr, m Meta) (netip.Addr, netip.Addr, Reason) {
	if p.refuse[dst] {
		return src, dst, ReasonUntranslatableDst
	}
	return p.PrefixPolicy.Error6(src, dst, qsrc, qdst, m)
}

var (
	unmapped4 = netip.MustParseAddr("203.0.113.99")
	fe80      = netip.MustParseAddr("fe80::42")
	linkLocal = netip.MustParseAddr("169.254.0.42")
)

// bothPaths runs f against a translator with the plain path and one
// without it.
func bothPaths(t *testing.T, cfg Config, f func(t *testing.T, x *Translator)) {
	for _, general := range []bool{false, true} {
		t.Run(fmt.Sprintf("general=%v", general), func(t *testing.T) {
			x, err := New(cfg, &refusingPolicy{
				PrefixPolicy: PrefixPolicy{Prefix: nsp},
				refuse:       map[netip.Addr]bool{unmapped4: true},
				to6:          map[netip.Addr]netip.Addr{netip.MustParseAddr("198.51.100.77"): fe80},
			})
			if err != nil {
				t.Fatal(err)
			}
			x.general = general
			f(t, x)
		})
	}
}

func expectPacket(t *testing.T, what string, got []byte, r Result, verdict Verdict, reason Reason, want []byte) {
	t.Helper()
	if r.Verdict != verdict || r.Reason != reason {
		t.Errorf("%s: %v/%v, want %v/%v", what, r.Verdict, r.Reason, verdict, reason)
		return
	}
	if want != nil && !bytes.Equal(got, want) {
		t.Errorf("%s:\n got % x\nwant % x", what, got, want)
	}
}

// Item 1: a packet refused for its addresses is answered, from the
// translator's own address, with RFC 7915 §5.4's ICMPv6 1/1 or §4.4's
// ICMPv4 3/13, quoting it; never about an ICMP error or any ICMPv6
// message; through the rate limit; not at all with SilentUntranslatable.
func TestUntranslatableAnswered(t *testing.T) {
	bothPaths(t, testCf, func(t *testing.T, x *Translator) {
		// 6->4: the destination's IPv4 form has no translation.
		dst := nsp.Embed(unmapped4)
		in := testpkt.IPv6{Src: h6, Dst: dst}.Packet(header.ProtoUDP, testpkt.UDP(h6, dst, 1000, 53, abcd))
		out, r := run(x.To4, in)
		want := testpkt.IPv6{Src: xlat6, Dst: h6}.Packet(header.ProtoICMPv6, testpkt.ICMPError(xlat6, h6, header.ICMPv6DstUnreachable, 1, 0, in))
		expectPacket(t, "6->4 untranslatable destination", out, r, Reply, ReasonUntranslatableDst, want)

		// 4->6: no mapping for the destination.
		in = testpkt.IPv4{Src: h4, Dst: unmapped4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, unmapped4, 1000, 53, abcd))
		out, r = run(x.To6, in)
		want = testpkt.IPv4{Src: xlat4, Dst: h4, ID: 1}.Packet(header.ProtoICMPv4, testpkt.ICMPError(xlat4, h4, header.ICMPv4DstUnreachable, 13, 0, in))
		expectPacket(t, "4->6 untranslatable destination", out, r, Reply, ReasonUntranslatableDst, want)

		// An IPv4 echo request is not an error: it gets one too.
		in = testpkt.IPv4{Src: h4, Dst: unmapped4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.Echo(h4, unmapped4, header.ICMPv4EchoRequest, 7, 1, abcd))
		if _, r = run(x.To6, in); r.Verdict != Reply {
			t.Errorf("4->6 echo request to an untranslatable destination: %v, want a reply", r.Verdict)
		}
		// No error about an ICMPv4 error...
		quoted := testpkt.IPv4{Src: unmapped4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(unmapped4, h4, 53, 1000, abcd))
		in = testpkt.IPv4{Src: h4, Dst: unmapped4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.ICMPError(h4, unmapped4, header.ICMPv4DstUnreachable, 3, 0, quoted))
		if _, r = run(x.To6, in); r.Verdict != Drop {
			t.Errorf("4->6 ICMPv4 error to an untranslatable destination: %v, want a silent drop", r.Verdict)
		}
		// ... nor about any ICMPv6 message (§5.4).
		in = testpkt.IPv6{Src: h6, Dst: dst}.Packet(header.ProtoICMPv6, testpkt.Echo(h6, dst, header.ICMPv6EchoRequest, 7, 1, abcd))
		if _, r = run(x.To4, in); r.Verdict != Drop {
			t.Errorf("6->4 ICMPv6 echo request to an untranslatable destination: %v, want a silent drop", r.Verdict)
		}
	})

	// The rate limit holds them: a burst of 2, then drops.
	clock := time.Unix(1000, 0)
	cfg := testCf
	cfg.ICMPErrorRate, cfg.ICMPErrorBurst, cfg.Now = 1, 2, func() time.Time { return clock }
	bothPaths(t, cfg, func(t *testing.T, x *Translator) {
		in := testpkt.IPv4{Src: h4, Dst: unmapped4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, unmapped4, 1000, 53, abcd))
		var verdicts []Verdict
		for i := 0; i < 4; i++ {
			_, r := run(x.To6, in)
			verdicts = append(verdicts, r.Verdict)
		}
		if fmt.Sprint(verdicts) != "[reply reply drop drop]" {
			t.Errorf("four refusals with a burst of 2: %v", verdicts)
		}
	})

	// And the operator can turn them off.
	cfg = testCf
	cfg.SilentUntranslatable = true
	bothPaths(t, cfg, func(t *testing.T, x *Translator) {
		in := testpkt.IPv4{Src: h4, Dst: unmapped4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, unmapped4, 1000, 53, abcd))
		if _, r := run(x.To6, in); r.Verdict != Drop || r.Reason != ReasonUntranslatableDst {
			t.Errorf("silent-untranslatable: %v/%v, want a drop", r.Verdict, r.Reason)
		}
	})
}

// Item 2: addresses a router must not forward. A packet's own illegal
// source or forbidden destination is dropped silently, counted by its
// reason; a translation into a forbidden class is refused with an error
// to the (legitimate) sender; an ICMP error's source is translated
// whatever it is, for troubleshooting.
func TestForbiddenAddressClasses(t *testing.T) {
	bothPaths(t, testCf, func(t *testing.T, x *Translator) {
		peer6 := nsp.Embed(h4)
		for _, a := range []string{"::", "::1", "fe80::1", "febf::1", "ff02::1", "ff0e::1"} {
			bad := netip.MustParseAddr(a)
			in := testpkt.IPv6{Src: bad, Dst: peer6}.Packet(header.ProtoUDP, testpkt.UDP(bad, peer6, 1000, 53, abcd))
			if _, r := run(x.To4, in); r.Verdict != Drop || r.Reason != ReasonIllegalSource {
				t.Errorf("IPv6 source %s: %v/%v, want a silent drop (illegal-source)", a, r.Verdict, r.Reason)
			}
			in = testpkt.IPv6{Src: h6, Dst: bad}.Packet(header.ProtoUDP, testpkt.UDP(h6, bad, 1000, 53, abcd))
			if _, r := run(x.To4, in); r.Verdict != Drop || r.Reason != ReasonIllegalDestination {
				t.Errorf("IPv6 destination %s: %v/%v, want a silent drop (illegal-destination)", a, r.Verdict, r.Reason)
			}
		}
		for _, a := range []string{"0.0.0.0", "0.1.2.3", "127.0.0.1", "169.254.0.42", "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255"} {
			bad := netip.MustParseAddr(a)
			in := testpkt.IPv4{Src: bad, Dst: h6v4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(bad, h6v4, 1000, 53, abcd))
			if _, r := run(x.To6, in); r.Verdict != Drop || r.Reason != ReasonIllegalSource {
				t.Errorf("IPv4 source %s: %v/%v, want a silent drop (illegal-source)", a, r.Verdict, r.Reason)
			}
			in = testpkt.IPv4{Src: h4, Dst: bad, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, bad, 1000, 53, abcd))
			if _, r := run(x.To6, in); r.Verdict != Drop || r.Reason != ReasonIllegalDestination {
				t.Errorf("IPv4 destination %s: %v/%v, want a silent drop (illegal-destination)", a, r.Verdict, r.Reason)
			}
		}
		// Addresses next to the classes are ordinary.
		for _, a := range []string{"1.0.0.1", "126.255.255.255", "128.0.0.1", "169.253.255.255", "169.255.0.1", "223.255.255.255"} {
			ok := netip.MustParseAddr(a)
			in := testpkt.IPv4{Src: h4, Dst: ok, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, ok, 1000, 53, abcd))
			if _, r := run(x.To6, in); r.Verdict != Forward {
				t.Errorf("IPv4 destination %s: %v/%v, want it translated", a, r.Verdict, r.Reason)
			}
		}

		// 6->4 into 169.254/16 through the prefix: refused, and said so.
		dst := nsp.Embed(linkLocal)
		in := testpkt.IPv6{Src: h6, Dst: dst}.Packet(header.ProtoUDP, testpkt.UDP(h6, dst, 1000, 53, abcd))
		out, r := run(x.To4, in)
		want := testpkt.IPv6{Src: xlat6, Dst: h6}.Packet(header.ProtoICMPv6, testpkt.ICMPError(xlat6, h6, header.ICMPv6DstUnreachable, 1, 0, in))
		expectPacket(t, "6->4 into 169.254.0.42", out, r, Reply, ReasonIllegalDestination, want)

		// 4->6 onto a link-local IPv6 address: refused, and said so.
		to := netip.MustParseAddr("198.51.100.77")
		in = testpkt.IPv4{Src: h4, Dst: to, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, to, 1000, 53, abcd))
		out, r = run(x.To6, in)
		if r.Verdict != Reply || r.Reason != ReasonIllegalDestination || len(out) < 28 || out[20] != header.ICMPv4DstUnreachable || out[21] != 13 || !bytes.Equal(out[28:], in) {
			t.Errorf("4->6 onto fe80::42: %v/%v % x, want 3/13 quoting the packet", r.Verdict, r.Reason, out)
		}

		// An ICMPv4 error from a link-local router address is still
		// translated (RFC 7915 §4.1: for troubleshooting).
		quoted := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, abcd))
		in = testpkt.IPv4{Src: linkLocal, Dst: h6v4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.ICMPError(linkLocal, h6v4, header.ICMPv4TimeExceeded, 0, 0, quoted))
		if _, r = run(x.To6, in); r.Verdict != Forward {
			t.Errorf("ICMPv4 Time Exceeded from 169.254.0.42: %v/%v, want it translated", r.Verdict, r.Reason)
		}
	})
}

// Item 4: the translator's own IPv6 address is a host's: an Echo Request
// to it is answered, anything else dropped, and nothing is translated
// onto it (which would bring it round again).
func TestOwnAddress(t *testing.T) {
	bothPaths(t, testCf, func(t *testing.T, x *Translator) {
		in := testpkt.IPv6{Src: h6, Dst: xlat6, HopLimit: 17}.Packet(header.ProtoICMPv6, testpkt.Echo(h6, xlat6, header.ICMPv6EchoRequest, 0x4242, 9, abcd))
		out, r := run(x.To4, in)
		want := testpkt.IPv6{Src: xlat6, Dst: h6}.Packet(header.ProtoICMPv6, testpkt.Echo(xlat6, h6, header.ICMPv6EchoReply, 0x4242, 9, abcd))
		expectPacket(t, "echo request to the translator", out, r, Reply, ReasonOwnAddress, want)

		in = testpkt.IPv6{Src: h6, Dst: xlat6}.Packet(header.ProtoUDP, testpkt.UDP(h6, xlat6, 1000, 53, abcd))
		if _, r = run(x.To4, in); r.Verdict != Drop || r.Reason != ReasonOwnAddress {
			t.Errorf("UDP to the translator: %v/%v, want own-address drop", r.Verdict, r.Reason)
		}
		// Fault item 18: a Next Header no host knows (253, for
		// experiments) gets Parameter Problem code 1 pointing at it (RFC
		// 8200 §4); it used to get nothing.
		in = testpkt.IPv6{Src: h6, Dst: xlat6, HopLimit: 64}.Packet(253, abcd)
		out, r = run(x.To4, in)
		want = testpkt.IPv6{Src: xlat6, Dst: h6}.Packet(header.ProtoICMPv6, testpkt.ICMPError(xlat6, h6, header.ICMPv6ParamProblem, header.ICMPv6CodeUnknownNH, 6, in))
		expectPacket(t, "next header 253 to the translator", out, r, Reply, ReasonOwnAddress, want)
		// 192.0.2.1 under the prefix is the translator's own IPv6 address.
		self4 := netip.MustParseAddr("192.0.2.1")
		if nsp.Embed(self4) != xlat6 {
			t.Fatalf("fixture: %v embeds as %v, not %v", self4, nsp.Embed(self4), xlat6)
		}
		in = testpkt.IPv4{Src: h4, Dst: self4, TTL: 64}.Packet(header.ProtoICMPv4, testpkt.Echo(h4, self4, header.ICMPv4EchoRequest, 1, 1, abcd))
		if _, r = run(x.To6, in); r.Verdict != Drop || r.Reason != ReasonOwnAddress {
			t.Errorf("4->6 onto the translator's own address: %v/%v, want own-address drop", r.Verdict, r.Reason)
		}
		// The own IPv4 address is not special on the way in: a NAT64's
		// pool4 holds it.
		in = testpkt.IPv4{Src: h4, Dst: xlat4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, xlat4, 1000, 53, abcd))
		if _, r = run(x.To6, in); r.Verdict != Forward {
			t.Errorf("4->6 to the own IPv4 address: %v/%v, want it translated", r.Verdict, r.Reason)
		}
	})
}

// Item 3: IPv4 Identifications come from per-flow counters at random
// offsets: a flow's do not repeat within 2^16 datagrams, another flow's do
// not move them, and two translators do not start alike.
func TestIdentification(t *testing.T) {
	fixedIDs = false
	defer func() { fixedIDs = true }()
	id := func(x *Translator, dst4 netip.Addr) uint16 {
		dst := nsp.Embed(dst4)
		in := testpkt.IPv6{Src: h6, Dst: dst}.Packet(header.ProtoUDP, testpkt.UDP(h6, dst, 1000, 53, abcd))
		out, r := run(x.To4, in)
		if r.Verdict != Forward {
			t.Fatalf("%v/%v", r.Verdict, r.Reason)
		}
		return uint16(out[4])<<8 | uint16(out[5])
	}
	x := newTestTranslator(t, testCf)
	y := newTestTranslator(t, testCf)
	if a, b := id(x, h4), id(y, h4); a == b {
		t.Errorf("two translators gave the same flow the same first ID %#04x", a)
	}
	seen := make([]bool, 1<<16)
	first := id(x, h4)
	seen[first] = true
	for i := 1; i < 1<<16; i++ {
		v := id(x, h4)
		if seen[v] {
			t.Fatalf("the flow's ID %#04x came again after %d datagrams", v, i)
		}
		seen[v] = true
	}
	// Other flows in between rarely touch this flow's counter (1 in
	// 4096 shares it).
	shared := 0
	for k := 0; k < 64; k++ {
		before := id(x, h4)
		id(x, netip.AddrFrom4([4]byte{203, 0, 113, byte(k)}))
		if id(x, h4) != before+1 {
			shared++
		}
	}
	if shared > 3 {
		t.Errorf("%d of 64 other flows moved this flow's counter", shared)
	}
}

// An IPv4 packet whose Protocol means an extension header or ICMPv6 in
// IPv6 is not translated into one: the sender hears Protocol Unreachable.
func TestIPv6OnlyProtocols(t *testing.T) {
	bothPaths(t, testCf, func(t *testing.T, x *Translator) {
		for _, p := range []uint8{0, 43, 44, 58, 59, 60, 135, 139, 140} {
			in := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(p, abcd)
			out, r := run(x.To6, in)
			want := testpkt.IPv4{Src: xlat4, Dst: h4, ID: out4ID(out)}.Packet(header.ProtoICMPv4, testpkt.ICMPError(xlat4, h4, header.ICMPv4DstUnreachable, header.ICMPv4CodeProtoUnreach, 0, in))
			expectPacket(t, fmt.Sprintf("protocol %d", p), out, r, Reply, ReasonUnsupported, want)
		}
		// Protocols both families share pass (GRE 47, ESP 50, SCTP 132).
		for _, p := range []uint8{47, 50, 132} {
			in := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(p, abcd)
			if _, r := run(x.To6, in); r.Verdict != Forward {
				t.Errorf("protocol %d: %v/%v, want it translated", p, r.Verdict, r.Reason)
			}
		}
	})
}

// out4ID is the Identification of an IPv4 packet (0 if there is none).
func out4ID(p []byte) uint16 {
	if len(p) < 6 {
		return 0
	}
	return uint16(p[4])<<8 | uint16(p[5])
}

// Translate takes either family and does what To4 or To6 does; Split
// splits either.
func TestTranslateEntryPoint(t *testing.T) {
	x := newTestTranslator(t, testCf)
	dst := nsp.Embed(h4)
	v6 := testpkt.IPv6{Src: h6, Dst: dst}.Packet(header.ProtoUDP, testpkt.UDP(h6, dst, 1000, 53, abcd))
	v4 := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 53, 1000, abcd))
	y := newTestTranslator(t, testCf) // the same IDs as x (fixedIDs)
	for _, in := range [][]byte{v6, v4} {
		got, r := run(x.Translate, in)
		direct := y.To6
		if in[0]>>4 == 6 {
			direct = y.To4
		}
		want, rw := run(direct, in)
		if r != rw || !bytes.Equal(got, want) {
			t.Errorf("Translate of IPv%d: %v % x; the direct call: %v % x", in[0]>>4, r, got, rw, want)
		}
	}
	if r := x.Translate(make([]byte, 10), 10, 0); r.Verdict != Drop || r.Reason != ReasonTruncated {
		t.Errorf("Translate of nothing: %v/%v", r.Verdict, r.Reason)
	}
	big := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 53, 1000, make([]byte, 1400)))
	frags := make([][]byte, 4)
	for i := range frags {
		frags[i] = make([]byte, 600)
	}
	if n := Split(frags, big, 600); n != 3 || frags[0][0]>>4 != 4 {
		t.Errorf("Split of a 1428-octet IPv4 packet to 600: %d fragments", n)
	}
}
