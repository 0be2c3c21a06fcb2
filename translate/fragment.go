package translate

import (
	"github.com/v6xlat/xlat/header"
)

// SplitIPv6 splits pkt, an IPv6 packet whose Fragment header directly
// follows the fixed header (as To6 produces with the Fragment verdict), into
// fragments of at most mtu bytes written to dst[0], dst[1], ... Each dst[i]
// must have room for mtu bytes; it is resliced to the fragment's length. It
// returns the number of fragments, or 0 if dst has too few buffers or pkt
// is not such a packet.
//
// RFC 7915 §4: every fragment, Fragment header included, fits the lowest
// IPv6 MTU; non-final fragments carry a multiple of 8 bytes.
func SplitIPv6(dst [][]byte, pkt []byte, mtu int) int {
	const hdr = header.IPv6Size + header.IPv6FragmentSize
	if len(pkt) < hdr || header.IPv6(pkt).NextHeader() != header.ProtoFragment || mtu < hdr+8 {
		return 0
	}
	fh := header.IPv6Fragment(pkt[header.IPv6Size:])
	next, base, more, id := fh.NextHeader(), fh.Offset(), fh.More(), fh.ID()
	payload := pkt[hdr:]
	step := (mtu - hdr) &^ 7
	count := (len(payload) + step - 1) / step
	if count == 0 {
		count = 1
	}
	if count > len(dst) {
		return 0
	}
	for i := 0; i < count; i++ {
		chunk := payload[i*step : min((i+1)*step, len(payload))]
		d := dst[i][:hdr+len(chunk)]
		copy(d, pkt[:header.IPv6Size])
		header.IPv6(d).SetPayloadLen(uint16(header.IPv6FragmentSize + len(chunk)))
		last := i == count-1
		header.IPv6Fragment(d[header.IPv6Size:]).Set(next, base+uint16(i*step/8), more || !last, id)
		copy(d[hdr:], chunk)
		dst[i] = d
	}
	return count
}

// Split splits a packet a Fragment verdict returned, with SplitIPv6 or
// SplitIPv4 as its version says.
func Split(dst [][]byte, pkt []byte, mtu int) int {
	if len(pkt) > 0 && pkt[0]>>4 == header.IPv6Version {
		return SplitIPv6(dst, pkt, mtu)
	}
	return SplitIPv4(dst, pkt, mtu)
}

// SplitIPv4 splits the IPv4 packet pkt into fragments of at most mtu bytes
// written to dst (RFC 791 §3.2), as SplitIPv6 does. Options are not
// copied; the packets a translator emits have none.
func SplitIPv4(dst [][]byte, pkt []byte, mtu int) int {
	ip := header.IPv4(pkt)
	if !ip.Valid() || ip.DF() {
		return 0
	}
	hl := ip.HeaderLen()
	if mtu < hl+8 {
		return 0
	}
	payload := pkt[hl:ip.TotalLen()]
	step := (mtu - hl) &^ 7
	count := (len(payload) + step - 1) / step
	if count == 0 {
		count = 1
	}
	if count > len(dst) {
		return 0
	}
	base := ip.FragOffset()
	more := ip.MF()
	for i := 0; i < count; i++ {
		chunk := payload[i*step : min((i+1)*step, len(payload))]
		d := dst[i][:header.IPv4MinSize+len(chunk)]
		copy(d, pkt[:header.IPv4MinSize])
		h := header.IPv4(d)
		h.SetVersionIHL(header.IPv4MinSize)
		h.SetTotalLen(uint16(header.IPv4MinSize + len(chunk)))
		fo := base + uint16(i*step/8)
		if more || i < count-1 {
			fo |= header.IPv4FlagMF
		}
		h.SetFlagsOffset(fo)
		h.SetChecksum(0)
		h.SetChecksumFromHeader()
		copy(d[header.IPv4MinSize:], chunk)
		dst[i] = d
	}
	return count
}
