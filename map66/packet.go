package map66

import (
	"encoding/binary"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// Outbound maps the IPv6 packet pkt in place as it leaves the internal
// network: its source (RFC 6296 §3.2), the destination of the packet an
// ICMPv6 error quotes, and, when the destination is inside an external
// prefix of the site, the destination as well (hairpinning, §4.3).
//
// It returns ReasonNone when it mapped the packet, ReasonNotMine (or
// ReasonLocalAddress) when no rule applies and the packet should go on
// untouched, and any other reason when the packet must be dropped.
func (m *Mapper) Outbound(pkt []byte) Reason {
	if len(pkt) < header.IPv6Size {
		return ReasonTruncated
	}
	// Hairpinning (a destination in one of our external prefixes) takes
	// the general path.
	h := (*[header.IPv6Size]byte)(pkt)
	if m.short && matchHigh(m.in, binary.BigEndian.Uint64(h[24:32])) == nil && m.quick(h, 8, m.out) {
		return ReasonNone
	}
	return m.outbound(pkt)
}

// quick maps the address at h[at:at+16] the quick way and reports whether
// it could: a TCP or UDP packet (nothing inside to map) under
// /48-or-shorter rules, an address under a rule, not subnet 0xFFFF, not
// the interface's own. Only its high word changes then (§3.4).
func (m *Mapper) quick(h *[header.IPv6Size]byte, at int, sides []side) bool {
	if nh := h[6]; !m.short || nh != header.ProtoTCP && nh != header.ProtoUDP {
		return false
	}
	a := (*[16]byte)(h[at : at+16])
	hi := binary.BigEndian.Uint64(a[:8])
	s := matchHigh(sides, hi)
	if s == nil || uint16(hi) == 0xffff || len(m.local) > 0 && m.isLocal(hi, binary.BigEndian.Uint64(a[8:])) {
		return false
	}
	binary.BigEndian.PutUint64(a[:8], s.subnet(hi&^s.mhi|s.thi))
	return true
}

// outbound is Outbound for every packet.
func (m *Mapper) outbound(pkt []byte) Reason {
	if r := m.rewrite(pkt, 8, m.out, true); r != ReasonNone {
		return r
	}
	// Hairpinning: a destination in one of our external prefixes comes
	// back in. Matching first keeps the usual miss out of a call.
	h := (*[header.IPv6Size]byte)(pkt)
	if match(m.in, binary.BigEndian.Uint64(h[24:32]), binary.BigEndian.Uint64(h[32:40])) != nil {
		if hr := m.rewrite(pkt, 24, m.in, true); hr != ReasonNone && hr != ReasonLocalAddress {
			return hr
		}
	}
	m.embedded(pkt, true)
	return ReasonNone
}

// Inbound maps the IPv6 packet pkt in place as it enters: its destination
// (§3.3) and the source of the packet an ICMPv6 error quotes, so that
// errors reach the internal host.
func (m *Mapper) Inbound(pkt []byte) Reason {
	if len(pkt) < header.IPv6Size {
		return ReasonTruncated
	}
	if m.quick((*[header.IPv6Size]byte)(pkt), 24, m.in) {
		return ReasonNone
	}
	return m.inbound(pkt)
}

// inbound is Inbound for every packet.
func (m *Mapper) inbound(pkt []byte) Reason {
	if r := m.rewrite(pkt, 24, m.in, true); r != ReasonNone {
		return r
	}
	m.embedded(pkt, false)
	return ReasonNone
}

// rewrite maps the address at pkt[at:at+16] by the rules of one
// direction; checkLocal leaves the interface's own addresses alone.
func (m *Mapper) rewrite(pkt []byte, at int, sides []side, checkLocal bool) Reason {
	a := (*[16]byte)(pkt[at : at+16])
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	s := match(sides, hi, lo)
	if checkLocal && len(m.local) > 0 && m.isLocal(hi, lo) {
		return ReasonLocalAddress
	}
	if s == nil {
		return ReasonNotMine
	}
	var nhi, nlo uint64
	if s.word == wordSubnet && uint16(hi) != 0xffff {
		nhi, nlo = s.subnet(hi&^s.mhi|s.thi), lo // the common case inline
	} else {
		var why Reason
		if nhi, nlo, why = s.apply(hi, lo, m.opts.RefuseZeroIID); why != ReasonNone {
			return why
		}
		if s.word == wordNone {
			fixTransport(pkt, [2]uint64{hi, lo}, [2]uint64{nhi, nlo})
		}
	}
	binary.BigEndian.PutUint64(a[:8], nhi)
	binary.BigEndian.PutUint64(a[8:], nlo)
	return ReasonNone
}

// embedded maps the address inside an ICMPv6 error's quoted packet: its
// destination on the way out, its source on the way in. RFC 6296 says
// nothing of it; Linux, FreeBSD and draft-bctb-6man-rfc6296-bis do it so
// that errors reach the host that caused them. A neutral mapping leaves
// every checksum valid.
func (m *Mapper) embedded(pkt []byte, outbound bool) {
	if nh := pkt[6]; nh == header.ProtoTCP || nh == header.ProtoUDP {
		return // the common case, without walking anything
	}
	m.embeddedSlow(pkt, header.IPv6(pkt), outbound)
}

func (m *Mapper) embeddedSlow(pkt []byte, ip header.IPv6, outbound bool) {
	off, proto, ok := ip.UpperLayer()
	if !ok || proto != header.ProtoICMPv6 || len(pkt) < off+header.ICMPHeaderSize+header.IPv6Size || !header.ICMPv6IsError(pkt[off]) {
		return
	}
	q := off + header.ICMPHeaderSize
	at := q + 24
	if !outbound {
		at = q + 8
	}
	// The quoted packet is not about our interfaces: no local check. A
	// mapping that is not neutral changes the ICMPv6 body's sum, and
	// rewrite's fixTransport, which finds this error's ICMPv6 header in
	// pkt[:at+16], updates its checksum for it.
	m.rewrite(pkt[:at+16], at, m.sides(outbound), false)
}

func addrSum(w [2]uint64) uint16 { return checksum.AddrSum(ipword.From6(w[0], w[1])) }

// fixTransport updates the transport checksum for an address change that
// is not checksum neutral (prefixes longer than /112).
func fixTransport(pkt []byte, old, new [2]uint64) {
	off, proto, ok := header.IPv6(pkt).UpperLayer()
	if !ok {
		return
	}
	l4 := pkt[off:]
	var at int
	switch proto {
	case header.ProtoTCP:
		at = header.TCPChecksumOffset
	case header.ProtoUDP:
		at = 6
		if len(l4) >= 8 && l4[6] == 0 && l4[7] == 0 {
			return
		}
	case header.ProtoICMPv6:
		at = 2
	default:
		return
	}
	if len(l4) < at+2 {
		return
	}
	cs := checksum.Adjust(binary.BigEndian.Uint16(l4[at:]), addrSum(old), addrSum(new))
	if proto == header.ProtoUDP {
		cs = checksum.UDPField(cs)
	}
	binary.BigEndian.PutUint16(l4[at:], cs)
}
