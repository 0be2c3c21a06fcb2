package translate

import (
	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
)

// ICMP errors the translator originates itself (RFC 7915 §4.4, §5.4): they
// quote the offending packet as it arrived, come from the translator's own
// address, and are rate limited. None is sent about an ICMP error, to a
// source that cannot receive one, or without a configured own address.

// replyTTL is the TTL / Hop Limit of generated errors (Linux and Jool use
// 64).
const replyTTL = 64

// reply6 replaces the IPv6 packet buf[off:off+n] with an ICMPv6 error
// addressed to its source. reason is what gets counted.
func (x *Translator) reply6(c *compiled, buf []byte, off, n int, typ, code uint8, rest uint32, reason Reason) Result {
	ip := header.IPv6(buf[off : off+n])
	src := ip.Src()
	if !c.Addr6.IsValid() || src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() {
		return drop(reason)
	}
	if !x.allowError(c) {
		return drop(reason)
	}
	off = makeRoom(buf, off, n, GrowReply6)
	if off < 0 {
		return drop(reason)
	}
	// RFC 4443 §2.4(c): as much of the invoking packet as fits in the
	// minimum MTU.
	qn := min(n, header.IPv6MinMTU-GrowReply6)
	start := off - GrowReply6
	h := header.IPv6(buf[start : start+header.IPv6Size])
	h.SetVersionClassFlow(0, 0)
	h.SetPayloadLen(uint16(header.ICMPHeaderSize + qn))
	h.SetNextHeader(header.ProtoICMPv6)
	h.SetHopLimit(replyTTL)
	h.SetSrc(c.Addr6)
	h.SetDst(src) // read above, before this header could overlap it
	m := header.ICMPv6(buf[start+header.IPv6Size : off+qn])
	m.SetTypeCode(typ, code)
	m.SetRest(rest)
	m.SetChecksum(0)
	m.SetChecksum(^checksum.Checksum(m, h.PseudoHeaderSum(header.ProtoICMPv6, len(m))))
	return Result{Outcome: Outcome{Reply, reason}, Start: start, End: off + qn}
}

// reply4 replaces the IPv4 packet buf[off:off+n] with an ICMPv4 error
// addressed to its source.
func (x *Translator) reply4(c *compiled, buf []byte, off, n int, typ, code uint8, rest uint32, reason Reason) Result {
	ip := header.IPv4(buf[off : off+n])
	src := ip.Src()
	if !c.Addr4.IsValid() || src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() || src.As4() == broadcast4 {
		return drop(reason)
	}
	if ip.IsFragment() && ip.FragOffset() != 0 {
		// RFC 1812 §4.3.2.7: only about the first fragment.
		return drop(reason)
	}
	if !x.allowError(c) {
		return drop(reason)
	}
	off = makeRoom(buf, off, n, GrowReply4)
	if off < 0 {
		return drop(reason)
	}
	// RFC 1812 §4.3.2.3: at most 576 bytes in all.
	qn := min(n, 576-GrowReply4)
	start := off - GrowReply4
	header.IPv4(buf[start : start+header.IPv4MinSize]).Encode(&header.IPv4Fields{
		TotalLength: uint16(GrowReply4 + qn), ID: x.nextID(c.Addr4.As4(), src.As4(), header.ProtoICMPv4), TTL: replyTTL,
		Protocol: header.ProtoICMPv4, Src: c.Addr4.As4(), Dst: src.As4(),
	})
	m := header.ICMPv4(buf[start+header.IPv4MinSize : off+qn])
	m.SetTypeCode(typ, code)
	m.SetRest(rest)
	m.SetChecksum(0)
	m.SetChecksum(^checksum.Checksum(m, 0))
	return Result{Outcome: Outcome{Reply, reason}, Start: start, End: off + qn}
}

var broadcast4 = [4]byte{255, 255, 255, 255}

// ipv6NextHeaderOffset is where the fixed IPv6 header keeps Next Header.
const ipv6NextHeaderOffset = 6

// knownUpperLayer reports whether a host knows the protocol: the ones a
// translator's address speaks of, and No Next Header (RFC 8200 §4.7).
func knownUpperLayer(proto uint8) bool {
	switch proto {
	case header.ProtoTCP, header.ProtoUDP, header.ProtoICMPv6, header.ProtoNone:
		return true
	}
	return false
}

// refuse6 handles a refusal of an IPv6 packet: RFC 7915 §5.4 sends
// Destination Unreachable, administratively prohibited, unless the packet
// is an ICMPv6 message; RFC 6146 §3.5.1.1 uses Address Unreachable when
// the pool is exhausted. Addresses without a translation are refused the
// same way (unless SilentUntranslatable), so that the sender fails at once.
func (x *Translator) refuse6(c *compiled, buf []byte, off, n int, r Reason, isICMP bool) Result {
	if isICMP {
		return drop(r)
	}
	switch r {
	case ReasonUntranslatableSrc, ReasonUntranslatableDst, ReasonIllegalSource, ReasonIllegalDestination:
		if c.SilentUntranslatable {
			return drop(r)
		}
		return x.reply6(c, buf, off, n, header.ICMPv6DstUnreachable, header.ICMPv6CodeAdminProhib, 0, r)
	case ReasonPolicyProhibited:
		return x.reply6(c, buf, off, n, header.ICMPv6DstUnreachable, header.ICMPv6CodeAdminProhib, 0, r)
	case ReasonPolicyNoResources, ReasonLimit:
		return x.reply6(c, buf, off, n, header.ICMPv6DstUnreachable, header.ICMPv6CodeAddrUnreach, 0, r)
	case ReasonUnsupported:
		// RFC 6146 §3.4: a transport the NAT64 does not handle.
		return x.reply6(c, buf, off, n, header.ICMPv6DstUnreachable, header.ICMPv6CodePortUnreach, 0, r)
	}
	return drop(r)
}

