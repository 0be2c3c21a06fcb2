package translate

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// The plain path: most packets a translator sees are TCP, UDP or ICMP
// echoes with no extension headers or IPv4 options, not fragmented, not
// expiring, and small enough for the other side. For them every rule of RFC 7915 §4
// and §5 comes down to a few fields, so they are translated in one pass
// over words read once, without the walk and the flow records the
// general path keeps for everything else.
//
// A plain function looks before it touches: it returns false, having
// written nothing and asked the policy nothing, for any packet that is
// not plain, and the general path takes it from the start. Once the
// policy has answered (and a stateful one may have created a session),
// the packet is finished here, refusals included, exactly as the general
// path would finish it; TestPlainMatchesGeneral holds the two to the same
// bytes and outcomes.

// plain6to4 is to4 for a plain outer IPv6 packet; mapped, when valid, is
// its destination as the caller mapped it already (To4Mapped).
func (x *Translator) plain6to4(c *compiled, buf []byte, off, n int, mapped netip.Addr) (Result, bool) {
	if !inBounds(buf, off, n) || n < header.IPv6Size+header.UDPSize {
		return Result{}, false
	}
	p := buf[off : off+n]
	h := (*[header.IPv6Size + header.UDPSize]byte)(p)
	vtf := binary.BigEndian.Uint32(h[0:4])
	plen := int(binary.BigEndian.Uint16(h[4:6]))
	nh, hop := h[6], h[7]
	minL4 := header.UDPSize // and ICMPHeaderSize
	switch nh {
	case header.ProtoTCP:
		minL4 = header.TCPMinSize
	case header.ProtoUDP:
	case header.ProtoICMPv6:
		if t := h[header.IPv6Size]; t != header.ICMPv6EchoRequest && t != header.ICMPv6EchoReply {
			return Result{}, false
		}
	default:
		return Result{}, false
	}
	// RFC 7915 §5.1: Hop Limit 1 expires here (the general path replies);
	// a packet over the IPv4 MTU is answered or fragmented there too.
	if vtf>>28 != header.IPv6Version || plen < minL4 || plen > n-header.IPv6Size || hop <= 1 || header.IPv4MinSize+plen > c.IPv4MTU {
		return Result{}, false
	}
	n = header.IPv6Size + plen // link-layer padding ignored
	l4 := p[header.IPv6Size:n]
	if nh == header.ProtoTCP && l4[13]&header.TCPFlagSYN != 0 && c.mssTo4 != 0 {
		return Result{}, false // the general path clamps the MSS
	}
	shi, slo := binary.BigEndian.Uint64(h[8:16]), binary.BigEndian.Uint64(h[16:24])
	dhi, dlo := binary.BigEndian.Uint64(h[24:32]), binary.BigEndian.Uint64(h[32:40])
	// Addresses a router must not forward, and the translator's own, are
	// the general path's to refuse or answer (addrclass.go).
	if forbidden6(shi, slo) || forbidden6(dhi, dlo) || c.own6 && dhi == c.own6hi && dlo == c.own6lo {
		return Result{}, false
	}
	ports, m := plainFlow(l4, nh)

	s4, d4, ps, r := x.policyTo4(ipword.From6(shi, slo), ipword.From6(dhi, dlo), mapped, ports, m)
	if r == ReasonNone {
		r = gave4(s4, d4)
	}
	_, s := ipword.Words(s4)
	_, d := ipword.Words(d4)
	src4, dst4 := uint32(s), uint32(d)
	if r == ReasonNone {
		r = screenOut4(src4, dst4)
	}
	if r != ReasonNone {
		return x.refuse6(c, buf, off, n, r, nh == header.ProtoICMPv6), true
	}

	// RFC 7915 §5.5: the pseudo-header's addresses change, and the
	// policy's ports may; the checksum follows incrementally (RFC 1624),
	// so a wrong one stays wrong.
	oldAddr := checksum.Combine(checksum.WordSum(shi, slo), checksum.WordSum(dhi, dlo))
	if nh == header.ProtoICMPv6 {
		// §5.2: echo types 128/129 become 8/0, the identifier the
		// policy's, and the checksum loses the pseudo-header.
		t4 := uint8(header.ICMPv4EchoRequest)
		if l4[0] == header.ICMPv6EchoReply {
			t4 = header.ICMPv4EchoReply
		}
		echoTo(l4, t4, ps.Src(), pseudoSum(oldAddr, header.ProtoICMPv6, plen), 0)
		nh = header.ProtoICMPv4
	} else {
		plainPorts(l4, nh, ports, ps, oldAddr, sum4Words(src4, dst4))
	}

	tos := uint8(vtf >> 20)
	if c.OverrideTOS {
		tos = c.TOS
	}
	total := uint32(header.IPv4MinSize + plen)
	// §5.1: DF over 1260 bytes, so that PMTUD works towards the IPv6
	// node; an Identification for smaller packets, which may be split.
	idFlags := uint32(header.IPv4FlagDF)
	if total <= 1260 {
		idFlags = uint32(x.ids.next(src4, dst4, nh)) << 16
	}
	start := off + header.IPv6Size - header.IPv4MinSize
	header.IPv4(buf[start:start+header.IPv4MinSize]).EncodeWords(uint32(tos)<<16|total, idFlags, uint32(hop-1)<<8|uint32(nh), src4, dst4)
	return Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: off + n}, true
}

