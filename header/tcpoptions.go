package header

import (
	"encoding/binary"
	"math/bits"

	"github.com/v6xlat/xlat/checksum"
)

// TCP option kinds this package reads (RFC 9293 §3.2).
const (
	TCPOptionEnd = 0 // End of Option List
	TCPOptionNOP = 1 // No-Operation
	TCPOptionMSS = 2 // Maximum Segment Size, 4 octets
)

// MSSOffset returns where the value of the Maximum Segment Size option
// sits in h, or 0 when h carries none. It walks the options within the
// Data Offset and within h, and gives up on a malformed list: an option
// that overruns it, or a length below 2 (RFC 9293 §3.2).
func (h TCP) MSSOffset() int {
	if len(h) < TCPMinSize {
		return 0
	}
	end := min(h.DataOffset(), len(h))
	for i := TCPMinSize; i < end; {
		switch h[i] {
		case TCPOptionEnd:
			return 0
		case TCPOptionNOP:
			i++
			continue
		}
		if i+1 >= end {
			return 0
		}
		l := int(h[i+1])
		if l < 2 || i+l > end {
			return 0
		}
		if h[i] == TCPOptionMSS && l == 4 {
			return i + 2
		}
		i += l
	}
	return 0
}

// MSS is the value of the Maximum Segment Size option, and whether h
// carries one (see MSSOffset).
func (h TCP) MSS() (uint16, bool) {
	if o := h.MSSOffset(); o != 0 {
		return binary.BigEndian.Uint16(h[o:]), true
	}
	return 0, false
}

// ClampMSS lowers the Maximum Segment Size option of h to limit when it
// is larger, updating the checksum incrementally, and reports whether it
// did. A segment without the option is left alone: its sender's MSS is
// 536 (IPv4) or 1220 (IPv6) octets (RFC 9293 §3.7.1), which any link
// carries. Call it on SYNs only; the option means nothing elsewhere.
func (h TCP) ClampMSS(limit uint16) bool {
	o := h.MSSOffset()
	if o == 0 {
		return false
	}
	old := binary.BigEndian.Uint16(h[o:])
	if old <= limit {
		return false
	}
	binary.BigEndian.PutUint16(h[o:], limit)
	if o%2 == 0 {
		h.SetChecksum(checksum.Update16(h.Checksum(), old, limit))
	} else {
		// Straddling two words, the value adds in with its octets
		// swapped (RFC 1071 §2(B): the sum is byte-order independent).
		h.SetChecksum(checksum.Update16(h.Checksum(), bits.ReverseBytes16(old), bits.ReverseBytes16(limit)))
	}
	return true
}
