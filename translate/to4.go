package translate

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// info6 is what the engine learns walking an IPv6 packet's headers.
type info6 struct {
	l4off   int    // offset of the upper-layer header
	proto   uint8  // upper-layer protocol
	frag    bool   // a Fragment header is present
	more    bool   // its M flag
	fragOff uint16 // its offset, 8-byte units
	fragID  uint32
	pointer int // ReasonRoutingHeader: offset of Segments Left
}

// first reports whether the packet carries the upper-layer header.
func (in *info6) first() bool { return in.fragOff == 0 }

// fragmented reports whether the packet is a real fragment, not an atomic
// one.
func (in *info6) fragmented() bool { return in.frag && (in.fragOff != 0 || in.more) }

// parse6 walks the extension headers of the IPv6 packet p (which may be a
// truncated quoted packet). RFC 7915 §5.1: Hop-by-Hop, Destination Options
// and Routing headers with Segments Left 0 are skipped; §5.1.1: the
// Fragment header is consumed, and an extension header after it refused.
func parse6(p []byte, in *info6) Reason {
	nh := p[6]
	off := header.IPv6Size
	for {
		switch nh {
		case header.ProtoHopByHop, header.ProtoDstOpts, header.ProtoRouting:
			if in.frag {
				return ReasonExtAfterFragment
			}
			if off+8 > len(p) {
				return ReasonTruncated
			}
			if nh == header.ProtoRouting && p[off+3] != 0 {
				// RFC 7915 §5.1: Segments Left != 0 is not translated; the
				// Parameter Problem points at that field.
				in.pointer = off + 3
				return ReasonRoutingHeader
			}
			nh, off = p[off], off+(int(p[off+1])+1)*8
		case header.ProtoFragment:
			if in.frag {
				return ReasonExtAfterFragment
			}
			if off+header.IPv6FragmentSize > len(p) {
				return ReasonTruncated
			}
			fh := header.IPv6Fragment(p[off:])
			in.frag, in.more, in.fragOff, in.fragID = true, fh.More(), fh.Offset(), fh.ID()
			nh, off = fh.NextHeader(), off+header.IPv6FragmentSize
		case header.ProtoAH:
			// §5.1.1 counts AH as an extension header after a Fragment
			// header; otherwise it is copied as the protocol (§5.1).
			if in.frag {
				return ReasonExtAfterFragment
			}
			in.l4off, in.proto = off, nh
			return ReasonNone
		default:
			in.l4off, in.proto = off, nh
			if off > len(p) {
				return ReasonTruncated
			}
			return ReasonNone
		}
		if off > len(p) {
			return ReasonTruncated
		}
	}
}

// flow6 reads the flow of the IPv6 packet p. quoted relaxes the length
// requirements for a packet inside an ICMP error, of which only the first
// bytes are present.
func flow6(f *flow, p []byte, in *info6, fl FlowFlags, quoted bool) Reason {
	ip := header.IPv6(p)
	f.Src, f.Dst, f.Proto, f.Flags = ip.Src(), ip.Dst(), in.proto, fl
	if in.fragmented() {
		f.Flags |= FlowFragment
		f.fragID = in.fragID
	}
	l4 := p[in.l4off:]
	if !in.first() {
		if in.proto == header.ProtoICMPv6 {
			return ReasonFragmentedICMP
		}
		f.Flags |= FlowNoPorts
		return ReasonNone
	}
	switch in.proto {
	case header.ProtoTCP:
		return readPorts(f, l4, header.TCPMinSize, quoted)
	case header.ProtoUDP:
		return readPorts(f, l4, header.UDPSize, quoted)
	case header.ProtoICMPv6:
		f.Proto = header.ProtoICMPv4
		if in.fragmented() {
			// RFC 7915 §1.2: fragmented ICMP is not translated.
			return ReasonFragmentedICMP
		}
		if len(l4) < header.ICMPHeaderSize {
			return ReasonTruncated
		}
		t := l4[0]
		return readICMP(f, l4, t == header.ICMPv6EchoRequest || t == header.ICMPv6EchoReply, header.ICMPv6IsError(t), quoted)
	}
	return ReasonNone
}