// refuse4 is refuse6 for IPv4 (RFC 7915 §4.4: type 3 code 13 by default;
// RFC 6146 §3.5.2.2 uses it too). A packet with no binding is answered as
// RFC 6146 §3.5 allows: UDP with Port Unreachable, ICMP queries with Host
// Unreachable, TCP not at all. Policy refusals of ICMP errors never get
// here (they are dropped where the error is translated).
func (x *Translator) refuse4(c *compiled, buf []byte, off, n int, r Reason, proto uint8) Result {
	switch r {
	case ReasonUntranslatableSrc, ReasonUntranslatableDst, ReasonIllegalSource, ReasonIllegalDestination:
		// RFC 7915 §4.4: Type 3 Code 13 for what cannot be translated.
		if c.SilentUntranslatable {
			return drop(r)
		}
		return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeAdminProhib, 0, r)
	case ReasonPolicyProhibited, ReasonPolicyNoResources:
		return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeAdminProhib, 0, r)
	case ReasonUnsupported:
		return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeProtoUnreach, 0, r)
	case ReasonNoBinding:
		switch proto {
		case header.ProtoUDP:
			return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodePortUnreach, 0, r)
		case header.ProtoICMPv4:
			return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeHostUnreach, 0, r)
		}
	}
	return drop(r)
}

// Reply4 replaces the IPv4 packet buf[off:off+n] with an ICMPv4 error
// about it, from the translator's own address, as the engine does for the
// packets it refuses. Policies that answer later use it: a NAT64 answers an
// unsolicited SYN it held for six seconds (RFC 6146 §3.5.2.2). It needs
// GrowReply4 bytes of headroom or as much room after the packet.
func (x *Translator) Reply4(buf []byte, off, n int, typ, code uint8, rest uint32) Result {
	if !inBounds(buf, off, n) || n < header.IPv4MinSize {
		return drop(ReasonTruncated)
	}
	r := x.reply4(x.cfg.Load(), buf, off, n, typ, code, rest, ReasonNone)
	x.stats.count(r)
	return r
}

// Reply6 is Reply4 for an IPv6 packet (GrowReply6 bytes of room).
func (x *Translator) Reply6(buf []byte, off, n int, typ, code uint8, rest uint32) Result {
	if !inBounds(buf, off, n) || n < header.IPv6Size {
		return drop(ReasonTruncated)
	}
	r := x.reply6(x.cfg.Load(), buf, off, n, typ, code, rest, ReasonNone)
	x.stats.count(r)
	return r
}

// own6 handles an IPv6 packet addressed to the translator's own IPv6
// address: it is not to be translated (the other side would route it back,
// round and round until its hop limit ran out). An Echo Request without
// extension headers or fragmentation is answered, as a host answers it
// (RFC 4443 §4.2); a Next Header no host knows gets Parameter Problem;
// anything else is dropped.
func (x *Translator) own6(c *compiled, buf []byte, off, n int, in *info6, isErr bool) Result {
	p := buf[off : off+n]
	if !isErr && in.l4off == header.IPv6Size && !in.frag && !knownUpperLayer(p[6]) {
		// RFC 8200 §4: code 1, the pointer at the Next Header field.
		return x.reply6(c, buf, off, n, header.ICMPv6ParamProblem, header.ICMPv6CodeUnknownNH, ipv6NextHeaderOffset, ReasonOwnAddress)
	}
	if isErr || in.l4off != header.IPv6Size || in.frag || p[6] != header.ProtoICMPv6 ||
		n < header.IPv6Size+header.ICMPHeaderSize || p[header.IPv6Size] != header.ICMPv6EchoRequest {
		return drop(ReasonOwnAddress)
	}
	h := header.IPv6(p)
	src, dst := h.Src(), h.Dst()
	h.SetSrc(dst)
	h.SetDst(src)
	h.SetHopLimit(replyTTL)
	m := header.ICMPv6(p[header.IPv6Size:])
	// The pseudo-header's sum is the same with the addresses swapped;
	// only the type word changes (RFC 1624).
	old := uint16(m[0])<<8 | uint16(m[1])
	m[0] = header.ICMPv6EchoReply
	m.SetChecksum(checksum.Update16(m.Checksum(), old, uint16(m[0])<<8|uint16(m[1])))
	return Result{Outcome: Outcome{Reply, ReasonOwnAddress}, Start: off, End: off + n}
}
