package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ProtocolVersion is handoff/1's version octet (§5.1).
const ProtocolVersion = 1

// HeaderSize is a datagram's SESSION: the smallest well-formed datagram.
const HeaderSize = 38

// MaxRefreshAccepted is how many REFRESH entries Parse accepts in one
// datagram (§11); a sender puts at most 80 in one.
const MaxRefreshAccepted = 85

// Control message subtypes (spec §5): the first octet is 0x30 | subtype.
const (
	TypeSession    = 0x31
	TypeMapRequest = 0x32
	TypeMap        = 0x33
	TypeLookup     = 0x34
	TypeUnmapped   = 0x35
	TypeRefresh    = 0x36
	TypeInvalidate = 0x37
	TypeNote       = 0x38
	TypeError      = 0x39
)

// SESSION flags (§5.1).
const (
	FlagServer     = 0x80 // R: sent by the server
	FlagChallenge  = 0x40 // K: challenge, request not processed
	FlagPersistent = 0x20 // P: the server keeps N's table across restarts
)

// FlagAdopt is the MAP_REQUEST flag (§5.2) that records a binding the
// NAT64 already uses.
const FlagAdopt = 0x80

// Status is a MAP's status (§5.3).
type Status uint8

// The MAP statuses.
const (
	StatusNew      Status = 0
	StatusExisting Status = 1
	StatusAdopted  Status = 2
	StatusRefused  Status = 3
)

var statusNames = [...]string{"NEW", "EXISTING", "ADOPTED", "REFUSED"}

// String is the status's name in the specification.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("STATUS_%d", uint8(s))
}

// Reasons of a refused MAP (§5.3).
const (
	ReasonRate    = 1
	ReasonInvalid = 2
)

// ErrorCode is an ERROR's code (§5.4).
type ErrorCode uint16

// The ERROR codes.
const (
	ErrUnsupportedVersion ErrorCode = 1
	ErrTableLimit         ErrorCode = 2
	ErrMalformed          ErrorCode = 3
)

var errorCodeNames = [...]string{1: "UNSUPPORTED_VERSION", 2: "TABLE_LIMIT", 3: "MALFORMED"}

// String is the code's name in the specification.
func (c ErrorCode) String() string {
	if int(c) < len(errorCodeNames) && errorCodeNames[c] != "" {
		return errorCodeNames[c]
	}
	return fmt.Sprintf("ERROR_%d", uint16(c))
}

// payload lengths in octets of the fixed-size messages.
var minPayload = map[uint8]int{
	TypeSession: 36, TypeMapRequest: 24, TypeMap: 28, TypeLookup: 4,
	TypeUnmapped: 4, TypeRefresh: 6, TypeInvalidate: 8, TypeNote: 0, TypeError: 4,
}

// Session is the SESSION every datagram starts with (§5.1).
type Session struct {
	Version    uint8
	Flags      uint8
	NAT64Epoch uint64
	TableEpoch uint64
	Cookie     uint64
	Token      uint64
}

// Message is one message after the SESSION: *MapRequest, *Map, *Lookup,
// *Unmapped, *Refresh, *Invalidate, *Note, *Error or Packet.
type Message interface{ messageType() uint8 }

// MapRequest asks for the binding of a client, or with FlagAdopt records
// the one the NAT64 already uses (§5.2).
type MapRequest struct {
	Flags  uint8
	Proto  uint8
	Port   uint16
	Client netip.AddrPort
}

// Map answers a MAP_REQUEST or a LOOKUP (§5.3).
type Map struct {
	Status     Status
	Reason     uint8
	Port       uint16
	Generation uint32
	Client     netip.AddrPort
}

// Lookup says an IPv4 packet arrived on Port and the NAT64 has no binding.
type Lookup struct{ Port uint16 }

// Unmapped says no binding uses Port.
type Unmapped struct{ Port uint16 }

// Refresh reports bindings that carried traffic (§5.4).
type Refresh struct{ Entries []RefreshEntry }

// RefreshEntry is one binding of a REFRESH.
type RefreshEntry struct {
	Port       uint16
	Generation uint32
}

// Invalidate says the binding on Port with Generation (or older) is gone.
type Invalidate struct {
	Port       uint16
	Generation uint32
}

// Note is free text for people reading captures; receivers never act on it.
type Note struct{ Text string }

// Error reports a problem (§5.4); nothing ever answers it.
type Error struct {
	Code    ErrorCode
	Subtype uint8
	Text    string
}

// Packet is an IPv4 or IPv6 packet carried after a request (§5.5).
type Packet []byte