// gave4 checks that a policy's To4 or Error4 gave IPv4 addresses, as it
// must: the
// header is then written from their words without asking again, and a
// policy that breaks the contract has its packets refused rather than
// written with garbage addresses.
func gave4(src, dst netip.Addr) Reason {
	switch {
	case !src.Is4():
		return ReasonUntranslatableSrc
	case !dst.Is4():
		return ReasonUntranslatableDst
	}
	return ReasonNone
}

// to4 is the RFC 7915 §5 algorithm for an outer packet; mapped, when
// valid, is its destination as the caller mapped it (To4Mapped).
func (x *Translator) to4(c *compiled, buf []byte, off, n int, fl FlowFlags, mapped netip.Addr) Result {
	if fl == 0 && !x.general {
		if r, ok := x.plain6to4(c, buf, off, n, mapped); ok {
			return r
		}
	}
	if !inBounds(buf, off, n) || n < header.IPv6Size {
		return drop(ReasonTruncated)
	}
	p := buf[off : off+n]
	ip := header.IPv6(p)
	if ip.Version() != header.IPv6Version {
		return drop(ReasonMalformed)
	}
	if total := header.IPv6Size + int(ip.PayloadLen()); total > n {
		return drop(ReasonTruncated)
	} else {
		n, p = total, p[:total] // ignore link-layer padding
	}
	var in info6
	if r := parse6(p, &in); r != ReasonNone {
		switch r {
		case ReasonRoutingHeader:
			return x.reply6(c, buf, off, n, header.ICMPv6ParamProblem, header.ICMPv6CodeErroneous, uint32(in.pointer), r)
		case ReasonExtAfterFragment:
			// RFC 7915 §5.1.1 says drop; §5.4's default error is 1/1.
			return x.reply6(c, buf, off, n, header.ICMPv6DstUnreachable, header.ICMPv6CodeAdminProhib, 0, r)
		}
		return drop(r)
	}
	var f flow
	r := flow6(&f, p, &in, fl, false)
	if r != ReasonNone {
		return drop(r)
	}
	isErr := f.Flags&FlowICMPError != 0
	if fl&FlowHairpin == 0 {
		switch r := screenIn(c, f.Src, f.Dst, isErr); r {
		case ReasonNone:
		case ReasonOwnAddress:
			return x.own6(c, buf, off, n, &in, isErr)
		default:
			return drop(r) // RFC 7915 §5.1: silently
		}
	}
	if q := in.l4off + header.ICMPHeaderSize; isErr && n >= q+header.IPv6Size && string(p[8:24]) == string(p[q+24:q+40]) {
		f.Flags |= FlowFromQuotedDst
	}
	// The translator is a router (RFC 7915 §1.4): Hop Limit 1 expires here.
	if fl&FlowHairpin == 0 && ip.HopLimit() <= 1 {
		if isErr {
			return drop(ReasonHopLimit)
		}
		return x.reply6(c, buf, off, n, header.ICMPv6TimeExceeded, 0, 0, ReasonHopLimit)
	}
	if isErr {
		// The outer addresses of an error may depend on its quoted packet
		// (RFC 6146 §3.6), so that goes first.
		return x.icmpError6to4(c, buf, off, n, &in, &f)
	}
	var out flow // not out := f: copying a freshly written struct stalls
	out.Flags = f.Flags
	var ps Ports
	out.Src, out.Dst, ps, r = x.policyTo4(f.Src, f.Dst, mapped, f.ports(), f.meta())
	out.SrcPort, out.DstPort = ps.Src(), ps.Dst()
	if r == ReasonNone {
		r = gave4(out.Src, out.Dst)
	}
	if r == ReasonNone {
		r = screenOut(c, out.Src, out.Dst)
	}
	if r != ReasonNone {
		return x.refuse6(c, buf, off, n, r, in.proto == header.ProtoICMPv6)
	}

	size := header.IPv4MinSize + n - in.l4off
	df := !in.frag && size > 1260
	if size > c.IPv4MTU {
		if df || in.frag {
			// RFC 7915 §5.1 and §1.4: too big for the IPv4 link and may
			// not be fragmented (DF) -> Packet Too Big with the MTU an IPv6
			// packet needs to fit.
			// Jool (graybox cg-2) announces IPv4 MTU + 20 for fragments
			// too, although their Fragment header adds 8 more.
			// Never below the IPv6 minimum (RFC 8200 §5; graybox ptb64).
			mtu := max(c.IPv4MTU+header.IPv6Size-header.IPv4MinSize, header.IPv6MinMTU)
			return x.reply6(c, buf, off, n, header.ICMPv6PacketTooBig, 0, uint32(mtu), ReasonPacketTooBig)
		}
	}
	start := x.rewrite6to4(c, buf, off, n, &in, &f, &out, false)
	if f.Proto == header.ProtoTCP && f.TCPFlags&header.TCPFlagSYN != 0 && c.mssTo4 != 0 && in.first() {
		header.TCP(buf[start+header.IPv4MinSize : off+n]).ClampMSS(c.mssTo4) // Config.MSSClamp
	}
	res := Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: off + n}
	if size > c.IPv4MTU {
		res.Verdict, res.MTU = Fragment, c.IPv4MTU
	}
	return res
}

