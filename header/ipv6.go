package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/internal/ipword"
)

// IPv6 is a view of an IPv6 fixed header (RFC 8200 §3).
type IPv6 []byte

const (
	// IPv6Size is the size of the IPv6 fixed header.
	IPv6Size = 40
	// IPv6Version is the Version field of an IPv6 header.
	IPv6Version = 6
	// IPv6MinMTU is the minimum link MTU of IPv6 (RFC 8200 §5).
	IPv6MinMTU = 1280
)

// Where the fields the accessors read are, for code that cannot use them
// (an XDP program built from instructions).
const (
	IPv6PayloadLenOffset = 4
	IPv6NextHeaderOffset = 6
	IPv6SrcOffset        = 8
	IPv6DstOffset        = 24
)

// Version is the version field (6 for IPv6; RFC 8200 §3).
func (h IPv6) Version() uint8 { return h[0] >> 4 }

// TrafficClass is the Traffic Class octet (DSCP and ECN).
func (h IPv6) TrafficClass() uint8 { return h[0]<<4 | h[1]>>4 }

// FlowLabel is the 20-bit Flow Label.
func (h IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[0:]) & 0xfffff }

// PayloadLen is the Payload Length: what follows the fixed header,
// extension headers included, in octets.
func (h IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(h[IPv6PayloadLenOffset:]) }

// NextHeader is the type of the header after the fixed one (the Proto
// constants).
func (h IPv6) NextHeader() uint8 { return h[IPv6NextHeaderOffset] }

// HopLimit is the Hop Limit.
func (h IPv6) HopLimit() uint8 { return h[7] }

// Src is the source address.
func (h IPv6) Src() netip.Addr { return ipword.Get6(h[IPv6SrcOffset:IPv6DstOffset]) }

// Dst is the destination address.
func (h IPv6) Dst() netip.Addr { return ipword.Get6(h[IPv6DstOffset:IPv6Size]) }

// SrcBytes returns the source address field itself.
func (h IPv6) SrcBytes() []byte { return h[8:24] }

// DstBytes returns the destination address field itself.
func (h IPv6) DstBytes() []byte { return h[24:40] }

// SetPayloadLen writes the Payload Length.
func (h IPv6) SetPayloadLen(v uint16) { binary.BigEndian.PutUint16(h[4:], v) }

// SetNextHeader writes the Next Header field.
func (h IPv6) SetNextHeader(v uint8) { h[6] = v }

// SetHopLimit writes the Hop Limit.
func (h IPv6) SetHopLimit(v uint8) { h[7] = v }

// SetSrc writes the source address, which must be IPv6.
func (h IPv6) SetSrc(a netip.Addr) { ipword.Put6(h[8:24], a) }

// SetDst writes the destination address, which must be IPv6.
func (h IPv6) SetDst(a netip.Addr) { ipword.Put6(h[24:40], a) }

// SetVersionClassFlow writes the first word: version 6, traffic class and
// flow label.
func (h IPv6) SetVersionClassFlow(tc uint8, flow uint32) {
	binary.BigEndian.PutUint32(h[0:], 6<<28|uint32(tc)<<20|flow&0xfffff)
}

// Valid reports whether h starts with an IPv6 header whose payload fits in
// h.
func (h IPv6) Valid() bool {
	return len(h) >= IPv6Size && h.Version() == 6 && IPv6Size+int(h.PayloadLen()) <= len(h)
}

// PseudoHeaderSum returns the sum of the IPv6 pseudo-header (RFC 8200 §8.1)
// for upper-layer protocol nh carrying length bytes.
func (h IPv6) PseudoHeaderSum(nh uint8, length int) uint16 {
	return checksum.PseudoHeaderBytes(h[8:24], h[24:40], nh, uint32(length))
}

// IPv6Fragment is a view of an IPv6 Fragment extension header (RFC 8200
// §4.5).
type IPv6Fragment []byte

// IPv6FragmentSize is the size of the Fragment header.
const IPv6FragmentSize = 8

// NextHeader is the type of the header after the Fragment header.
func (h IPv6Fragment) NextHeader() uint8 { return h[0] }

// Offset is the fragment offset in 8-byte units.
func (h IPv6Fragment) Offset() uint16 { return binary.BigEndian.Uint16(h[2:]) >> 3 }

// More reports the M flag: more fragments follow.
func (h IPv6Fragment) More() bool { return h[3]&1 != 0 }

// ID is the 32-bit Identification.
func (h IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// Set writes the whole header.
func (h IPv6Fragment) Set(next uint8, offset uint16, more bool, id uint32) {
	h[0] = next
	h[1] = 0
	w := offset << 3
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(h[2:], w)
	binary.BigEndian.PutUint32(h[4:], id)
}

// IsExtension reports whether nh names an IPv6 extension header that
// RFC 7915 §5.1 walks over or rejects: Hop-by-Hop, Routing, Fragment,
// Destination Options, and AH (RFC 7915 §5.1.1 counts AH as an extension).
func IsExtension(nh uint8) bool {
	switch nh {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDstOpts, ProtoAH:
		return true
	}
	return false
}

// UpperLayer walks the extension headers of the IPv6 packet p and returns
// the offset and protocol of the upper-layer header, and whether p holds
// it: false for a later fragment (its upper-layer header is in the first)
// or a packet cut short. It does not judge the headers it skips.
func (h IPv6) UpperLayer() (off int, proto uint8, ok bool) {
	nh, off := h.NextHeader(), IPv6Size
	for {
		switch nh {
		case ProtoHopByHop, ProtoDstOpts, ProtoRouting:
			if off+8 > len(h) {
				return off, nh, false
			}
			nh, off = h[off], off+(int(h[off+1])+1)*8
		case ProtoAH:
			// RFC 4302 §2.2: AH's length counts 32-bit words, less 2.
			if off+8 > len(h) {
				return off, nh, false
			}
			nh, off = h[off], off+(int(h[off+1])+2)*4
		case ProtoFragment:
			if off+IPv6FragmentSize > len(h) {
				return off, nh, false
			}
			if IPv6Fragment(h[off:]).Offset() != 0 {
				return off, IPv6Fragment(h[off:]).NextHeader(), false
			}
			nh, off = h[off], off+IPv6FragmentSize
		default:
			return off, nh, off <= len(h)
		}
	}
}
