package translate

import (
	"encoding/binary"

	"github.com/v6xlat/xlat/header"
)

// icmp4to6 maps an ICMPv4 type and code (RFC 7915 §4.2). ok is false when
// the RFC says to drop silently.
func icmp4to6(t, c uint8) (t6, c6 uint8, ok bool) {
	switch t {
	case header.ICMPv4EchoRequest:
		return header.ICMPv6EchoRequest, c, true
	case header.ICMPv4EchoReply:
		return header.ICMPv6EchoReply, c, true
	case header.ICMPv4DstUnreachable:
		switch c {
		case 0, 1, 5, 6, 7, 8, 11, 12:
			return header.ICMPv6DstUnreachable, header.ICMPv6CodeNoRoute, true
		case 2: // Protocol Unreachable -> Parameter Problem, unrecognised Next Header
			return header.ICMPv6ParamProblem, header.ICMPv6CodeUnknownNH, true
		case 3:
			return header.ICMPv6DstUnreachable, header.ICMPv6CodePortUnreach, true
		case 4: // Fragmentation Needed -> Packet Too Big
			return header.ICMPv6PacketTooBig, 0, true
		case 9, 10, 13, 15:
			return header.ICMPv6DstUnreachable, header.ICMPv6CodeAdminProhib, true
		}
		return 0, 0, false // 14 (host precedence violation) and unknown codes
	case header.ICMPv4TimeExceeded:
		return header.ICMPv6TimeExceeded, c, true
	case header.ICMPv4ParamProblem:
		if c == 0 || c == 2 {
			return header.ICMPv6ParamProblem, header.ICMPv6CodeErroneous, true
		}
	}
	// Information, timestamp, address mask, router messages, redirect,
	// source quench, alternate host, and unknown types (§4.2).
	return 0, 0, false
}

// icmp6to4 maps an ICMPv6 type and code (RFC 7915 §5.2).
func icmp6to4(t, c uint8) (t4, c4 uint8, ok bool) {
	switch t {
	case header.ICMPv6EchoRequest:
		return header.ICMPv4EchoRequest, c, true
	case header.ICMPv6EchoReply:
		return header.ICMPv4EchoReply, c, true
	case header.ICMPv6DstUnreachable:
		switch c {
		case 0, 2, 3:
			return header.ICMPv4DstUnreachable, header.ICMPv4CodeHostUnreach, true
		case 1:
			return header.ICMPv4DstUnreachable, 10, true
		case 4:
			return header.ICMPv4DstUnreachable, header.ICMPv4CodePortUnreach, true
		}
	case header.ICMPv6PacketTooBig:
		return header.ICMPv4DstUnreachable, header.ICMPv4CodeFragNeeded, true
	case header.ICMPv6TimeExceeded:
		return header.ICMPv4TimeExceeded, c, true
	case header.ICMPv6ParamProblem:
		switch c {
		case 0:
			return header.ICMPv4ParamProblem, 0, true
		case 1:
			return header.ICMPv4DstUnreachable, header.ICMPv4CodeProtoUnreach, true
		}
	}
	// MLD, Neighbor Discovery, other informational messages, option
	// problems and unknown errors are dropped silently.
	return 0, 0, false
}

// pointer4to6 is RFC 7915 §4.2 Figure 3; -1 means drop.
var pointer4to6 = [20]int8{0, 1, 4, 4, -1, -1, -1, -1, 7, 6, -1, -1, 8, 8, 8, 8, 24, 24, 24, 24}

// pointer6to4 is RFC 7915 §5.2 Figure 6 for pointers 0..39; -1 means drop.
var pointer6to4 = func() (t [40]int8) {
	copy(t[:8], []int8{0, 1, -1, -1, 2, 2, 9, 8})
	for i := 8; i < 24; i++ {
		t[i] = 12
	}
	for i := 24; i < 40; i++ {
		t[i] = 16
	}
	return t
}()

// mtu4to6 is the Packet Too Big MTU for an ICMPv4 Fragmentation Needed
// (RFC 7915 §4.2): max(1280, min(mtu4+20, IPv6 next-hop MTU, IPv4 link
// MTU+20)). With mtu4 = 0 (pre-RFC 1191 routers) it estimates from the
// plateau below the quoted packet's Total Length.
func (c *compiled) mtu4to6(mtu4 uint16, innerTotalLen uint16) uint32 {
	m := uint32(mtu4)
	if m == 0 {
		for _, p := range c.plateaus {
			if p < innerTotalLen {
				m = uint32(p)
				break
			}
		}
	}
	m += 20
	m = min(m, uint32(c.IPv6MTU), uint32(c.IPv4MTU)+20)
	return max(m, header.IPv6MinMTU)
}

// mtu6to4 is the Fragmentation Needed MTU for an ICMPv6 Packet Too Big (RFC
// 7915 §5.2): min(mtu6-20, IPv4 next-hop MTU, IPv6 link MTU-20), clamped to
// the 16-bit field.
func (c *compiled) mtu6to4(mtu6 uint32) uint16 {
	m := uint64(mtu6)
	if m < 20 {
		m = 0
	} else {
		m -= 20
	}
	m = min(m, uint64(c.IPv4MTU), uint64(c.IPv6MTU-20), 0xffff)
	return uint16(m)
}

// icmp4HasLength reports whether an ICMPv4 error type carries a length
// attribute (RFC 4884 §4.1 and §4.5).
func icmp4HasLength(t uint8) bool {
	return t == header.ICMPv4DstUnreachable || t == header.ICMPv4TimeExceeded || t == header.ICMPv4ParamProblem
}

func icmp6HasLength(t uint8) bool {
	return t == header.ICMPv6DstUnreachable || t == header.ICMPv6TimeExceeded
}

// be32 reads a big-endian word: the second word of an ICMP error header.
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