// rewrite6to4 turns the IPv6 packet buf[off:off+n] into an IPv4 packet that
// ends where it ended, and returns where it starts. The same code serves
// outer and quoted packets (RFC 7915 §5.3); quoted packets keep their Hop
// Limit and may be truncated, so lengths come from their headers.
func (x *Translator) rewrite6to4(c *compiled, buf []byte, off, n int, in *info6, f, out *flow, quoted bool) int {
	p := buf[off : off+n]
	ip := header.IPv6(p)
	ulen := int(ip.PayloadLen()) + header.IPv6Size - in.l4off // upper-layer length
	if ulen < 0 {
		ulen = 0
	}
	tc, hop := ip.TrafficClass(), ip.HopLimit()
	if !quoted {
		hop--
	}
	if c.OverrideTOS {
		tc = c.TOS
	}

	// Transport checksum: the pseudo-header addresses change from IPv6 to
	// IPv4 (RFC 7915 §5.5); read the old ones before the IPv4 header
	// overwrites them.
	// The policy's IPv4 addresses as words: netip.Addr's As4 would check
	// their kind again on each use.
	_, s4 := ipword.Words(out.Src)
	_, d4 := ipword.Words(out.Dst)
	src4, dst4 := uint32(s4), uint32(d4)
	oldAddr := checksum.Combine(checksum.WordSum(ipword.Words(f.Src)), checksum.WordSum(ipword.Words(f.Dst)))
	newAddr := checksum.Combine(checksum.Combine(uint16(src4>>16), uint16(src4)), checksum.Combine(uint16(dst4>>16), uint16(dst4)))
	if in.first() {
		l4 := p[in.l4off:]
		// The ICMP identifier belongs to the IPv6 node: the source of an
		// outer packet, the destination of a quoted one.
		id := out.SrcPort
		if quoted {
			id = out.DstPort
		}
		l4To4(l4, in.proto, ulen, oldAddr, newAddr, f, out, id)
	}

	total := header.IPv4MinSize + ulen
	hf := header.IPv4Fields{TOS: tc, TotalLength: uint16(total), TTL: hop, Protocol: in.proto}
	binary.BigEndian.PutUint32(hf.Src[:], src4)
	binary.BigEndian.PutUint32(hf.Dst[:], dst4)
	if hf.Protocol == header.ProtoICMPv6 {
		hf.Protocol = header.ProtoICMPv4
	}
	switch {
	case in.frag:
		// §5.1.1: Identification from the low 16 bits, DF clear, MF and
		// offset copied.
		hf.ID, hf.FlagsOffset = uint16(in.fragID), in.fragOff
		if in.more {
			hf.FlagsOffset |= header.IPv4FlagMF
		}
	case total > 1260:
		// §5.1: packets over 1260 bytes get DF so that PMTUD works
		// towards the IPv6 node; smaller ones may be fragmented on the way
		// to respect IPv6's 1280 minimum.
		hf.FlagsOffset = header.IPv4FlagDF
	case !quoted:
		hf.ID = x.nextID(hf.Src, hf.Dst, hf.Protocol)
	}
	start := off + in.l4off - header.IPv4MinSize
	header.IPv4(buf[start : start+header.IPv4MinSize]).Encode(&hf)
	return start
}

