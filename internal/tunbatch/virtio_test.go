package tunbatch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/internal/testpkt"
	"golang.org/x/sys/unix"
)

var (
	src4, dst4 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	src6, dst6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:64::7")
)

// superpacket builds what a TUN queue with offloads hands over for a GSO
// skb: one IP and transport header in front of the whole payload, the
// transport checksum field holding only the pseudo-header sum.
func superpacket(v6, tcp bool, payload []byte) ([]byte, virtioHdr) {
	src, dst := src4, dst4
	if v6 {
		src, dst = src6, dst6
	}
	var th []byte
	proto := uint8(unix.IPPROTO_UDP)
	h := virtioHdr{gsoType: unix.VIRTIO_NET_HDR_GSO_UDP_L4, csumOffset: 6}
	if tcp {
		proto = unix.IPPROTO_TCP
		th = testpkt.TCP(src, dst, 40000, 80, 0x10|0x08|0x01, payload) // ACK PSH FIN
		h.gsoType, h.csumOffset = unix.VIRTIO_NET_HDR_GSO_TCPV4, 16
		if v6 {
			h.gsoType = unix.VIRTIO_NET_HDR_GSO_TCPV6
		}
	} else {
		th = testpkt.UDP(src, dst, 40000, 9, payload)
	}
	var pkt []byte
	if v6 {
		pkt = testpkt.IPv6{Src: src, Dst: dst}.Packet(proto, th)
		h.csumStart = 40
	} else {
		pkt = testpkt.IPv4{Src: src, Dst: dst, ID: 0xfffe, DF: true}.Packet(proto, th)
		h.csumStart = 20
	}
	at := int(h.csumStart + h.csumOffset)
	s, d := pkt[srcOff(v6):][:addrLen(v6)], pkt[srcOff(v6)+addrLen(v6):][:addrLen(v6)]
	binary.BigEndian.PutUint16(pkt[at:], checksum.PseudoHeaderBytes(s, d, proto, uint32(len(pkt))-uint32(h.csumStart)))
	h.hdrLen = h.csumStart + 8
	if tcp {
		h.hdrLen = h.csumStart + 20
	}
	h.gsoSize = 1000
	return pkt, h
}

func srcOff(v6 bool) int {
	if v6 {
		return 8
	}
	return 12
}

func addrLen(v6 bool) int {
	if v6 {
		return 16
	}
	return 4
}

// Every segment split cuts must be a packet of its own that a receiver
// accepts: valid lengths and checksums, consecutive sequence numbers and
// IPv4 identifications, FIN and PSH only on the last, and the payloads
// in order adding up to the superpacket's.
func TestSplitSegments(t *testing.T) {
	payload := make([]byte, 3500)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("v6=%v/tcp=%v", v6, tcp), func(t *testing.T) {
				in, h := superpacket(v6, tcp, payload)
				bufs := Buffers(8, 2048)
				sizes := make([]int, 8)
				n, err := split(in, h, bufs, sizes, 16)
				if err != nil || n != 4 {
					t.Fatalf("split = %d, %v; want 4 segments", n, err)
				}
				ipLen, thLen := int(h.csumStart), int(h.hdrLen-h.csumStart)
				var got []byte
				for i := 0; i < n; i++ {
					seg := bufs[i][16 : 16+sizes[i]]
					want := min(1000, len(payload)-i*1000)
					if len(seg) != ipLen+thLen+want {
						t.Fatalf("segment %d: %d octets, want %d", i, len(seg), ipLen+thLen+want)
					}
					proto := uint8(unix.IPPROTO_UDP)
					if tcp {
						proto = unix.IPPROTO_TCP
					}
					var s, d []byte
					if v6 {
						if int(binary.BigEndian.Uint16(seg[4:])) != len(seg)-40 {
							t.Errorf("segment %d: payload length %d", i, binary.BigEndian.Uint16(seg[4:]))
						}
						s, d = seg[8:24], seg[24:40]
					} else {
						if int(binary.BigEndian.Uint16(seg[2:])) != len(seg) || !checksum.Verify(seg[:20], 0) {
							t.Errorf("segment %d: IPv4 total length %d or header checksum wrong", i, binary.BigEndian.Uint16(seg[2:]))
						}
						if id := binary.BigEndian.Uint16(seg[4:]); id != 0xfffe+uint16(i) {
							t.Errorf("segment %d: identification %#x, want %#x", i, id, 0xfffe+uint16(i))
						}
						s, d = seg[12:16], seg[16:20]
					}
					th := seg[ipLen:]
					if !checksum.Verify(th, checksum.PseudoHeaderBytes(s, d, proto, uint32(len(th)))) {
						t.Errorf("segment %d: transport checksum %#x does not verify", i, binary.BigEndian.Uint16(th[h.csumOffset:]))
					}
					if tcp {
						if seq := binary.BigEndian.Uint32(th[4:]); seq != 1000+uint32(i*1000) {
							t.Errorf("segment %d: sequence %d", i, seq)
						}
						last := i == n-1
						if fin, psh := th[13]&1 != 0, th[13]&8 != 0; fin != last || psh != last || th[13]&0x10 == 0 {
							t.Errorf("segment %d: flags %#x", i, th[13])
						}
					} else if int(binary.BigEndian.Uint16(th[4:])) != len(th) {
						t.Errorf("segment %d: UDP length %d", i, binary.BigEndian.Uint16(th[4:]))
					}
					got = append(got, th[thLen:]...)
				}
				if !bytes.Equal(got, payload) {
					t.Error("the segments' payloads do not add up to the superpacket's")
				}
			})
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	in, h := superpacket(false, true, make([]byte, 3500))
	bufs, sizes := Buffers(3, 2048), make([]int, 3)
	if _, err := split(in, h, bufs, sizes, 16); err != errSegments {
		t.Errorf("4 segments into 3 buffers: %v, want errSegments", err)
	}
	bad := h
	bad.gsoType = unix.VIRTIO_NET_HDR_GSO_TCPV6
	if _, err := split(in, bad, Buffers(8, 2048), make([]int, 8), 16); err != errGSOType {
		t.Errorf("TCPV6 on an IPv4 packet: %v, want errGSOType", err)
	}
	bad = h
	bad.csumStart = 10
	if _, err := split(in, bad, Buffers(8, 2048), make([]int, 8), 16); err == nil {
		t.Error("an IPv4 header of 10 octets was accepted")
	}
	if _, err := split(in[:30], h, Buffers(8, 2048), make([]int, 8), 16); err == nil {
		t.Error("a superpacket cut inside its TCP header was accepted")
	}
}

// A partial checksum completed must equal the one computed in full.
func TestCompleteChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		want, h := superpacket(v6, false, []byte("a datagram whose checksum the kernel left to us"))
		want = append([]byte(nil), want...)
		ipLen := int(h.csumStart)
		// superpacket left the pseudo-header sum in the field; the
		// full checksum is what testpkt built.
		full := testpkt.UDP(addrOf(want[srcOff(v6):][:addrLen(v6)]), addrOf(want[srcOff(v6)+addrLen(v6):][:addrLen(v6)]), 40000, 9, want[ipLen+8:])
		if err := completeChecksum(want, h.csumStart, h.csumOffset); err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint16(want[ipLen+6:]); got != binary.BigEndian.Uint16(full[6:]) {
			t.Errorf("v6=%v: completed checksum %#04x, want %#04x", v6, got, binary.BigEndian.Uint16(full[6:]))
		}
		if err := completeChecksum(want, h.csumStart, 60000); err == nil {
			t.Errorf("v6=%v: an offset past the packet was accepted", v6)
		}
	}
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}
