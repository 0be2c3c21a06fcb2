package header

import "encoding/binary"

// Ethernet is a view of an Ethernet II header (IEEE 802.3 §3.1.1, with
// the EtherType of RFC 894 and RFC 2464): destination and source MAC
// addresses and the type of what follows.
type Ethernet []byte

// EthernetSize is the size of an untagged Ethernet header.
const EthernetSize = 14

// Where the fields are, for code that cannot use the accessors (an XDP
// program built from instructions).
const (
	EthernetDstOffset  = 0
	EthernetSrcOffset  = 6
	EthernetTypeOffset = 12
)

// EtherTypes (IEEE 802 numbers) of what an Ethernet header carries.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // an IEEE 802.1Q tag follows
	EtherTypeIPv6 = 0x86dd
)

// Dst is the destination MAC address.
func (e Ethernet) Dst() [6]byte { return [6]byte(e[EthernetDstOffset:]) }

// Src is the source MAC address.
func (e Ethernet) Src() [6]byte { return [6]byte(e[EthernetSrcOffset:]) }

// Type is the EtherType (the EtherType constants).
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[EthernetTypeOffset:]) }

// Encode writes the whole header.
func (e Ethernet) Encode(dst, src [6]byte, typ uint16) {
	copy(e[EthernetDstOffset:], dst[:])
	copy(e[EthernetSrcOffset:], src[:])
	binary.BigEndian.PutUint16(e[EthernetTypeOffset:], typ)
}

// EtherType is the EtherType that carries an IP packet of version v (4
// or 6), 0 for any other.
func EtherType(v uint8) uint16 {
	switch v {
	case IPv4Version:
		return EtherTypeIPv4
	case IPv6Version:
		return EtherTypeIPv6
	}
	return 0
}