// l4To4 updates a transport header for 6->4: ports or identifier from the
// policy and the checksum, incrementally (RFC 1624) so a wrong checksum
// stays wrong. l4 may be truncated (a quoted packet); fields beyond it are
// left alone.
func l4To4(l4 []byte, proto uint8, ulen int, oldAddr, newAddr uint16, f, out *flow, id uint16) {
	switch proto {
	case header.ProtoTCP:
		tcpTo(l4, oldAddr, newAddr, f, out)
	case header.ProtoUDP:
		ports(l4, f, out)
		if len(l4) >= header.UDPSize {
			// A zero UDP checksum is invalid in IPv6; leave it as "none".
			if cs := binary.BigEndian.Uint16(l4[6:]); cs != 0 {
				cs = checksum.Adjust(cs, oldAddr, newAddr)
				cs = portsDelta(cs, f, out)
				binary.BigEndian.PutUint16(l4[6:], checksum.UDPField(cs))
			}
		}
	case header.ProtoICMPv6:
		if len(l4) < header.ICMPHeaderSize {
			return
		}
		// Echo: type 128/129 -> 8/0, code kept; ICMPv4 has no
		// pseudo-header, so its sum leaves the checksum (RFC 7915 §5.2).
		t4 := uint8(header.ICMPv4EchoRequest)
		if l4[0] == header.ICMPv6EchoReply {
			t4 = header.ICMPv4EchoReply
		}
		echoTo(l4, t4, id, pseudoSum(oldAddr, header.ProtoICMPv6, ulen), 0)
	}
}

// icmpError6to4 translates an ICMPv6 error and the packet it quotes (RFC
// 7915 §5.2, §5.3).
func (x *Translator) icmpError6to4(c *compiled, buf []byte, off, n int, in *info6, f *flow) Result {
	p := buf[off : off+n]
	ip := header.IPv6(p)
	icmpOff := off + in.l4off
	icmp := buf[icmpOff : off+n]
	// The checksum is recomputed below (the body changes), so check it
	// first rather than turn a corrupt error into a valid one.
	if !checksum.Verify(icmp, ip.PseudoHeaderSum(header.ProtoICMPv6, len(icmp))) {
		return drop(ReasonBadChecksum)
	}
	t4, c4, ok := icmp6to4(icmp[0], icmp[1])
	if !ok {
		return drop(ReasonICMPType)
	}
	var rest uint32
	switch icmp[0] {
	case header.ICMPv6PacketTooBig:
		rest = uint32(c.mtu6to4(be32(icmp[4:])))
	case header.ICMPv6ParamProblem:
		if c4 == 0 { // erroneous header field: map the pointer (§5.2 Figure 6)
			ptr := be32(icmp[4:])
			if ptr >= uint32(len(pointer6to4)) || pointer6to4[ptr] < 0 {
				return drop(ReasonICMPPointer)
			}
			rest = uint32(pointer6to4[ptr]) << 24
		}
	}
	// RFC 4884: a length attribute splits the quoted datagram from the
	// extension structure.
	qoff := icmpOff + header.ICMPHeaderSize
	qend := off + n
	hasExt := false
	if icmp6HasLength(icmp[0]) && icmp[4] != 0 {
		if l := int(icmp[4]) * 8; qoff+l <= qend {
			qend, hasExt = qoff+l, true
		}
	}
	qs, qsrc, qdst, r := x.quoted6to4(c, buf, qoff, qend-qoff, f.Flags&FlowHairpin)
	if r != ReasonNone {
		return drop(r)
	}
	src4, dst4, r := x.policy.Error4(f.Src, f.Dst, qsrc, qdst, f.meta())
	if r == ReasonNone {
		r = gave4(src4, dst4)
	}
	if r != ReasonNone {
		return drop(r)
	}
	// RFC 1812 §4.3.2.3: an ICMPv4 error carries at most 576 bytes.
	end, lenAttr := fitError(buf, qs, qend, off+n, hasExt, 4, 576-header.IPv4MinSize-header.ICMPHeaderSize)
	ih := header.ICMPv4(buf[qs-header.ICMPHeaderSize : qs])
	ih.SetTypeCode(t4, c4)
	ih.SetRest(rest)
	if icmp4HasLength(t4) && lenAttr != 0 {
		ih[5] = lenAttr
	}
	ih.SetChecksum(0)
	ih.SetChecksum(^checksum.Checksum(buf[qs-header.ICMPHeaderSize:end], 0))

	// The outer header: the IPv6 header is still intact before the quoted
	// packet, and rewrite6to4 only reads it and the ICMP header position.
	start := qs - header.ICMPHeaderSize - header.IPv4MinSize
	hf := header.IPv4Fields{TOS: ip.TrafficClass(), TotalLength: uint16(end - start), TTL: ip.HopLimit() - 1,
		Protocol: header.ProtoICMPv4, Src: src4.As4(), Dst: dst4.As4()}
	if c.OverrideTOS {
		hf.TOS = c.TOS
	}
	if in.frag {
		// An atomic fragment (fragmented ICMP was refused in flow6): the
		// Identification comes from its Fragment header (§5.1.1).
		hf.ID = uint16(in.fragID)
	} else {
		hf.ID = x.nextID(hf.Src, hf.Dst, hf.Protocol)
	}
	header.IPv4(buf[start:qs]).Encode(&hf)
	return Result{Outcome: Outcome{Verdict: Forward}, Start: start, End: end}
}

