package tunbatch

import (
	"encoding/binary"
	"errors"

	"github.com/v6xlat/xlat/checksum"
	"golang.org/x/sys/unix"
)

// virtioHdrLen is the size of struct virtio_net_hdr, which a TUN queue
// opened with IFF_VNET_HDR puts in front of every packet it hands over.
const virtioHdrLen = 10

// virtioHdr is struct virtio_net_hdr (include/uapi/linux/virtio_net.h).
// A TUN device keeps its fields in the host's byte order unless told
// otherwise (TUNSETVNETLE), and nothing here tells it otherwise.
type virtioHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func decodeVirtio(b []byte) virtioHdr {
	_ = b[virtioHdrLen-1]
	return virtioHdr{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     binary.NativeEndian.Uint16(b[2:]),
		gsoSize:    binary.NativeEndian.Uint16(b[4:]),
		csumStart:  binary.NativeEndian.Uint16(b[6:]),
		csumOffset: binary.NativeEndian.Uint16(b[8:]),
	}
}

var (
	errGSOType    = errors.New("unsupported GSO type")
	errGSOHeader  = errors.New("GSO header does not fit the packet")
	errCsumOffset = errors.New("checksum offset outside the packet")
	errSegments   = errors.New("superpacket has more segments than buffers are left")
)

// completeChecksum finishes a checksum the kernel left partial
// (VIRTIO_NET_HDR_F_NEEDS_CSUM, CHECKSUM_PARTIAL in the kernel): the field
// at start+offset holds the pseudo-header sum, and the sum of everything
// from start on is still to be added in and complemented.
func completeChecksum(pkt []byte, start, offset uint16) error {
	at := int(start) + int(offset)
	if at+2 > len(pkt) {
		return errCsumOffset
	}
	partial := binary.BigEndian.Uint16(pkt[at:])
	pkt[at], pkt[at+1] = 0, 0
	f := ^checksum.Checksum(pkt[start:], partial)
	if offset == 6 { // UDP: RFC 768, a computed 0 is sent as all ones
		f = checksum.UDPField(f)
	}
	binary.BigEndian.PutUint16(pkt[at:], f)
	return nil
}

// split cuts a TCP or UDP superpacket (one IPv4 or IPv6 header, one
// transport header, up to 64 KiB of payload) into segments of at most
// h.gsoSize octets of payload, each written to bufs[i][offset:] with its
// size in sizes[i], and returns how many it wrote. Each segment gets its
// own lengths, IPv4 identification and header checksum, TCP sequence
// number (FIN and PSH only on the last), and a full transport checksum,
// as the kernel's own segmentation would give it.
func split(in []byte, h virtioHdr, bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(in) < 1 {
		return 0, errGSOHeader
	}
	v6 := in[0]>>4 == 6
	ipLen := int(h.csumStart)
	var tcp bool
	switch h.gsoType {
	case unix.VIRTIO_NET_HDR_GSO_TCPV4, unix.VIRTIO_NET_HDR_GSO_TCPV6:
		tcp = true
		if v6 != (h.gsoType == unix.VIRTIO_NET_HDR_GSO_TCPV6) {
			return 0, errGSOType
		}
	case unix.VIRTIO_NET_HDR_GSO_UDP_L4:
	default:
		return 0, errGSOType
	}
	// The kernel's hdrLen can be the whole first segment on the forwarding
	// path; the transport header's own length is what counts.
	var hdrLen int
	if tcp {
		if ipLen+13 > len(in) {
			return 0, errGSOHeader
		}
		hdrLen = ipLen + int(in[ipLen+12]>>4)*4
		if hdrLen < ipLen+20 {
			return 0, errGSOHeader
		}
	} else {
		hdrLen = ipLen + 8
	}
	minIP := 20
	if v6 {
		minIP = 40
	}
	if ipLen < minIP || hdrLen > len(in) || h.gsoSize == 0 {
		return 0, errGSOHeader
	}
	csumAt := int(h.csumStart) + int(h.csumOffset)
	if csumAt+2 > hdrLen {
		return 0, errCsumOffset
	}
	var src, dst []byte
	proto := uint8(unix.IPPROTO_UDP)
	if tcp {
		proto = unix.IPPROTO_TCP
	}
	if v6 {
		src, dst = in[8:24], in[24:40]
	} else {
		src, dst = in[12:16], in[16:20]
	}
	seq := uint32(0)
	if tcp {
		seq = binary.BigEndian.Uint32(in[ipLen+4:])
	}
	payload := in[hdrLen:]
	seg := int(h.gsoSize)
	n := (len(payload) + seg - 1) / seg
	if n > len(bufs) {
		return 0, errSegments
	}
	for i := 0; i < n; i++ {
		data := payload[i*seg : min((i+1)*seg, len(payload))]
		total := hdrLen + len(data)
		out := bufs[i][offset:]
		copy(out, in[:hdrLen])
		copy(out[hdrLen:], data)
		out = out[:total]
		if v6 {
			binary.BigEndian.PutUint16(out[4:], uint16(total-ipLen))
		} else {
			binary.BigEndian.PutUint16(out[2:], uint16(total))
			binary.BigEndian.PutUint16(out[4:], binary.BigEndian.Uint16(in[4:])+uint16(i))
			out[10], out[11] = 0, 0
			binary.BigEndian.PutUint16(out[10:], ^checksum.Checksum(out[:ipLen], 0))
		}
		th := out[ipLen:]
		if tcp {
			binary.BigEndian.PutUint32(th[4:], seq+uint32(i*seg))
			if i != n-1 {
				th[13] &^= 0x01 | 0x08 // FIN, PSH
			}
		} else {
			binary.BigEndian.PutUint16(th[4:], uint16(len(th)))
		}
		out[csumAt], out[csumAt+1] = 0, 0
		f := ^checksum.Checksum(th, checksum.PseudoHeaderBytes(src, dst, proto, uint32(len(th))))
		if !tcp {
			f = checksum.UDPField(f)
		}
		binary.BigEndian.PutUint16(out[csumAt:], f)
		sizes[i] = total
	}
	return n, nil
}
