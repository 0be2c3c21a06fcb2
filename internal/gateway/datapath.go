package gateway

import (
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// translatePacket is what every datapath does with a packet it read,
// buf[off:off+n], decoded once here: a handoff server's control datagram
// goes to its client (ok false: nothing to send), anything else to the
// instance that claims it, with what the claim found, to be translated in
// place; a packet no instance claims is answered as a router without a
// route answers it (noRoute), and anything that is not IP is dropped.
func (g *Gateway) translatePacket(s *Setup, buf []byte, off, n int) (r translate.Result, ok bool) {
	pkt := buf[off : off+n]
	switch {
	case n >= header.IPv6Size && pkt[0]>>4 == header.IPv6Version:
		dst := header.IPv6(pkt).Dst()
		if m, mapped := s.pick6(dst); m != nil {
			return m.to4(buf, off, n, mapped), true
		}
		if g.noRoute != nil {
			return g.noRoute.answer6(buf, off, n), true
		}
	case n >= header.IPv4MinSize && pkt[0]>>4 == header.IPv4Version:
		ip := header.IPv4(pkt)
		if ip.Protocol() == header.ProtoUDP && s.control(pkt) {
			return r, false
		}
		if m := s.pick4(ip.Src(), ip.Dst()); m != nil {
			return m.to6(buf, off, n), true
		}
		if g.noRoute != nil {
			return g.noRoute.answer4(buf, off, n), true
		}
	}
	return r, true // a Drop: nothing to send
}

// control hands a handoff server's datagram, an IPv4 UDP packet, to its
// client.
func (s *Setup) control(pkt []byte) bool {
	if len(pkt) < header.IPv4MinSize+header.UDPSize {
		return false
	}
	for _, in := range s.insts {
		if in.handoff != nil && in.handoff.Receive(pkt) {
			return true
		}
	}
	return false
}
