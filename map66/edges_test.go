package map66

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// icmpError is an ICMPv6 Destination Unreachable from src to dst quoting
// quoted, its checksum valid.
func icmpError(src, dst netip.Addr, quoted []byte) []byte {
	return testpkt.IPv6{Src: src, Dst: dst}.Packet(header.ProtoICMPv6, testpkt.ICMPError(src, dst, 1, 4, 0, quoted))
}

func icmpValid(p []byte) bool {
	ip := header.IPv6(p)
	return checksum.Verify(p[header.IPv6Size:], ip.PseudoHeaderSum(header.ProtoICMPv6, len(p)-header.IPv6Size))
}

// An internal host's ICMPv6 error about a packet it received leaves with
// its source and the quoted packet's destination mapped, under a neutral
// rule and under one too long to be neutral, its checksum valid either
// way; a quote that stops at the quoted header is still mapped, one cut
// shorter is left alone.
func TestICMPv6ErrorOutbound(t *testing.T) {
	remote := netip.MustParseAddr("2001:db8:ffff::80")
	for _, r := range []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48"), rule("fd00::100/120", "2001:db8::9900/120")} {
		m := mapper(t, Options{}, r)
		host := r.Internal.Addr().Next()
		quoted := testpkt.IPv6{Src: remote, Dst: host}.Packet(17, testpkt.UDP(remote, host, 53, 5000, []byte("answer")))
		for _, tc := range []struct {
			name   string
			quote  []byte
			mapped bool
		}{
			{"a whole quoted packet", quoted, true},
			{"the quoted header alone", quoted[:header.IPv6Size], true},
			{"a quoted header cut short", quoted[:header.IPv6Size-8], false},
		} {
			p := icmpError(host, remote, tc.quote)
			if why := m.Outbound(p); why != ReasonNone {
				t.Fatalf("%v, %s: %v", r, tc.name, why)
			}
			if src := header.IPv6(p).Src(); !r.External.Contains(src) {
				t.Errorf("%v, %s: source %v", r, tc.name, src)
			}
			q := p[header.IPv6Size+header.ICMPHeaderSize:]
			if tc.mapped {
				if dst := header.IPv6(q).Dst(); !r.External.Contains(dst) {
					t.Errorf("%v, %s: the quoted destination is %v, want it under %v", r, tc.name, dst, r.External)
				}
			} else if !bytes.Equal(q, tc.quote) {
				t.Errorf("%v, %s: the quote changed", r, tc.name)
			}
			if !icmpValid(p) {
				t.Errorf("%v, %s: the ICMPv6 checksum no longer verifies", r, tc.name)
			}
		}
	}
}

// Under a rule too long to be neutral the transport checksum is updated,
// except a UDP checksum of zero (none, over IPv6 only from tunnels, RFC
// 6935), which stays zero; a segment cut short before its checksum field
// is left alone, one that ends right after it is updated.
func TestNonNeutralTransportEdges(t *testing.T) {
	r := rule("fd00::100/120", "2001:db8::9900/120")
	m := mapper(t, Options{}, r)
	host, remote := r.Internal.Addr().Next(), netip.MustParseAddr("2001:db8:ffff::80")
	for _, payload := range [][]byte{nil, []byte("data")} {
		p := testpkt.IPv6{Src: host, Dst: remote}.Packet(17, testpkt.UDP(host, remote, 5000, 53, payload))
		p[header.IPv6Size+6], p[header.IPv6Size+7] = 0, 0
		if why := m.Outbound(p); why != ReasonNone || p[header.IPv6Size+6] != 0 || p[header.IPv6Size+7] != 0 {
			t.Errorf("UDP of %d octets with checksum 0: %v, checksum now %#02x%02x", len(payload), why, p[header.IPv6Size+6], p[header.IPv6Size+7])
		}
	}
	seg := testpkt.IPv6{Src: host, Dst: remote}.Packet(6, testpkt.TCP(host, remote, 5000, 80, header.TCPFlagACK, nil))
	whole := bytes.Clone(seg)
	m.Outbound(whole)
	for _, n := range []int{header.TCPChecksumOffset + 2, header.TCPChecksumOffset + 1, 10} {
		p := bytes.Clone(seg[:header.IPv6Size+n])
		header.IPv6(p).SetPayloadLen(uint16(n))
		before := bytes.Clone(p[header.IPv6Size:])
		if why := m.Outbound(p); why != ReasonNone {
			t.Fatalf("TCP cut to %d octets: %v", n, why)
		}
		l4 := p[header.IPv6Size:]
		if n >= header.TCPChecksumOffset+2 {
			if !bytes.Equal(l4, whole[header.IPv6Size:header.IPv6Size+n]) {
				t.Errorf("TCP cut to %d octets: checksum % x, want % x as in the whole segment", n, l4[header.TCPChecksumOffset:], whole[header.IPv6Size+header.TCPChecksumOffset:][:2])
			}
		} else if !bytes.Equal(l4, before) {
			t.Errorf("TCP cut to %d octets, before its checksum: changed", n)
		}
	}
}

