package translate

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// flow4 reads the flow of the IPv4 packet p (header length hl). quoted
// relaxes the length requirements for a packet inside an ICMP error.
func flow4(f *flow, p []byte, hl int, fl FlowFlags, quoted bool) Reason {
	ip := header.IPv4(p)
	f.Src, f.Dst, f.Proto, f.Flags = ip.Src(), ip.Dst(), ip.Protocol(), fl
	if ip.IsFragment() {
		f.Flags |= FlowFragment
		f.fragID = uint32(ip.ID())
	}
	if ip.FragOffset() != 0 {
		if f.Proto == header.ProtoICMPv4 {
			return ReasonFragmentedICMP
		}
		f.Flags |= FlowNoPorts
		return ReasonNone
	}
	l4 := p[hl:]
	switch f.Proto {
	case header.ProtoTCP:
		return readPorts(f, l4, header.TCPMinSize, quoted)
	case header.ProtoUDP:
		return readPorts(f, l4, header.UDPSize, quoted)
	case header.ProtoICMPv4:
		if ip.MF() {
			return ReasonFragmentedICMP // RFC 7915 §1.2
		}
		if len(l4) < header.ICMPHeaderSize {
			return ReasonTruncated
		}
		t := l4[0]
		return readICMP(f, l4, t == header.ICMPv4EchoRequest || t == header.ICMPv4EchoReply, header.ICMPv4IsError(t), quoted)
	}
	return ReasonNone
}

// sourceRoute reports whether IPv4 options opts hold an unexpired Loose or
// Strict Source Route (RFC 7915 §4.1, RFC 791 §3.1).
func sourceRoute(opts []byte) bool {
	for len(opts) > 0 {
		switch t := opts[0]; t {
		case 0: // end of option list
			return false
		case 1: // no operation
			opts = opts[1:]
			continue
		case 131, 137: // LSRR, SSRR
			if len(opts) >= 3 {
				l, ptr := int(opts[1]), int(opts[2])
				if ptr <= l {
					return true
				}
			}
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return false
		}
		opts = opts[opts[1]:]
	}
	return false
}

