package translate

import (
	"strconv"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// benchPackets returns the packets of the benchmark, by name and size.
func benchPackets(size int) map[string][]byte {
	pay6 := func(hdr int) []byte { return make([]byte, size-40-hdr) }
	pay4 := func(hdr int) []byte { return make([]byte, size-20-hdr) }
	return map[string][]byte{
		"tcp/6to4":  testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(6, testpkt.TCP(h6, h4v6, 1000, 80, header.TCPFlagACK, pay6(20))),
		"udp/6to4":  testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(17, testpkt.UDP(h6, h4v6, 1000, 53, pay6(8))),
		"echo/6to4": testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(58, testpkt.Echo(h6, h4v6, 128, 1, 1, pay6(8))),
		"tcp/4to6":  testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}.Packet(6, testpkt.TCP(h4, h6v4, 80, 1000, header.TCPFlagACK, pay4(20))),
		"udp/4to6":  testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}.Packet(17, testpkt.UDP(h4, h6v4, 53, 1000, pay4(8))),
		"echo/4to6": testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}.Packet(1, testpkt.Echo(h4, h6v4, 0, 1, 1, pay4(8))),
	}
}

// BenchmarkTranslate measures in-place translation beside the cost of
// copying the same packet into a second buffer, in the same run.
//
// Packets are translated from a ring of 64 buffers, as from a TUN batch,
// and each is restored half a ring ahead of its turn by rewriting the
// header bytes translation reads or writes (the payload is never
// touched). The restore is charged to the translation; restoring a
// buffer just before translating it would charge store-forwarding stalls
// as well, which a packet read from a device long before never causes.
func BenchmarkTranslate(b *testing.B) {
	x := newTestTranslator(b, Config{LowestIPv6MTU: 9000, IPv6MTU: 9000, IPv4MTU: 9000, Addr4: xlat4, Addr6: xlat6})
	for _, size := range []int{64, 576, 1500} {
		pkts := benchPackets(size)
		for _, name := range []string{"tcp/6to4", "udp/6to4", "echo/6to4", "tcp/4to6", "udp/4to6", "echo/4to6"} {
			pkt := pkts[name]
			f := x.To4
			if pkt[0]>>4 == 4 {
				f = x.To6
			}
			hdr := min(len(pkt), 48+20) // every byte translation reads or writes
			b.Run(name+"/size="+strconv.Itoa(size)+"/op=translate", func(b *testing.B) {
				ring := newRing(pkt, 0)
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				b.ResetTimer() // the ring's buffers are not the measured work
				for i := 0; i < b.N; i++ {
					copy(ring[(i+len(ring)/2)%len(ring)][Headroom:Headroom+hdr], pkt[:hdr])
					if r := f(ring[i%len(ring)], Headroom, len(pkt)); r.Verdict != Forward {
						b.Fatal(r.Verdict, r.Reason)
					}
				}
			})
			dst := make([]byte, len(pkt))
			b.Run(name+"/size="+strconv.Itoa(size)+"/op=copy", func(b *testing.B) {
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					copy(dst, pkt)
				}
			})
		}
	}
	for _, name := range []string{"error/6to4", "error/4to6"} {
		pkt := icmpError6()
		f := x.To4
		if name == "error/4to6" {
			pkt, f = icmpError4(), x.To6
		}
		b.Run(name+"/op=translate", func(b *testing.B) {
			// An error's translation rewrites its whole body: restored whole.
			ring := newRing(pkt, 64)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer() // the ring's buffers are not the measured work
			for i := 0; i < b.N; i++ {
				copy(ring[(i+len(ring)/2)%len(ring)][Headroom:], pkt)
				if r := f(ring[i%len(ring)], Headroom, len(pkt)); r.Verdict != Forward {
					b.Fatal(r.Verdict, r.Reason)
				}
			}
		})
		dst := make([]byte, len(pkt))
		b.Run(name+"/op=copy", func(b *testing.B) {
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(dst, pkt)
			}
		})
	}
}

// newRing returns 64 buffers holding pkt after Headroom, with spare bytes
// after it.
func newRing(pkt []byte, spare int) [][]byte {
	ring := make([][]byte, 64)
	for i := range ring {
		ring[i] = make([]byte, Headroom+len(pkt)+spare)
		copy(ring[i][Headroom:], pkt)
	}
	return ring
}
