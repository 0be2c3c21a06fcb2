package translate_test

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// pairPolicy is a translator of its own: one IPv6 host and one IPv4
// address, 1:1, and the rest of the IPv4 world under a prefix. The engine
// does every header, checksum, ICMP and fragment rule; the policy only
// says which addresses a flow gets.
type pairPolicy struct {
	pref   translate.Prefix
	v6, v4 netip.Addr
}

// reasonNotPaired is the policy's own refusal, counted under its name.
var reasonNotPaired = translate.NewReason("not-paired")

func (p *pairPolicy) To4(src, dst netip.Addr, ports translate.Ports, _ translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	if d, ok := p.pref.Extract(dst); ok && src == p.v6 {
		return p.v4, d, ports, translate.ReasonNone
	}
	return src, dst, ports, reasonNotPaired
}

func (p *pairPolicy) To6(src, dst netip.Addr, ports translate.Ports, _ translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	if dst != p.v4 {
		return src, dst, ports, reasonNotPaired
	}
	return p.pref.Embed(src), p.v6, ports, translate.ReasonNone
}

// ICMP errors: their own addresses map the same way.
func (p *pairPolicy) Error4(src, dst, _, _ netip.Addr, m translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	s, d, _, r := p.To6(dst, src, 0, m) // the way back
	return d, s, r
}

func (p *pairPolicy) Error6(src, dst, _, _ netip.Addr, m translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	s, d, _, r := p.To4(dst, src, 0, m)
	return d, s, r
}

// A custom Policy: translating with it, and refusing with a reason of its
// own.
func ExamplePolicy() {
	p := &pairPolicy{pref: translate.MustParsePrefix("64:ff9b::/96"),
		v6: netip.MustParseAddr("2001:db8::10"), v4: netip.MustParseAddr("192.0.2.10")}
	x, err := translate.New(translate.Config{}, p)
	if err != nil {
		panic(err)
	}
	for _, src := range []string{"2001:db8::10", "2001:db8::11"} {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr("64:ff9b::198.51.100.7")
		out, r := x.AppendTo4(nil, udp6(s, d, []byte("query")))
		if r.Verdict != translate.Forward {
			fmt.Println(src, "refused:", r.Reason)
			continue
		}
		ip := header.IPv4(out)
		fmt.Println(src, "->", ip.Src(), "to", ip.Dst())
	}
	fmt.Println("counted:", x.Stats().Reason(reasonNotPaired))
	// Output:
	// 2001:db8::10 -> 192.0.2.10 to 198.51.100.7
	// 2001:db8::11 refused: not-paired
	// counted: 1
}

// udp6 builds an IPv6/UDP packet with the header views.
func udp6(src, dst netip.Addr, payload []byte) []byte {
	b := make([]byte, header.IPv6Size+header.UDPSize+len(payload))
	ip := header.IPv6(b)
	ip.SetVersionClassFlow(0, 0)
	ip.SetPayloadLen(uint16(header.UDPSize + len(payload)))
	ip.SetNextHeader(header.ProtoUDP)
	ip.SetHopLimit(64)
	ip.SetSrc(src)
	ip.SetDst(dst)
	u := header.UDP(b[header.IPv6Size:])
	u.SetSrcPort(5000)
	u.SetDstPort(53)
	u.SetLength(uint16(len(u)))
	copy(u[header.UDPSize:], payload)
	u.SetChecksum(checksum.UDPField(^checksum.Checksum(u, ip.PseudoHeaderSum(header.ProtoUDP, len(u)))))
	return b
}