// quoted6to4 translates the packet quoted in an ICMPv6 error,
// buf[off:off+n], in place, and returns where its IPv4 form starts and the
// addresses it was given.
func (x *Translator) quoted6to4(c *compiled, buf []byte, off, n int, fl FlowFlags) (int, netip.Addr, netip.Addr, Reason) {
	if n < header.IPv6Size {
		return 0, netip.Addr{}, netip.Addr{}, ReasonTruncated
	}
	p := buf[off : off+n]
	if header.IPv6(p).Version() != header.IPv6Version {
		return 0, netip.Addr{}, netip.Addr{}, ReasonMalformed
	}
	var in info6
	if r := parse6(p, &in); r != ReasonNone {
		return 0, netip.Addr{}, netip.Addr{}, r
	}
	var f flow
	if r := flow6(&f, p, &in, FlowInner|fl, true); r != ReasonNone {
		return 0, netip.Addr{}, netip.Addr{}, r
	}
	var out flow
	out.Flags = f.Flags
	var ps Ports
	var r Reason
	out.Src, out.Dst, ps, r = x.policy.To4(f.Src, f.Dst, f.ports(), f.meta())
	if r == ReasonNone {
		r = gave4(out.Src, out.Dst)
	}
	if r != ReasonNone {
		return 0, netip.Addr{}, netip.Addr{}, r
	}
	out.SrcPort, out.DstPort = ps.Src(), ps.Dst()
	return x.rewrite6to4(c, buf, off, n, &in, &f, &out, true), out.Src, out.Dst, ReasonNone
}

// fitError lays out an ICMP error body: the translated quoted packet
// buf[qs:qe] followed by an RFC 4884 extension buf[qe:ee] (when hasExt), in
// at most max bytes. It returns the body's end and the length attribute in
// units of unit bytes (0 without an extension). RFC 4884 §5: the quoted
// packet is zero-padded to 128 bytes and to the unit; when space runs
// short it is truncated first, and an extension that still does not fit is
// dropped.
func fitError(buf []byte, qs, qe, ee int, hasExt bool, unit, max int) (int, uint8) {
	qlen := qe - qs
	if hasExt {
		elen := ee - qe
		want := qlen &^ (unit - 1)
		if want < 128 {
			want = 128
		}
		if want+elen > max {
			want = (max - elen) &^ (unit - 1)
		}
		if want >= 128 && qs+want+elen <= len(buf) && want/unit <= 255 {
			copy(buf[qs+want:], buf[qe:ee])
			if want > qlen {
				clear(buf[qe : qs+want])
			}
			return qs + want + elen, uint8(want / unit)
		}
	}
	return qs + min(qlen, max), 0
}
