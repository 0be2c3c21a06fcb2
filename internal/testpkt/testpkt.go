// Package testpkt builds well-formed packets for tests: IPv4 and IPv6
// headers around TCP, UDP and ICMP, with correct lengths and checksums.
package testpkt

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
)

// IPv4 describes an IPv4 header to build.
type IPv4 struct {
	Src, Dst netip.Addr
	TOS, TTL uint8
	ID       uint16
	DF, MF   bool
	FragOff  uint16 // 8-byte units
	Options  []byte // padded to 4 bytes by the caller
}

// IPv6 describes an IPv6 header to build.
type IPv6 struct {
	Src, Dst netip.Addr
	TC       uint8
	Flow     uint32
	HopLimit uint8
	Ext      []byte // extension headers, already chained
	ExtNH    uint8  // Next Header of the fixed header when Ext is set
	Frag     bool   // add a Fragment header (after Ext)
	FragID   uint32
	FragOff  uint16
	FragMore bool
}

// UDP returns a UDP datagram with its checksum computed under pseudo (a
// pseudo-header sum without the length; use Pseudo4/Pseudo6).
func UDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	binary.BigEndian.PutUint16(b[6:], checksum.UDPField(^checksum.Checksum(b, pseudo(src, dst, header.ProtoUDP, len(b)))))
	return b
}

// TCP returns a TCP segment with flags and a valid checksum.
func TCP(src, dst netip.Addr, sport, dport uint16, flags uint8, payload []byte) []byte {
	return TCPOptions(src, dst, sport, dport, flags, nil, payload)
}

// TCPOptions is TCP with options, a multiple of 4 octets, before the
// payload.
func TCPOptions(src, dst netip.Addr, sport, dport uint16, flags uint8, opts, payload []byte) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 2000)
	b[12] = byte(hl/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], opts)
	copy(b[hl:], payload)
	binary.BigEndian.PutUint16(b[16:], ^checksum.Checksum(b, pseudo(src, dst, header.ProtoTCP, len(b))))
	return b
}

// Echo returns an ICMP echo message (ICMPv4 when src is IPv4, else ICMPv6)
// of type typ with a valid checksum.
func Echo(src, dst netip.Addr, typ uint8, id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	ICMPChecksum(src, dst, b)
	return b
}

// ICMPError returns an ICMP error message (ICMPv4 when src is IPv4, else
// ICMPv6) of type typ and code, with the 4 octets after the checksum set
// to rest, quoting quoted, with a valid checksum.
func ICMPError(src, dst netip.Addr, typ, code uint8, rest uint32, quoted []byte) []byte {
	b := make([]byte, 8+len(quoted))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	copy(b[8:], quoted)
	ICMPChecksum(src, dst, b)
	return b
}

// ICMPChecksum fills the checksum of the ICMP message b.
func ICMPChecksum(src, dst netip.Addr, b []byte) {
	b[2], b[3] = 0, 0
	var s uint16
	if src.Is6() {
		s = pseudo(src, dst, header.ProtoICMPv6, len(b))
	}
	binary.BigEndian.PutUint16(b[2:], ^checksum.Checksum(b, s))
}

func pseudo(src, dst netip.Addr, proto uint8, n int) uint16 {
	if src.Is4() {
		return checksum.PseudoHeader4(src, dst, proto, uint16(n))
	}
	return checksum.PseudoHeader6(src, dst, proto, uint32(n))
}

// Packet wraps payload (protocol proto) in an IPv4 header.
func (h IPv4) Packet(proto uint8, payload []byte) []byte {
	hl := 20 + len(h.Options)
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], h.ID)
	fo := h.FragOff
	if h.DF {
		fo |= header.IPv4FlagDF
	}
	if h.MF {
		fo |= header.IPv4FlagMF
	}
	binary.BigEndian.PutUint16(b[6:], fo)
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	b[8] = ttl
	b[9] = proto
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], h.Options)
	copy(b[hl:], payload)
	header.IPv4(b).SetChecksumFromHeader()
	return b
}

// Packet wraps payload (upper-layer protocol proto) in an IPv6 header,
// with the extension headers and Fragment header described.
func (h IPv6) Packet(proto uint8, payload []byte) []byte {
	ext := h.Ext
	nh := proto
	if len(ext) > 0 {
		nh = h.ExtNH
	}
	if h.Frag {
		fh := make([]byte, 8)
		header.IPv6Fragment(fh).Set(proto, h.FragOff, h.FragMore, h.FragID)
		if len(ext) > 0 {
			// The last extension header's Next Header becomes 44; callers
			// chaining their own headers set it themselves.
			ext = append(append([]byte{}, ext...), fh...)
		} else {
			ext = fh
			nh = header.ProtoFragment
		}
	}
	b := make([]byte, 40+len(ext)+len(payload))
	hop := h.HopLimit
	if hop == 0 {
		hop = 64
	}
	header.IPv6(b).SetVersionClassFlow(h.TC, h.Flow)
	binary.BigEndian.PutUint16(b[4:], uint16(len(ext)+len(payload)))
	b[6] = nh
	b[7] = hop
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], ext)
	copy(b[40+len(ext):], payload)
	return b
}
