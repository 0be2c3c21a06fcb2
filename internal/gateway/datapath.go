package gateway

import (
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// translatePacket is what every datapath does with a packet it read,
// buf[off:off+n]: the instances decide it (decide, which reads it once);
// a handoff server's control datagram has gone to its client (ok false:
// nothing to send); a packet no instance claims is answered as a router
// without a route answers it (noRoute), and anything that is not IP is
// dropped.
func (g *Gateway) translatePacket(s *Setup, buf []byte, off, n int) (r translate.Result, ok bool) {
	r, f := s.decide(buf, off, n, true)
	switch {
	case f == taken:
		return r, false
	case f == unclaimed6 && g.noRoute != nil:
		return g.noRoute.answer6(buf, off, n), true
	case f == unclaimed4 && g.noRoute != nil:
		return g.noRoute.answer4(buf, off, n), true
	}
	return r, true // translated, or a Drop: nothing to send
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