// to6 is the RFC 7915 §4 algorithm for an outer packet.
func (x *Translator) to6(c *compiled, buf []byte, off, n int, fl FlowFlags) Result {
	if fl == 0 && !x.general {
		if r, ok := x.plain4to6(c, buf, off, n); ok {
			return r
		}
	}
	if !inBounds(buf, off, n) || n < header.IPv4MinSize {
		return drop(ReasonTruncated)
	}
	p := buf[off : off+n]
	ip := header.IPv4(p)
	if ip.Version() != header.IPv4Version {
		return drop(ReasonMalformed)
	}
	hl := ip.HeaderLen()
	total := int(ip.TotalLen())
	if hl < header.IPv4MinSize || total < hl {
		return drop(ReasonMalformed)
	}
	if total > n || hl > n {
		return drop(ReasonTruncated)
	}
	n, p = total, p[:total]
	if !ip.ValidChecksum() {
		return drop(ReasonBadChecksum)
	}
	var f flow
	r := flow4(&f, p, hl, fl, false)
	if r != ReasonNone {
		return drop(r)
	}
	isErr := f.Flags&FlowICMPError != 0
	if fl&FlowHairpin == 0 {
		if r := screenIn(c, f.Src, f.Dst, isErr); r != ReasonNone {
			return drop(r) // RFC 7915 §4.1: silently (RFC 1812 §5.3.7)
		}
	}
	if ipv6Only(f.Proto) {
		// RFC 7915 §4.1 copies Protocol into Next Header, but these
		// numbers mean an IPv6 extension header (RFC 7045 §2) or ICMPv6
		// there, and the receiver would read the payload as one. The
		// IPv4 sender hears what an IPv6 host would have said, in IPv4:
		// Protocol Unreachable.
		if isErr {
			return drop(ReasonUnsupported)
		}
		return x.refuse4(c, buf, off, n, ReasonUnsupported, f.Proto)
	}
	if isErr && n >= hl+header.ICMPHeaderSize+header.IPv4MinSize &&
		string(p[12:16]) == string(p[hl+header.ICMPHeaderSize+16:hl+header.ICMPHeaderSize+20]) {
		f.Flags |= FlowFromQuotedDst
	}
	if hl > header.IPv4MinSize && sourceRoute(p[header.IPv4MinSize:hl]) {
		// RFC 7915 §4.1: unexpired source route -> Source Route Failed.
		if isErr {
			return drop(ReasonSourceRoute)
		}
		return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeSourceRoute, 0, ReasonSourceRoute)
	}
	if fl&FlowHairpin == 0 && ip.TTL() <= 1 {
		if isErr {
			return drop(ReasonHopLimit)
		}
		return x.reply4(c, buf, off, n, header.ICMPv4TimeExceeded, 0, 0, ReasonHopLimit)
	}
	first := ip.FragOffset() == 0
	if f.Proto == header.ProtoUDP && first && binary.BigEndian.Uint16(p[hl+6:]) == 0 {
		// RFC 7915 §4.5: a zero UDP checksum must become a real one in
		// IPv6. Only an unfragmented datagram can be summed; the first
		// fragment of a fragmented one is refused, later ones pass (they
		// cannot be told apart).
		if ip.MF() || !c.AmendUDPChecksumZero {
			return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeAdminProhib, 0, ReasonUDPChecksumZero)
		}
	}
	if isErr {
		// The quoted packet first: the outer addresses may depend on it.
		return x.icmpError4to6(c, buf, off, n, hl, &f)
	}
	var out flow // not out := f: copying a freshly written struct stalls
	out.Flags = f.Flags
	var ps Ports
	out.Src, out.Dst, ps, r = x.policy.To6(f.Src, f.Dst, f.ports(), f.meta())
	out.SrcPort, out.DstPort = ps.Src(), ps.Dst()
	if r == ReasonNone {
		r = screenOut(c, out.Src, out.Dst)
	}
	if r != ReasonNone {
		return x.refuse4(c, buf, off, n, r, f.Proto)
	}

	isFrag := ip.IsFragment()
	size := header.IPv6Size + n - hl
	if isFrag {
		size += header.IPv6FragmentSize
	}
	res := Result{Outcome: Outcome{Verdict: Forward}}
	if ip.DF() {
		if size > c.IPv6MTU {
			// RFC 7915 §4.1: Fragmentation Needed with the MTU an IPv4
			// packet needs to fit after translation.
			mtu := c.IPv6MTU - (header.IPv6Size - header.IPv4MinSize)
			return x.reply4(c, buf, off, n, header.ICMPv4DstUnreachable, header.ICMPv4CodeFragNeeded, uint32(mtu), ReasonPacketTooBig)
		}
	} else if limit := min(c.LowestIPv6MTU, c.IPv6MTU); size > limit {
		// RFC 7915 §4: DF clear and too big for the lowest IPv6 MTU (or
		// the link): fragment, with a Fragment header carrying the IPv4
		// Identification.
		if !isFrag {
			isFrag = true
			size += header.IPv6FragmentSize
		}
		res.Verdict, res.MTU = Fragment, limit
	}
	// Read before the IPv4 header is overwritten.
	clamp := f.Proto == header.ProtoTCP && f.TCPFlags&header.TCPFlagSYN != 0 && c.mssTo6 != 0 && ip.FragOffset() == 0
	grow := size - n
	off = makeRoom(buf, off, n, grow)
	if off < 0 {
		return drop(ReasonNoHeadroom)
	}
	res.Start = x.rewrite4to6(c, buf, off, n, hl, isFrag, &f, &out, false)
	res.End = off + n
	if clamp {
		l4 := res.Start + header.IPv6Size
		if isFrag {
			l4 += header.IPv6FragmentSize
		}
		header.TCP(buf[l4:res.End]).ClampMSS(c.mssTo6) // Config.MSSClamp
	}
	return res
}

