package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
)

// IPv4 is a view of an IPv4 header (RFC 791 §3.1).
type IPv4 []byte

const (
	// IPv4MinSize is the size of an IPv4 header without options.
	IPv4MinSize = 20
	// IPv4MaxSize is the largest IPv4 header (IHL 15).
	IPv4MaxSize = 60

	IPv4FlagDF  = 0x4000 // Don't Fragment, in the flags/offset word
	IPv4FlagMF  = 0x2000 // More Fragments
	ipv4OffMask = 0x1fff

	// IPv4Version is the Version field of an IPv4 header.
	IPv4Version = 4
)

// Where the fields the accessors read are, for code that cannot use them
// (an XDP program built from instructions).
const (
	IPv4TOSOffset      = 1
	IPv4TotalLenOffset = 2
	IPv4ProtocolOffset = 9
	IPv4SrcOffset      = 12
	IPv4DstOffset      = 16
)

// Protocol numbers used by translators (IANA "Assigned Internet Protocol
// Numbers"); IPv6 Next Header uses the same registry.
const (
	ProtoHopByHop = 0
	ProtoICMPv4   = 1
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNone     = 59
	ProtoDstOpts  = 60
)

// Version is the version field (4 for IPv4; RFC 791 §3.1).
func (h IPv4) Version() uint8 { return h[0] >> 4 }

// HeaderLen is the header length in octets (IHL times 4).
func (h IPv4) HeaderLen() int { return int(h[0]&0xf) * 4 }

// TOS is the Type of Service octet (DSCP and ECN, RFC 2474, RFC 3168).
func (h IPv4) TOS() uint8 { return h[IPv4TOSOffset] }

// TotalLen is the Total Length: header and payload, in octets.
func (h IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(h[IPv4TotalLenOffset:]) }

// ID is the Identification field, which ties fragments together.
func (h IPv4) ID() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// FlagsOffset is the flags and fragment offset word (IPv4FlagDF, IPv4FlagMF
// and the offset in 8-octet units).
func (h IPv4) FlagsOffset() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// DF reports the Don't Fragment flag.
func (h IPv4) DF() bool { return h.FlagsOffset()&IPv4FlagDF != 0 }

// MF reports the More Fragments flag.
func (h IPv4) MF() bool { return h.FlagsOffset()&IPv4FlagMF != 0 }

// FragOffset is the fragment offset in 8-byte units.
func (h IPv4) FragOffset() uint16 { return h.FlagsOffset() & ipv4OffMask }

// IsFragment reports whether the packet is a fragment (MF set or a non-zero
// offset).
func (h IPv4) IsFragment() bool { return h.FlagsOffset()&(IPv4FlagMF|ipv4OffMask) != 0 }

// TTL is the Time to Live.
func (h IPv4) TTL() uint8 { return h[8] }

// Protocol is the upper-layer protocol number (the Proto constants).
func (h IPv4) Protocol() uint8 { return h[IPv4ProtocolOffset] }

// Checksum is the header checksum field.
func (h IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(h[10:]) }

// Src is the source address.
func (h IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[IPv4SrcOffset:])) }

// Dst is the destination address.
func (h IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[IPv4DstOffset:])) }

// Options returns the options area (empty without options).
func (h IPv4) Options() []byte { return h[IPv4MinSize:h.HeaderLen()] }

// Payload returns the bytes after the header up to Total Length.
func (h IPv4) Payload() []byte { return h[h.HeaderLen():h.TotalLen()] }

// SetVersionIHL writes version 4 and a header length of ihl octets (a
// multiple of 4).
func (h IPv4) SetVersionIHL(ihl int) { h[0] = IPv4Version<<4 | uint8(ihl/4) }

// SetTOS writes the Type of Service octet.
func (h IPv4) SetTOS(v uint8) { h[1] = v }

// SetTotalLen writes the Total Length.
func (h IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(h[2:], v) }

// SetID writes the Identification field.
func (h IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(h[4:], v) }

// SetFlagsOffset writes the flags and fragment offset word.
func (h IPv4) SetFlagsOffset(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// SetTTL writes the Time to Live.
func (h IPv4) SetTTL(v uint8) { h[8] = v }

// SetProtocol writes the upper-layer protocol number.
func (h IPv4) SetProtocol(v uint8) { h[9] = v }

// SetChecksum writes the header checksum field (see SetChecksumFromHeader).
func (h IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[10:], v) }

// SetSrc writes the source address, which must be IPv4.
func (h IPv4) SetSrc(a netip.Addr) { a4 := a.As4(); copy(h[12:16], a4[:]) }

// SetDst writes the destination address, which must be IPv4.
func (h IPv4) SetDst(a netip.Addr) { a4 := a.As4(); copy(h[16:20], a4[:]) }

// SrcBytes and DstBytes return the address fields themselves.
func (h IPv4) SrcBytes() []byte { return h[12:16] }