// A packet from inside to one of the mapper's own external addresses is
// hairpinned, its destination mapped back in; a hairpin the rule refuses
// (subnet 0xFFFF, with StrictInbound) is refused with its reason, and a hairpinned ICMPv6
// error has its quoted packet mapped as well.
func TestHairpinEdges(t *testing.T) {
	r := rule("fd01:203:405::/48", "2001:db8:1::/48")
	m := mapper(t, Options{}, r)
	a, b := netip.MustParseAddr("fd01:203:405:1::a"), netip.MustParseAddr("fd01:203:405:2::b")
	bExt, _ := m.MapAddr(b, true)
	p := testpkt.IPv6{Src: a, Dst: bExt}.Packet(17, testpkt.UDP(a, bExt, 1, 2, nil))
	if why := m.Outbound(p); why != ReasonNone || header.IPv6(p).Dst() != b {
		t.Errorf("hairpin: %v, to %v; want to %v", why, header.IPv6(p).Dst(), b)
	}
	ffff := netip.MustParseAddr("2001:db8:1:ffff::b")
	p = testpkt.IPv6{Src: a, Dst: ffff}.Packet(17, testpkt.UDP(a, ffff, 1, 2, nil))
	if why := mapper(t, Options{StrictInbound: true}, r).Outbound(p); why != ReasonSubnetFFFF {
		t.Errorf("a hairpin to subnet 0xFFFF: %v, want %v", why, ReasonSubnetFFFF)
	}
	// b's error about a's packet, sent to a's external address.
	aExt, _ := m.MapAddr(a, true)
	quoted := testpkt.IPv6{Src: aExt, Dst: b}.Packet(17, testpkt.UDP(aExt, b, 1, 2, []byte("x")))
	p = icmpError(b, aExt, quoted)
	if why := m.Outbound(p); why != ReasonNone {
		t.Fatal(why)
	}
	if q := header.IPv6(p[header.IPv6Size+header.ICMPHeaderSize:]); header.IPv6(p).Dst() != a || !r.External.Contains(q.Dst()) {
		t.Errorf("hairpinned error to %v quoting a packet to %v", header.IPv6(p).Dst(), q.Dst())
	}
}

// A Reason outside the list still has a name.
func TestReasonString(t *testing.T) {
	if got := numReasons.String(); got != "?" {
		t.Errorf("numReasons.String() = %q", got)
	}
	if got := ReasonBadEmbedded.String(); got != "bad-embedded" {
		t.Errorf("ReasonBadEmbedded.String() = %q", got)
	}
}

// The same on the way in: an error about a packet the host sent reaches
// the host, quoting its internal address, its checksum valid, under a
// rule too long to be neutral too.
func TestICMPv6ErrorInboundNonNeutral(t *testing.T) {
	r := rule("fd00::100/120", "2001:db8::9900/120")
	m := mapper(t, Options{}, r)
	host, remote, router := r.Internal.Addr().Next(), netip.MustParseAddr("2001:db8:ffff::80"), netip.MustParseAddr("2001:db8:ffff::1")
	sent := testpkt.IPv6{Src: host, Dst: remote}.Packet(17, testpkt.UDP(host, remote, 5000, 53, []byte("query")))
	if why := m.Outbound(sent); why != ReasonNone {
		t.Fatal(why)
	}
	ext := header.IPv6(sent).Src()
	p := icmpError(router, ext, sent)
	if why := m.Inbound(p); why != ReasonNone {
		t.Fatal(why)
	}
	if q := header.IPv6(p[header.IPv6Size+header.ICMPHeaderSize:]); header.IPv6(p).Dst() != host || q.Src() != host {
		t.Errorf("the error goes to %v quoting a packet from %v; want %v both", header.IPv6(p).Dst(), q.Src(), host)
	}
	if !icmpValid(p) {
		t.Error("the ICMPv6 checksum no longer verifies")
	}
}
