package gateway

import (
	"net/netip"
	"sync/atomic"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// noRoute answers, as a router without a route answers, a packet the
// kernel routed to the gateway that no instance claims (a destination
// inside pool6 whose IPv4 address no rule gives an instance, say): ICMPv6
// Destination Unreachable code 0 (RFC 4443 §3.1) or ICMPv4 Destination
// Unreachable code 0 (RFC 1812 §5.2.7.1), from the gateway's own
// address, rate limited as the instances' own errors are.
type noRoute struct {
	x        *translate.Translator
	answered atomic.Uint64 // unclaimed packets, answered or not
}

func newNoRoute(tun TUNConfig) (*noRoute, error) {
	x, err := translate.New(translate.Config{Addr4: tun.IPv4, Addr6: tun.IPv6}, refuseAll{})
	if err != nil {
		return nil, err
	}
	return &noRoute{x: x}, nil
}

// answer6 replaces the IPv6 packet buf[off:off+n] with the error about
// it, or drops it where none is due: never about an ICMP error, nor about
// a packet to a group (RFC 4443 §2.4(e)).
func (nr *noRoute) answer6(buf []byte, off, n int) translate.Result {
	nr.answered.Add(1)
	pkt := buf[off : off+n]
	ip := header.IPv6(pkt)
	if ip.Dst().IsMulticast() || (ip.NextHeader() == header.ProtoICMPv6 && (n == header.IPv6Size || header.ICMPv6IsError(pkt[header.IPv6Size]))) {
		return translate.Result{}
	}
	return nr.x.Reply6(buf, off, n, header.ICMPv6DstUnreachable, header.ICMPv6CodeNoRoute, 0)
}

// answer4 is answer6 for the IPv4 packet buf[off:off+n] (RFC 1812
// §4.3.2.7: nothing about an error, a broadcast or a group).
func (nr *noRoute) answer4(buf []byte, off, n int) translate.Result {
	nr.answered.Add(1)
	pkt := buf[off : off+n]
	ip := header.IPv4(pkt)
	hl := ip.HeaderLen()
	if ip.Dst().IsMulticast() || ip.Dst().As4() == broadcast4 ||
		(ip.Protocol() == header.ProtoICMPv4 && (n <= hl || header.ICMPv4IsError(pkt[hl]))) {
		return translate.Result{}
	}
	return nr.x.Reply4(buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeNetUnreach, 0)
}

var broadcast4 = [4]byte{255, 255, 255, 255}

// refuseAll is the policy of the translator that only answers: it
// translates nothing.
type refuseAll struct{}

func (refuseAll) To4(src, dst netip.Addr, p translate.Ports, _ translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	return src, dst, p, translate.ReasonUntranslatableDst
}

func (refuseAll) To6(src, dst netip.Addr, p translate.Ports, _ translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	return src, dst, p, translate.ReasonUntranslatableDst
}

func (refuseAll) Error4(src, dst, _, _ netip.Addr, _ translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	return src, dst, translate.ReasonUntranslatableDst
}

func (refuseAll) Error6(src, dst, _, _ netip.Addr, _ translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	return src, dst, translate.ReasonUntranslatableDst
}
