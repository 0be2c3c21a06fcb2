package header

import "encoding/binary"

// ICMPv4 is a view of an ICMPv4 message (RFC 792). The first 8 bytes are the
// header; for errors the quoted packet follows.
type ICMPv4 []byte

// ICMPv6 is a view of an ICMPv6 message (RFC 4443 §2.1).
type ICMPv6 []byte

// ICMPHeaderSize is the size of the ICMPv4 and ICMPv6 header, the rest of
// header word included.
const ICMPHeaderSize = 8

// ICMPv4 types (RFC 792, RFC 950, RFC 1256).
const (
	ICMPv4EchoReply        = 0
	ICMPv4DstUnreachable   = 3
	ICMPv4SourceQuench     = 4
	ICMPv4Redirect         = 5
	ICMPv4EchoRequest      = 8
	ICMPv4TimeExceeded     = 11
	ICMPv4ParamProblem     = 12
	ICMPv4CodeFragNeeded   = 4  // Destination Unreachable: fragmentation needed and DF set
	ICMPv4CodeSourceRoute  = 5  // Destination Unreachable: source route failed
	ICMPv4CodeAdminProhib  = 13 // Destination Unreachable: communication administratively prohibited
	ICMPv4CodePortUnreach  = 3
	ICMPv4CodeProtoUnreach = 2
	ICMPv4CodeHostUnreach  = 1
	ICMPv4CodeNetUnreach   = 0
)

// ICMPv6 types (RFC 4443).
const (
	ICMPv6DstUnreachable  = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6CodeAdminProhib = 1 // Destination Unreachable: administratively prohibited
	ICMPv6CodePortUnreach = 4
	ICMPv6CodeNoRoute     = 0
	ICMPv6CodeAddrUnreach = 3
	ICMPv6CodeErroneous   = 0 // Parameter Problem: erroneous header field
	ICMPv6CodeUnknownNH   = 1 // Parameter Problem: unrecognised Next Header
)

// Type is the ICMP type (RFC 792).
func (h ICMPv4) Type() uint8 { return h[0] }

// Code is the ICMP code.
func (h ICMPv4) Code() uint8 { return h[1] }

// Checksum is the checksum field (over the ICMP message only, no
// pseudo-header).
func (h ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Ident is the identifier of an Echo or Echo Reply.
func (h ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// Seq is the sequence number of an Echo or Echo Reply.
func (h ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// Pointer is the octet a Parameter Problem points at.
func (h ICMPv4) Pointer() uint8 { return h[4] } // Parameter Problem

// MTU is the Next-Hop MTU of a Fragmentation Needed (RFC 1191 §4).
func (h ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// SetTypeCode writes the type and the code.
func (h ICMPv4) SetTypeCode(t, c uint8) { h[0], h[1] = t, c }

// SetChecksum writes the checksum field.
func (h ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[2:], v) }

// SetIdent writes the identifier of an Echo or Echo Reply.
func (h ICMPv4) SetIdent(v uint16) { binary.BigEndian.PutUint16(h[4:], v) }

// SetRest writes the four octets after the checksum (identifier and
// sequence, pointer, MTU, or unused).
func (h ICMPv4) SetRest(v uint32) { binary.BigEndian.PutUint32(h[4:], v) }

// Length is the RFC 4884 length attribute of an ICMPv4 error (types 3, 11
// and 12): the original datagram's length in 32-bit words, 0 if absent.
func (h ICMPv4) Length() uint8 { return h[5] }

// ICMPv4IsError reports whether t is an ICMPv4 error type.
func ICMPv4IsError(t uint8) bool {
	switch t {
	case ICMPv4DstUnreachable, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// Type is the ICMPv6 type (RFC 4443 §2.1).
func (h ICMPv6) Type() uint8 { return h[0] }

// Code is the ICMPv6 code.
func (h ICMPv6) Code() uint8 { return h[1] }

// Checksum is the checksum field (over the message and the IPv6
// pseudo-header, RFC 4443 §2.3).
func (h ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Ident is the identifier of an Echo Request or Echo Reply.
func (h ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// Pointer is the octet a Parameter Problem points at.
func (h ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(h[4:]) } // Parameter Problem

// MTU is the MTU of a Packet Too Big (RFC 4443 §3.2).
func (h ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(h[4:]) } // Packet Too Big

// SetTypeCode writes the type and the code.
func (h ICMPv6) SetTypeCode(t, c uint8) { h[0], h[1] = t, c }

// SetChecksum writes the checksum field.
func (h ICMPv6) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[2:], v) }

// SetIdent writes the identifier of an Echo Request or Echo Reply.
func (h ICMPv6) SetIdent(v uint16) { binary.BigEndian.PutUint16(h[4:], v) }

// SetRest writes the four octets after the checksum (identifier and
// sequence, pointer, MTU, or unused).
func (h ICMPv6) SetRest(v uint32) { binary.BigEndian.PutUint32(h[4:], v) }

// Length is the RFC 4884 length attribute of an ICMPv6 error (types 1 and
// 3): the original datagram's length in 64-bit words, 0 if absent.
func (h ICMPv6) Length() uint8 { return h[4] }

// ICMPv6IsError reports whether t is an ICMPv6 error type (RFC 4443 §2.1:
// types below 128).
func ICMPv6IsError(t uint8) bool { return t < 128 }
