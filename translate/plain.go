package translate

import (
	"encoding/binary"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// The plain path: most packets a translator sees are TCP or UDP with no
// extension headers or IPv4 options, not fragmented, not expiring, and
// small enough for the other side. For them every rule of RFC 7915 §4
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

// plain6to4 is to4 for a plain outer IPv6 packet.
func (x *Translator) plain6to4(c *compiled, buf []byte, off, n int) (Result, bool) {
	if !inBounds(buf, off, n) || n < header.IPv6Size+header.UDPSize {
		return Result{}, false
	}
	p := buf[off : off+n]
	h := (*[header.IPv6Size + header.UDPSize]byte)(p)
	vtf := binary.BigEndian.Uint32(h[0:4])
	plen := int(binary.BigEndian.Uint16(h[4:6]))
	nh, hop := h[6], h[7]
	minL4 := header.UDPSize
	if nh == header.ProtoTCP {
		minL4 = header.TCPMinSize
	}
	// RFC 7915 §5.1: Hop Limit 1 expires here (the general path replies);
	// a packet over the IPv4 MTU is answered or fragmented there too.
	if vtf>>28 != header.IPv6Version || nh != header.ProtoTCP && nh != header.ProtoUDP ||
		plen < minL4 || plen > n-header.IPv6Size || hop <= 1 || header.IPv4MinSize+plen > c.IPv4MTU {
		return Result{}, false
	}
	n = header.IPv6Size + plen // link-layer padding ignored
	l4 := p[header.IPv6Size:n]
	sp, dp := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	var tcpFlags uint8
	csAt := 6
	if nh == header.ProtoTCP {
		tcpFlags, csAt = l4[13], header.TCPChecksumOffset
	}
	shi, slo := binary.BigEndian.Uint64(h[8:16]), binary.BigEndian.Uint64(h[16:24])
	dhi, dlo := binary.BigEndian.Uint64(h[24:32]), binary.BigEndian.Uint64(h[32:40])

	s4, d4, ps, r := x.policy.To4(ipword.From6(shi, slo), ipword.From6(dhi, dlo), MakePorts(sp, dp), MakeMeta(nh, tcpFlags, 0))
	if r == ReasonNone {
		r = gave4(s4, d4)
	}
	if r != ReasonNone {
		return x.refuse6(c, buf, off, n, r, false), true
	}
	_, s := ipword.Words(s4)
	_, d := ipword.Words(d4)
	src4, dst4 := uint32(s), uint32(d)

	// RFC 7915 §5.5: the pseudo-header's addresses change, and the
	// policy's ports may; the checksum follows incrementally (RFC 1624),
	// so a wrong one stays wrong. A zero UDP checksum means none.
	nsp, ndp := ps.Src(), ps.Dst()
	binary.BigEndian.PutUint16(l4[0:], nsp)
	binary.BigEndian.PutUint16(l4[2:], ndp)
	if cs := binary.BigEndian.Uint16(l4[csAt:]); nh == header.ProtoTCP || cs != 0 {
		oldAddr := checksum.Combine(checksum.WordSum(shi, slo), checksum.WordSum(dhi, dlo))
		newAddr := sum4Words(src4, dst4)
		cs = portsUpdate(checksum.Adjust(cs, oldAddr, newAddr), sp, dp, nsp, ndp)
		if nh == header.ProtoUDP {
			cs = checksum.UDPField(cs)
		}
		binary.BigEndian.PutUint16(l4[csAt:], cs)
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
		idFlags = uint32(x.nextID()) << 16
	}
	start := off + header.IPv6Size - header.IPv4MinSize
	header.IPv4(buf[start:start+header.IPv4MinSize]).EncodeWords(uint32(tos)<<16|total, idFlags, uint32(hop-1)<<8|uint32(nh), src4, dst4)
	return Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: off + n}, true
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
	minL4 := header.UDPSize
	if proto == header.ProtoTCP {
		minL4 = header.TCPMinSize
	}
	// RFC 7915 §4.1: the payload follows the IPv6 header; with DF set, a
	// packet too big for the IPv6 link gets Fragmentation Needed, and
	// without it one too big for the lowest IPv6 MTU is fragmented (the
	// general path does both).
	limit := c.IPv6MTU
	if w1&uint32(header.IPv4FlagDF) == 0 {
		limit = min(limit, c.LowestIPv6MTU)
	}
	if w0>>24 != header.IPv4Version<<4|header.IPv4MinSize/4 || proto != header.ProtoTCP && proto != header.ProtoUDP ||
		ulen < minL4 || total > n || w1&0x3fff != 0 || ttl <= 1 || header.IPv6Size+ulen > limit ||
		checksum.Combine(checksum.Combine(sum4Words(w0, w1), sum4Words(w2, src)), sum4Words(dst, 0)) != 0xffff {
		return Result{}, false
	}
	n = total // link-layer padding ignored
	l4 := p[header.IPv4MinSize:n]
	sp, dp := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	var tcpFlags uint8
	csAt := 6
	if proto == header.ProtoTCP {
		tcpFlags, csAt = l4[13], header.TCPChecksumOffset
	}
	cs := binary.BigEndian.Uint16(l4[csAt:])
	if proto == header.ProtoUDP && cs == 0 {
		return Result{}, false // §4.5: amended or refused by the general path
	}

	s6, d6, ps, r := x.policy.To6(ipword.From4(src), ipword.From4(dst), MakePorts(sp, dp), MakeMeta(proto, tcpFlags, 0))
	if r != ReasonNone {
		return x.refuse4(c, buf, off, n, r, proto), true
	}

	// RFC 7915 §4.5: the transport checksum follows the pseudo-header's
	// new addresses and the policy's ports, incrementally.
	nsp, ndp := ps.Src(), ps.Dst()
	binary.BigEndian.PutUint16(l4[0:], nsp)
	binary.BigEndian.PutUint16(l4[2:], ndp)
	cs = portsUpdate(checksum.Adjust(cs, sum4Words(src, dst), checksum.Combine(checksum.WordSum(ipword.Words(s6)), checksum.WordSum(ipword.Words(d6)))), sp, dp, nsp, ndp)
	if proto == header.ProtoUDP {
		cs = checksum.UDPField(cs)
	}
	binary.BigEndian.PutUint16(l4[csAt:], cs)

	// §4.1: Traffic Class from TOS (or zero), Flow Label zero, Hop
	// Limit from TTL less one.
	tos := uint8(w0 >> 16)
	if c.ZeroizeTrafficClass {
		tos = 0
	}
	start := off + header.IPv4MinSize - header.IPv6Size
	ip := header.IPv6(buf[start : start+header.IPv6Size])
	ip.SetVersionClassFlow(tos, 0)
	binary.BigEndian.PutUint32(ip[4:8], uint32(ulen)<<16|uint32(proto)<<8|uint32(ttl-1))
	ip.SetSrc(s6)
	ip.SetDst(d6)
	return Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: off + n}, true
}
