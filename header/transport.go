package header

import "encoding/binary"

// UDP is a view of a UDP header (RFC 768).
type UDP []byte

// UDPSize is the size of the UDP header.
const UDPSize = 8

// SrcPort is the source port.
func (h UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// DstPort is the destination port.
func (h UDP) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Length is the Length field: header and data, in octets.
func (h UDP) Length() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// Checksum is the checksum field; 0 means none in IPv4 (RFC 768) and is not
// allowed in IPv6 (RFC 8200 §8.1).
func (h UDP) Checksum() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// SetSrcPort writes the source port.
func (h UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(h[0:], v) }

// SetDstPort writes the destination port.
func (h UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(h[2:], v) }

// SetLength writes the Length field.
func (h UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(h[4:], v) }

// SetChecksum writes the checksum field (see checksum.UDPField).
func (h UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// TCP is a view of a TCP header (RFC 9293 §3.1).
type TCP []byte

// TCP header sizes, offsets and flags.
const (
	// TCPMinSize is the size of a TCP header without options.
	TCPMinSize = 20
	// TCPChecksumOffset is where the checksum field sits.
	TCPChecksumOffset = 16

	// The TCP flags in the octet Flags returns (RFC 9293 §3.1).
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
)

// SrcPort is the source port.
func (h TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// DstPort is the destination port.
func (h TCP) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Seq is the sequence number.
func (h TCP) Seq() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// Ack is the acknowledgment number.
func (h TCP) Ack() uint32 { return binary.BigEndian.Uint32(h[8:]) }

// DataOffset is the header length in octets, options included.
func (h TCP) DataOffset() int { return int(h[12]>>4) * 4 }

// Flags is the flags octet (the TCPFlag constants).
func (h TCP) Flags() uint8 { return h[13] }

// Checksum is the checksum field.
func (h TCP) Checksum() uint16 { return binary.BigEndian.Uint16(h[16:]) }

// SetSrcPort writes the source port.
func (h TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(h[0:], v) }

// SetDstPort writes the destination port.
func (h TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(h[2:], v) }

// SetChecksum writes the checksum field.
func (h TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[16:], v) }
