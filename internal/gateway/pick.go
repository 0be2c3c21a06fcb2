package gateway

import (
	"net/netip"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/siit"
	"github.com/v6xlat/xlat/translate"
)

// member is an instance as one configuration routes to it; a reload makes
// new members around the same instances.
type member struct {
	*Instance
	prefixes []netip.Prefix // remote IPv4 sides it serves; none = all
}

func (m *member) serves(remote netip.Addr) bool {
	if len(m.prefixes) == 0 {
		return true
	}
	for _, p := range m.prefixes {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

// order sorts the members for IPv4 packets into by4: a packet to a NAT64's
// pool4 address is that NAT64's, whatever SIIT comes first.
func (s *Setup) order() {
	s.by4 = s.by4[:0]
	for _, want := range []bool{true, false} {
		for _, m := range s.insts {
			if (m.x.kind() == "nat64") == want {
				s.by4 = append(s.by4, m)
			}
		}
	}
}

// pick6 chooses the instance for an IPv6 packet to dst: the first whose
// translator maps dst to an IPv4 address its rules give it. mapped is
// that address when the translator can take it as the destination's
// mapping: it travels with the packet into the translation, which does
// not look it up again.
func (s *Setup) pick6(dst netip.Addr) (m *member, mapped siit.Mapping) {
	for _, m := range s.insts {
		if remote, mapped, ok := m.x.claim6(dst); ok && m.serves(remote) {
			return m, mapped
		}
	}
	return nil, siit.Mapping{}
}

// pick4 chooses the instance for an IPv4 packet from src (its remote
// side) to dst.
func (s *Setup) pick4(src, dst netip.Addr) *member {
	for _, m := range s.by4 {
		if m.x.claim4(dst) && m.serves(src) {
			return m
		}
	}
	return nil
}

// Translate translates the packet buf[off:off+n] in place by the instance
// that claims it, as the gateway's datapath does (handoff control aside);
// ok is false when no instance claims it. buf needs translate.Headroom in
// front of the packet.
func (s *Setup) Translate(buf []byte, off, n int) (r translate.Result, ok bool) {
	r, f := s.decide(buf, off, n, false)
	return r, f == translated
}

// fate is what became of a packet handed to the instances (decide).
type fate uint8

const (
	translated fate = iota // by the instance that claimed it: the result says what to send
	unclaimed6             // an IPv6 packet no instance claims
	unclaimed4             // an IPv4 packet no instance claims
	taken                  // a handoff server's control datagram, now its client's
	notIP                  // neither IPv6 nor IPv4, or too short for its header
)

// decide reads the packet buf[off:off+n] once and has the instance that
// claims it translate it in place, with what the claim found. With
// control, a handoff server's datagram goes to its client instead (the
// datapath); without, it is translated as any other (a capture). The
// datapath (translatePacket) and offline translation (Translate) both
// take this one path.
func (s *Setup) decide(buf []byte, off, n int, control bool) (r translate.Result, f fate) {
	pkt := buf[off : off+n]
	switch {
	case n >= header.IPv6Size && pkt[0]>>4 == header.IPv6Version:
		if m, mapped := s.pick6(header.IPv6(pkt).Dst()); m != nil {
			return m.to4(buf, off, n, mapped), translated
		}
		return r, unclaimed6
	case n >= header.IPv4MinSize && pkt[0]>>4 == header.IPv4Version:
		ip := header.IPv4(pkt)
		if control && ip.Protocol() == header.ProtoUDP && s.control(pkt) {
			return r, taken
		}
		if m := s.pick4(ip.Src(), ip.Dst()); m != nil {
			return m.to6(buf, off, n), translated
		}
		return r, unclaimed4
	}
	return r, notIP
}
