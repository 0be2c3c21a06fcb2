package header

import "encoding/binary"

// UDP is a view of a UDP header (RFC 768).
type UDP []byte

// UDPSize is the size of the UDP header.
const UDPSize = 8

func (h UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(h[0:]) }
func (h UDP) DstPort() uint16      { return binary.BigEndian.Uint16(h[2:]) }
func (h UDP) Length() uint16       { return binary.BigEndian.Uint16(h[4:]) }
func (h UDP) Checksum() uint16     { return binary.BigEndian.Uint16(h[6:]) }
func (h UDP) SetSrcPort(v uint16)  { binary.BigEndian.PutUint16(h[0:], v) }
func (h UDP) SetDstPort(v uint16)  { binary.BigEndian.PutUint16(h[2:], v) }
func (h UDP) SetLength(v uint16)   { binary.BigEndian.PutUint16(h[4:], v) }
func (h UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// TCP is a view of a TCP header (RFC 9293 §3.1).
type TCP []byte

const (
	// TCPMinSize is the size of a TCP header without options.
	TCPMinSize = 20
	// TCPChecksumOffset is where the checksum field sits.
	TCPChecksumOffset = 16

	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
)

func (h TCP) SrcPort() uint16      { return binary.BigEndian.Uint16(h[0:]) }
func (h TCP) DstPort() uint16      { return binary.BigEndian.Uint16(h[2:]) }
func (h TCP) Seq() uint32          { return binary.BigEndian.Uint32(h[4:]) }
func (h TCP) Ack() uint32          { return binary.BigEndian.Uint32(h[8:]) }
func (h TCP) DataOffset() int      { return int(h[12]>>4) * 4 }
func (h TCP) Flags() uint8         { return h[13] }
func (h TCP) Checksum() uint16     { return binary.BigEndian.Uint16(h[16:]) }
func (h TCP) SetSrcPort(v uint16)  { binary.BigEndian.PutUint16(h[0:], v) }
func (h TCP) SetDstPort(v uint16)  { binary.BigEndian.PutUint16(h[2:], v) }
func (h TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[16:], v) }
