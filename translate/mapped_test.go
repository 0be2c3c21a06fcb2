package translate_test

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// mappedPolicy is pairPolicy that also takes a mapped destination, and
// says which of its entry points the engine asked.
type mappedPolicy struct {
	pairPolicy
	asked []string
}

func (p *mappedPolicy) To4(src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	p.asked = append(p.asked, "To4")
	return p.pairPolicy.To4(src, dst, ports, m)
}

func (p *mappedPolicy) To4Mapped(src, dst, dst4 netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	p.asked = append(p.asked, "To4Mapped")
	s4, _, ps, r := p.pairPolicy.To4(src, dst, ports, m)
	return s4, dst4, ps, r
}

// To4Mapped hands a MappedPolicy the caller's mapping of the destination,
// on the plain path and the general one (a packet with a Hop-by-Hop
// header); an invalid mapping, or a policy that is not a MappedPolicy,
// gets To4, as To4 itself does.
func TestTo4Mapped(t *testing.T) {
	pref, _ := translate.ParsePrefix("64:ff9b::/96")
	base := pairPolicy{pref: pref, v6: netip.MustParseAddr("2001:db8::10"), v4: netip.MustParseAddr("192.0.2.10")}
	dst := pref.Embed(netip.MustParseAddr("198.51.100.7"))
	mapped := netip.MustParseAddr("203.0.113.99") // not what pool6 says: the caller's word is taken
	plain := udp6(base.v6, dst, []byte("abcd"))
	hbh := withHopByHop(plain)
	for _, tc := range []struct {
		name    string
		policy  translate.Policy
		pkt     []byte
		dst4    netip.Addr
		asked   string
		wantDst netip.Addr
	}{
		{"plain, mapped", &mappedPolicy{pairPolicy: base}, plain, mapped, "To4Mapped", mapped},
		{"general path, mapped", &mappedPolicy{pairPolicy: base}, hbh, mapped, "To4Mapped", mapped},
		{"no mapping", &mappedPolicy{pairPolicy: base}, plain, netip.Addr{}, "To4", netip.MustParseAddr("198.51.100.7")},
		{"not a MappedPolicy", &base, plain, mapped, "", netip.MustParseAddr("198.51.100.7")},
	} {
		x, err := translate.New(translate.Config{}, tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, translate.Headroom+len(tc.pkt))
		copy(buf[translate.Headroom:], tc.pkt)
		r := x.To4Mapped(buf, translate.Headroom, len(tc.pkt), tc.dst4)
		if r.Verdict != translate.Forward {
			t.Fatalf("%s: %v %v", tc.name, r.Verdict, r.Reason)
		}
		if got := header.IPv4(r.Packet(buf)).Dst(); got != tc.wantDst {
			t.Errorf("%s: to %v, want %v", tc.name, got, tc.wantDst)
		}
		if mp, ok := tc.policy.(*mappedPolicy); ok && (len(mp.asked) != 1 || mp.asked[0] != tc.asked) {
			t.Errorf("%s: the engine asked %v, want %s", tc.name, mp.asked, tc.asked)
		}
	}
	// What To4Mapped does not forward is counted, as To4 counts it: a
	// packet whose Hop Limit runs out here (dropped: this translator has
	// no address to send Time Exceeded from).
	x, _ := translate.New(translate.Config{}, &mappedPolicy{pairPolicy: base})
	expiring := append([]byte(nil), plain...)
	header.IPv6(expiring).SetHopLimit(1)
	buf := make([]byte, translate.Headroom+len(expiring)+translate.GrowReply6)
	copy(buf[translate.Headroom:], expiring)
	if r := x.To4Mapped(buf, translate.Headroom, len(expiring), mapped); r.Verdict == translate.Forward || x.Stats().Verdicts(r.Verdict) != 1 || x.Stats().Reason(r.Reason) != 1 {
		t.Errorf("Hop Limit 1: %v %v, counted %d and %d; want it refused and counted once", r.Verdict, r.Reason, x.Stats().Verdicts(r.Verdict), x.Stats().Reason(r.Reason))
	}
}

// withHopByHop puts an empty Hop-by-Hop Options header in front of the
// payload of the IPv6 packet p, which sends it down the general path.
func withHopByHop(p []byte) []byte {
	out := make([]byte, 0, len(p)+8)
	out = append(out, p[:header.IPv6Size]...)
	out = append(out, p[6], 0, 1, 4, 0, 0, 0, 0) // next header, length 0, PadN of 4
	out = append(out, p[header.IPv6Size:]...)
	ip := header.IPv6(out)
	ip.SetNextHeader(header.ProtoHopByHop)
	ip.SetPayloadLen(ip.PayloadLen() + 8)
	return out
}