func (*MapRequest) messageType() uint8 { return TypeMapRequest }
func (*Map) messageType() uint8        { return TypeMap }
func (*Lookup) messageType() uint8     { return TypeLookup }
func (*Unmapped) messageType() uint8   { return TypeUnmapped }
func (*Refresh) messageType() uint8    { return TypeRefresh }
func (*Invalidate) messageType() uint8 { return TypeInvalidate }
func (*Note) messageType() uint8       { return TypeNote }
func (*Error) messageType() uint8      { return TypeError }
func (Packet) messageType() uint8      { return 0 }

// Datagram is a whole UDP payload: a SESSION and the messages after it.
type Datagram struct {
	Session  Session
	Messages []Message
	// Set by Parse: messages that were skipped or ignored (§4), for the
	// counters of the same names.
	UnknownMessages   int
	MalformedMessages []uint8 // subtypes of known messages too short to use
	// UnexpectedMessages counts the SESSIONs after the first, which are
	// dropped here; the other unexpected messages of §4 (wrong direction,
	// a packet not after a request, too many requests) depend on the
	// receiver's role and are its to count.
	UnexpectedMessages int
}

// Append encodes d after b.
func (d *Datagram) Append(b []byte) []byte {
	s := d.Session
	b = append(b, TypeSession, 18, s.Version, s.Flags, 0, 0)
	b = binary.BigEndian.AppendUint64(b, s.NAT64Epoch)
	b = binary.BigEndian.AppendUint64(b, s.TableEpoch)
	b = binary.BigEndian.AppendUint64(b, s.Cookie)
	b = binary.BigEndian.AppendUint64(b, s.Token)
	for _, m := range d.Messages {
		b = AppendMessage(b, m)
	}
	return b
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().As16()
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint16(b, ap.Port())
	return append(b, 0, 0)
}

// appendText pads text to whole 2-octet units with one 0xFF (§4).
func appendText(b []byte, text string) []byte {
	b = append(b, text...)
	if len(text)%2 == 1 {
		b = append(b, 0xff)
	}
	return b
}

// AppendMessage appends m's encoding to b: what a sender that sizes its
// datagrams message by message (REFRESH batches, ERRORs) needs besides
// Datagram.Append.
func AppendMessage(b []byte, m Message) []byte {
	switch m := m.(type) {
	case *MapRequest:
		b = append(b, TypeMapRequest, 12, m.Flags, m.Proto)
		b = binary.BigEndian.AppendUint16(b, m.Port)
		return appendAddrPort(b, m.Client)
	case *Map:
		b = append(b, TypeMap, 14, uint8(m.Status), m.Reason)
		b = binary.BigEndian.AppendUint16(b, m.Port)
		b = binary.BigEndian.AppendUint32(b, m.Generation)
		return appendAddrPort(b, m.Client)
	case *Lookup:
		b = append(b, TypeLookup, 2)
		b = binary.BigEndian.AppendUint16(b, m.Port)
		return append(b, 0, 0)
	case *Unmapped:
		b = append(b, TypeUnmapped, 2)
		b = binary.BigEndian.AppendUint16(b, m.Port)
		return append(b, 0, 0)
	case *Refresh:
		b = append(b, TypeRefresh, uint8(3*len(m.Entries)))
		for _, e := range m.Entries {
			b = binary.BigEndian.AppendUint16(b, e.Port)
			b = binary.BigEndian.AppendUint32(b, e.Generation)
		}
		return b
	case *Invalidate:
		b = append(b, TypeInvalidate, 4)
		b = binary.BigEndian.AppendUint16(b, m.Port)
		b = append(b, 0, 0)
		return binary.BigEndian.AppendUint32(b, m.Generation)
	case *Note:
		b = append(b, TypeNote, uint8((len(m.Text)+1)/2))
		return appendText(b, m.Text)
	case *Error:
		b = append(b, TypeError, uint8((4+len(m.Text)+1)/2))
		b = binary.BigEndian.AppendUint16(b, uint16(m.Code))
		b = append(b, m.Subtype, 0)
		return appendText(b, m.Text)
	case Packet:
		return append(b, m...)
	}
	return b
}

// ErrMalformedDatagram is what Parse returns for a datagram to drop whole
// (§4): too short, a reserved first nibble, a message running past the
// end, a bad IPv4 header length, or no SESSION first.
var ErrMalformedDatagram = errors.New("handoff: malformed datagram")