// plainFlow returns what the policy is told of a plain packet's
// transport, l4, of protocol proto (either family's): the flow's ports,
// or an echo's identifier in both, and its Meta. The identifier is the
// same on both sides, as the general path's flow has it.
func plainFlow(l4 []byte, proto uint8) (Ports, Meta) {
	switch proto {
	case header.ProtoICMPv6, header.ProtoICMPv4:
		id := binary.BigEndian.Uint16(l4[4:])
		return MakePorts(id, id), MakeMeta(header.ProtoICMPv4, 0, FlowICMPQuery)
	case header.ProtoTCP:
		return Ports(binary.BigEndian.Uint32(l4)), MakeMeta(proto, l4[13], 0)
	}
	return Ports(binary.BigEndian.Uint32(l4)), MakeMeta(proto, 0, 0)
}

// plainPorts writes the policy's ports ps over a TCP or UDP header's old
// ones and updates its checksum for them and for the pseudo-header's
// addresses, whose sum went from oldAddr to newAddr. A zero UDP checksum
// means none and stays (RFC 7915 §5.5; §4.5's zero the general path
// handles).
func plainPorts(l4 []byte, proto uint8, old, ps Ports, oldAddr, newAddr uint16) {
	binary.BigEndian.PutUint32(l4, uint32(ps))
	at := 6
	if proto == header.ProtoTCP {
		at = header.TCPChecksumOffset
	}
	cs := binary.BigEndian.Uint16(l4[at:])
	if proto == header.ProtoUDP && cs == 0 {
		return
	}
	cs = portsUpdate(checksum.Adjust(cs, oldAddr, newAddr), old.Src(), old.Dst(), ps.Src(), ps.Dst())
	if proto == header.ProtoUDP {
		cs = checksum.UDPField(cs)
	}
	binary.BigEndian.PutUint16(l4[at:], cs)
}