// rewrite4to6 turns the IPv4 packet buf[off:off+n] (header length hl) into
// an IPv6 packet that ends where it ended, with a Fragment header when
// withFH, and returns where it starts. Outer and quoted packets share it
// (RFC 7915 §4.3); quoted packets keep their TTL and may be truncated, so
// lengths come from their headers. The caller has made room in front.
func (x *Translator) rewrite4to6(c *compiled, buf []byte, off, n, hl int, withFH bool, f, out *flow, quoted bool) int {
	ip := header.IPv4(buf[off : off+n])
	ulen := int(ip.TotalLen()) - hl
	if ulen < 0 {
		ulen = 0
	}
	tos, ttl, proto := ip.TOS(), ip.TTL(), ip.Protocol()
	id, fo := ip.ID(), ip.FlagsOffset()
	if !quoted && f.Flags&FlowHairpin == 0 {
		ttl-- // RFC 7757 §4.2.2: a hairpinned packet is decremented once
	}
	if c.ZeroizeTrafficClass {
		tos = 0
	}
	l4off := off + hl
	if fo&0x1fff == 0 {
		oldAddr := sum4(f.Src, f.Dst)
		newAddr := checksum.Combine(checksum.WordSum(ipword.Words(out.Src)), checksum.WordSum(ipword.Words(out.Dst)))
		// The identifier belongs to the IPv6 node: the destination of an
		// outer packet, the source of a quoted one.
		icmpID := out.DstPort
		if quoted {
			icmpID = out.SrcPort
		}
		l4To6(buf[l4off:off+n], proto, ulen, oldAddr, newAddr, f, out, icmpID, quoted, c.AmendUDPChecksumZero)
	}
	if proto == header.ProtoICMPv4 {
		proto = header.ProtoICMPv6
	}

	start := l4off - header.IPv6Size
	plen := ulen
	if withFH {
		start -= header.IPv6FragmentSize
		plen += header.IPv6FragmentSize
		fh := header.IPv6Fragment(buf[l4off-header.IPv6FragmentSize : l4off])
		// RFC 7915 §4.1: offset and M copied, Identification widened.
		fh.Set(proto, fo&0x1fff, fo&header.IPv4FlagMF != 0, uint32(id))
	}
	h := header.IPv6(buf[start : start+header.IPv6Size])
	h.SetVersionClassFlow(tos, 0)
	h.SetPayloadLen(uint16(plen))
	if withFH {
		h.SetNextHeader(header.ProtoFragment)
	} else {
		h.SetNextHeader(proto)
	}
	h.SetHopLimit(ttl)
	h.SetSrc(out.Src)
	h.SetDst(out.Dst)
	return start
}

// l4To6 updates a transport header for 4->6 (RFC 7915 §4.5).
func l4To6(l4 []byte, proto uint8, ulen int, oldAddr, newAddr uint16, f, out *flow, id uint16, quoted, amend bool) {
	switch proto {
	case header.ProtoTCP:
		tcpTo(l4, oldAddr, newAddr, f, out)
	case header.ProtoUDP:
		ports(l4, f, out)
		if len(l4) < header.UDPSize {
			return
		}
		cs := binary.BigEndian.Uint16(l4[6:])
		if cs == 0 {
			if quoted || !amend || len(l4) < ulen {
				return
			}
			// Amend: sum the whole datagram under the new pseudo-header.
			ps := pseudoSum(newAddr, header.ProtoUDP, ulen)
			binary.BigEndian.PutUint16(l4[6:], checksum.UDPField(^checksum.Checksum(l4[:ulen], ps)))
			return
		}
		cs = checksum.Adjust(cs, oldAddr, newAddr)
		binary.BigEndian.PutUint16(l4[6:], checksum.UDPField(portsDelta(cs, f, out)))
	case header.ProtoICMPv4:
		if len(l4) < header.ICMPHeaderSize {
			return
		}
		t6 := uint8(header.ICMPv6EchoRequest)
		if l4[0] == header.ICMPv4EchoReply {
			t6 = header.ICMPv6EchoReply
		}
		// ICMPv6 adds the pseudo-header (RFC 7915 §4.2).
		echoTo(l4, t6, id, 0, pseudoSum(newAddr, header.ProtoICMPv6, ulen))
	}
}