// Parse decodes a datagram, walking all of it before returning (§4).
// Unknown subtypes are skipped and known ones too short to use are left
// out, both noted in the result; longer payloads are accepted and the
// excess ignored.
func Parse(b []byte) (*Datagram, error) {
	if len(b) < HeaderSize || b[0] != TypeSession || b[1] < 18 {
		return nil, ErrMalformedDatagram
	}
	// First walk: the framing must hold for the whole datagram.
	for off := 0; off < len(b); {
		n, ok := messageLen(b[off:])
		if !ok {
			return nil, ErrMalformedDatagram
		}
		off += n
	}
	d := &Datagram{}
	s := b[2:]
	d.Session = Session{Version: s[0], Flags: s[1],
		NAT64Epoch: binary.BigEndian.Uint64(s[4:]), TableEpoch: binary.BigEndian.Uint64(s[12:]),
		Cookie: binary.BigEndian.Uint64(s[20:]), Token: binary.BigEndian.Uint64(s[28:])}
	for off := 2 + 2*int(b[1]); off < len(b); {
		n, _ := messageLen(b[off:])
		msg := b[off : off+n]
		off += n
		switch nib := msg[0] >> 4; nib {
		case 4, 6:
			d.Messages = append(d.Messages, Packet(msg))
			continue
		}
		typ, p := msg[0], msg[2:]
		need, known := minPayload[typ]
		if !known {
			d.UnknownMessages++
			continue
		}
		if len(p) < need || typ == TypeRefresh && len(p)%6 != 0 {
			d.MalformedMessages = append(d.MalformedMessages, typ)
			continue
		}
		switch typ {
		case TypeSession:
			d.UnexpectedMessages++ // §4: a second SESSION is ignored
		case TypeMapRequest:
			d.Messages = append(d.Messages, &MapRequest{Flags: p[0], Proto: p[1], Port: binary.BigEndian.Uint16(p[2:]), Client: addrPort(p[4:])})
		case TypeMap:
			d.Messages = append(d.Messages, &Map{Status: Status(p[0]), Reason: p[1], Port: binary.BigEndian.Uint16(p[2:]),
				Generation: binary.BigEndian.Uint32(p[4:]), Client: addrPort(p[8:])})
		case TypeLookup:
			d.Messages = append(d.Messages, &Lookup{Port: binary.BigEndian.Uint16(p)})
		case TypeUnmapped:
			d.Messages = append(d.Messages, &Unmapped{Port: binary.BigEndian.Uint16(p)})
		case TypeRefresh:
			r := &Refresh{}
			for i := 0; i+6 <= len(p) && len(r.Entries) < MaxRefreshAccepted; i += 6 {
				r.Entries = append(r.Entries, RefreshEntry{binary.BigEndian.Uint16(p[i:]), binary.BigEndian.Uint32(p[i+2:])})
			}
			d.Messages = append(d.Messages, r)
		case TypeInvalidate:
			d.Messages = append(d.Messages, &Invalidate{Port: binary.BigEndian.Uint16(p), Generation: binary.BigEndian.Uint32(p[4:])})
		case TypeNote:
			d.Messages = append(d.Messages, &Note{Text: text(p)})
		case TypeError:
			d.Messages = append(d.Messages, &Error{Code: ErrorCode(binary.BigEndian.Uint16(p)), Subtype: p[2], Text: text(p[4:])})
		}
	}
	return d, nil
}

// messageLen returns the length of the message at the start of b, and
// false if it is malformed or runs past the end (§4).
func messageLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[0] >> 4 {
	case 3:
		n := 2 + 2*int(b[1])
		return n, n <= len(b)
	case 4:
		if len(b) < 20 {
			return 0, false
		}
		ihl, total := int(b[0]&0xf), int(binary.BigEndian.Uint16(b[2:]))
		return total, ihl >= 5 && 4*ihl <= total && total <= len(b)
	case 6:
		if len(b) < 40 {
			return 0, false
		}
		n := 40 + int(binary.BigEndian.Uint16(b[4:]))
		return n, n <= len(b)
	}
	return 0, false // reserved nibbles
}

func addrPort(b []byte) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), binary.BigEndian.Uint16(b[16:]))
}

// text strips the one 0xFF pad octet (§4).
func text(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == 0xff {
		b = b[:n-1]
	}
	return string(b)
}

// ParseStats counts what parsing found wrong with the datagrams a party
// received, the same for both parties.
type ParseStats struct {
	MalformedDatagrams uint64 // refused whole (ErrMalformedDatagram)
	MalformedMessages  uint64 // messages skipped as malformed
	UnknownMessages    uint64 // of types this version does not know
	UnexpectedMessages uint64 // known, but not for this party or this state
}

// Count adds what parsing d found.
func (s *ParseStats) Count(d *Datagram) {
	s.UnknownMessages += uint64(d.UnknownMessages)
	s.MalformedMessages += uint64(len(d.MalformedMessages))
	s.UnexpectedMessages += uint64(d.UnexpectedMessages)
}