// plain4to6 is to6 for a plain outer IPv4 packet: no options (so no
// source route), not a fragment, a UDP checksum other than zero, and
// headroom for the 20 bytes it grows.
func (x *Translator) plain4to6(c *compiled, buf []byte, off, n int) (Result, bool) {
	if !inBounds(buf, off, n) || n < header.IPv4MinSize+header.UDPSize || off < header.IPv6Size-header.IPv4MinSize {
		return Result{}, false
	}
	p := buf[off : off+n]
	h := (*[header.IPv4MinSize + header.UDPSize]byte)(p)
	w0, w1, w2 := binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8]), binary.BigEndian.Uint32(h[8:12])
	src, dst := binary.BigEndian.Uint32(h[12:16]), binary.BigEndian.Uint32(h[16:20])
	total := int(uint16(w0))
	ulen := total - header.IPv4MinSize
	ttl, proto := uint8(w2>>24), uint8(w2>>16)
	minL4 := header.UDPSize // and ICMPHeaderSize
	switch proto {
	case header.ProtoTCP:
		minL4 = header.TCPMinSize
	case header.ProtoUDP:
		if h[header.IPv4MinSize+6] == 0 && h[header.IPv4MinSize+7] == 0 {
			return Result{}, false // §4.5: amended or refused by the general path
		}
	case header.ProtoICMPv4:
		if t := h[header.IPv4MinSize]; t != header.ICMPv4EchoRequest && t != header.ICMPv4EchoReply {
			return Result{}, false
		}
	default:
		return Result{}, false
	}
	// RFC 7915 §4.1: the payload follows the IPv6 header; with DF set, a
	// packet too big for the IPv6 link gets Fragmentation Needed, and
	// without it one too big for the lowest IPv6 MTU is fragmented (the
	// general path does both).
	limit := c.IPv6MTU
	if w1&uint32(header.IPv4FlagDF) == 0 {
		limit = min(limit, c.LowestIPv6MTU)
	}
	if w0>>24 != header.IPv4Version<<4|header.IPv4MinSize/4 || ulen < minL4 || total > n ||
		w1&0x3fff != 0 || ttl <= 1 || header.IPv6Size+ulen > limit || !header.IPv4(h[:header.IPv4MinSize]).ValidChecksum() {
		return Result{}, false
	}
	if forbidden4(src) || forbidden4(dst) {
		return Result{}, false // the general path's (addrclass.go)
	}
	n = total // link-layer padding ignored
	l4 := p[header.IPv4MinSize:n]
	if proto == header.ProtoTCP && l4[13]&header.TCPFlagSYN != 0 && c.mssTo6 != 0 {
		return Result{}, false // the general path clamps the MSS
	}
	ports, m := plainFlow(l4, proto)

	s6, d6, ps, r := x.policy.To6(ipword.From4(src), ipword.From4(dst), ports, m)
	shi, slo := ipword.Words(s6)
	dhi, dlo := ipword.Words(d6)
	if r == ReasonNone {
		r = screenOut6(c, shi, slo, dhi, dlo)
	}
	if r != ReasonNone {
		return x.refuse4(c, buf, off, n, r, proto), true
	}

	// RFC 7915 §4.5: the transport checksum follows the pseudo-header's
	// new addresses and the policy's ports, incrementally.
	newAddr := checksum.Combine(checksum.WordSum(shi, slo), checksum.WordSum(dhi, dlo))
	if proto == header.ProtoICMPv4 {
		// §4.2: echo types 8/0 become 128/129, the identifier the
		// policy's, and the checksum gains the pseudo-header.
		t6 := uint8(header.ICMPv6EchoRequest)
		if l4[0] == header.ICMPv4EchoReply {
			t6 = header.ICMPv6EchoReply
		}
		echoTo(l4, t6, ps.Dst(), 0, pseudoSum(newAddr, header.ProtoICMPv6, ulen))
		proto = header.ProtoICMPv6
	} else {
		plainPorts(l4, proto, ports, ps, sum4Words(src, dst), newAddr)
	}

	// §4.1: Traffic Class from TOS (or zero), Flow Label zero, Hop
	// Limit from TTL less one.
	tos := uint8(w0 >> 16)
	if c.ZeroizeTrafficClass {
		tos = 0
	}
	start := off + header.IPv4MinSize - header.IPv6Size
	ip := header.IPv6(buf[start : start+header.IPv6Size])
	ip.SetVersionClassFlow(tos, 0)
	ip.SetPayloadLen(uint16(ulen))
	ip.SetNextHeader(proto)
	ip.SetHopLimit(ttl - 1)
	ip.SetSrc(s6)
	ip.SetDst(d6)
	return Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: off + n}, true
}