// icmpError4to6 translates an ICMPv4 error and the packet it quotes (RFC
// 7915 §4.2, §4.3).
func (x *Translator) icmpError4to6(c *compiled, buf []byte, off, n, hl int, f *flow) Result {
	ip := header.IPv4(buf[off : off+n])
	icmpOff := off + hl
	icmp := buf[icmpOff : off+n]
	if !checksum.Verify(icmp, 0) {
		return drop(ReasonBadChecksum)
	}
	t6, c6, ok := icmp4to6(icmp[0], icmp[1])
	if !ok {
		return drop(ReasonICMPType)
	}
	qoff := icmpOff + header.ICMPHeaderSize
	qend := off + n
	var rest uint32
	switch {
	case t6 == header.ICMPv6PacketTooBig:
		var innerTL uint16
		if qend-qoff >= 4 {
			innerTL = binary.BigEndian.Uint16(buf[qoff+2:])
		}
		rest = c.mtu4to6(binary.BigEndian.Uint16(icmp[6:]), innerTL)
	case t6 == header.ICMPv6ParamProblem && c6 == header.ICMPv6CodeUnknownNH:
		rest = 6 // Protocol Unreachable: points at Next Header (§4.2)
	case t6 == header.ICMPv6ParamProblem:
		ptr := icmp[4]
		if int(ptr) >= len(pointer4to6) || pointer4to6[ptr] < 0 {
			return drop(ReasonICMPPointer)
		}
		rest = uint32(pointer4to6[ptr])
	}
	hasExt := false
	// Packet Too Big and Parameter Problem have no length attribute in
	// ICMPv6; their extensions, if any, travel as quoted bytes.
	if icmp4HasLength(icmp[0]) && icmp6HasLength(t6) && icmp[5] != 0 {
		if l := int(icmp[5]) * 4; qoff+l <= qend {
			qend, hasExt = qoff+l, true
		}
	}
	ttl := ip.TTL()
	if f.Flags&FlowHairpin == 0 {
		ttl-- // a hairpinned error was decremented on its first pass
	}
	tos := ip.TOS()
	if c.ZeroizeTrafficClass {
		tos = 0
	}
	// Translate the quoted packet in place; its header grows by 20 (28
	// with a Fragment header), the outer one by 20.
	qn := qend - qoff
	if qn < header.IPv4MinSize {
		return drop(ReasonTruncated)
	}
	q := header.IPv4(buf[qoff:qend])
	qhl := q.HeaderLen()
	if q.Version() != header.IPv4Version || qhl < header.IPv4MinSize {
		return drop(ReasonMalformed)
	}
	if qhl > qn {
		return drop(ReasonTruncated)
	}
	var qf flow
	r := flow4(&qf, buf[qoff:qend], qhl, FlowInner|f.Flags&FlowHairpin, true)
	if r != ReasonNone {
		return drop(r)
	}
	var qout flow
	qout.Flags = qf.Flags
	var qps Ports
	qout.Src, qout.Dst, qps, r = x.policy.To6(qf.Src, qf.Dst, qf.ports(), qf.meta())
	qout.SrcPort, qout.DstPort = qps.Src(), qps.Dst()
	if r != ReasonNone {
		return drop(r)
	}
	qFH := q.IsFragment()
	grow := header.IPv6Size - qhl + header.IPv6Size - hl
	if qFH {
		grow += header.IPv6FragmentSize
	}
	if grow > off {
		// Shift the whole packet right, then continue with new offsets.
		noff := makeRoom(buf, off, n, grow)
		if noff < 0 {
			return drop(ReasonNoHeadroom)
		}
		d := noff - off
		off, qoff, qend = noff, qoff+d, qend+d
	}
	src6, dst6, r := x.policy.Error6(f.Src, f.Dst, qout.Src, qout.Dst, f.meta())
	if r != ReasonNone {
		return drop(r)
	}
	qs := x.rewrite4to6(c, buf, qoff, qend-qoff, qhl, qFH, &qf, &qout, true)
	// RFC 4443 §2.4(c): the ICMPv6 error fits in 1280 bytes.
	end, lenAttr := fitError(buf, qs, qend, off+n, hasExt, 8, header.IPv6MinMTU-header.IPv6Size-header.ICMPHeaderSize)
	m := header.ICMPv6(buf[qs-header.ICMPHeaderSize : end])
	m.SetTypeCode(t6, c6)
	m.SetRest(rest)
	if icmp6HasLength(t6) {
		m[4] = lenAttr
	}
	start := qs - header.ICMPHeaderSize - header.IPv6Size
	h := header.IPv6(buf[start : start+header.IPv6Size])
	h.SetVersionClassFlow(tos, 0)
	h.SetPayloadLen(uint16(end - start - header.IPv6Size))
	h.SetNextHeader(header.ProtoICMPv6)
	h.SetHopLimit(ttl)
	h.SetSrc(src6)
	h.SetDst(dst6)
	m.SetChecksum(0)
	m.SetChecksum(^checksum.Checksum(m, h.PseudoHeaderSum(header.ProtoICMPv6, len(m))))
	return Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: end}
}

// sum4 is checksum.AddrSum of the IPv4 addresses a and b together, in one
// call without AddrSum's look at the family: an IPv4 Addr's low word holds
// it (::ffff:a.b.c.d).
func sum4(a, b netip.Addr) uint16 {
	_, x := ipword.Words(a)
	_, y := ipword.Words(b)
	return sum4Words(uint32(x), uint32(y))
}

// sum4Words is sum4 of two addresses as words.
func sum4Words(x, y uint32) uint16 {
	s := uint64(x) + uint64(y)
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s + s>>16)
}