// DstBytes returns the destination address field itself.
func (h IPv4) DstBytes() []byte { return h[16:20] }

// CalculateChecksum returns the header checksum field value for the header
// as it stands, with its checksum field taken as zero.
func (h IPv4) CalculateChecksum() uint16 {
	hl := h.HeaderLen()
	if hl == IPv4MinSize && len(h) >= IPv4MinSize {
		// The common case, summed as 32-bit words in one expression.
		s := uint64(binary.BigEndian.Uint32(h[0:])) + uint64(binary.BigEndian.Uint32(h[4:])) +
			uint64(binary.BigEndian.Uint16(h[8:]))<<16 +
			uint64(binary.BigEndian.Uint32(h[12:])) + uint64(binary.BigEndian.Uint32(h[16:]))
		s = s>>32 + s&0xffffffff
		s = s>>16 + s&0xffff
		s = s>>16 + s&0xffff
		return ^uint16(s + s>>16)
	}
	s := checksum.Checksum(h[:10], 0)
	return ^checksum.Checksum(h[12:hl], s)
}

// SetChecksumFromHeader fills the checksum field.
func (h IPv4) SetChecksumFromHeader() { h.SetChecksum(h.CalculateChecksum()) }

// ValidChecksum reports whether the header checksum verifies.
func (h IPv4) ValidChecksum() bool {
	if len(h) >= IPv4MinSize && h.HeaderLen() == IPv4MinSize {
		// The usual header, without options: its five 32-bit words in
		// one go. A one's-complement sum folds to the same 16 bits
		// whatever the width it was added in (RFC 1071 §2(B)), and a
		// header that verifies sums to 0xFFFF.
		b := h[:IPv4MinSize]
		s := uint64(binary.BigEndian.Uint32(b[0:])) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:]))
		s = s>>32 + s&0xffffffff
		s = s>>16 + s&0xffff
		s = s>>16 + s&0xffff
		return s == 0xffff
	}
	return checksum.Verify(h[:h.HeaderLen()], 0)
}

// Valid reports whether b starts with a well-formed IPv4 header whose
// Total Length fits in b: version 4, IHL at least 5, Total Length at least
// the header length. It is the one bounds check at the door.
func (h IPv4) Valid() bool {
	if len(h) < IPv4MinSize || h.Version() != 4 {
		return false
	}
	hl := h.HeaderLen()
	tl := int(h.TotalLen())
	return hl >= IPv4MinSize && tl >= hl && tl <= len(h)
}

// PseudoHeaderSum returns the sum of the IPv4 pseudo-header for transport
// protocol proto carrying length bytes.
func (h IPv4) PseudoHeaderSum(proto uint8, length int) uint16 {
	return checksum.PseudoHeaderBytes(h[12:16], h[16:20], proto, uint32(length))
}

// IPv4Fields are the values of an IPv4 header without options, for Encode.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	FlagsOffset uint16 // IPv4FlagDF, IPv4FlagMF and the offset in 8-byte units
	TTL         uint8
	Protocol    uint8
	// Src and Dst are byte arrays rather than netip.Addr: copying an Addr
	// out of memory it was just stored to stalls too.
	Src, Dst [4]byte
}

// Encode writes a 20-byte header from f into h, checksum included.
func (h IPv4) Encode(f *IPv4Fields) {
	h.EncodeWords(uint32(f.TOS)<<16|uint32(f.TotalLength), uint32(f.ID)<<16|uint32(f.FlagsOffset),
		uint32(f.TTL)<<8|uint32(f.Protocol), binary.BigEndian.Uint32(f.Src[:]), binary.BigEndian.Uint32(f.Dst[:]))
}

// EncodeWords is Encode for callers that hold the fields in registers:
// tosLen is TOS<<16 | Total Length, idFlags Identification<<16 |
// flags-and-offset, ttlProto TTL<<8 | Protocol, and src and dst the
// addresses. The checksum is summed from the values, not read back from
// h: reading back fields just written a byte or two at a time would stall
// the CPU's store forwarding, which costs more than the whole sum.
func (h IPv4) EncodeWords(tosLen, idFlags, ttlProto, src, dst uint32) {
	w0 := uint32(IPv4Version<<4|IPv4MinSize/4)<<24 | tosLen
	w2 := ttlProto << 16
	s := uint64(w0) + uint64(idFlags) + uint64(w2) + uint64(src) + uint64(dst)
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	w2 |= uint32(^uint16(s + s>>16))
	_ = h[19]
	binary.BigEndian.PutUint32(h[0:], w0)
	binary.BigEndian.PutUint32(h[4:], idFlags)
	binary.BigEndian.PutUint32(h[8:], w2)
	binary.BigEndian.PutUint32(h[12:], src)
	binary.BigEndian.PutUint32(h[16:], dst)
}
