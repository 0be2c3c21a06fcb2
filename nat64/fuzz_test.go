package nat64

import (
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// FuzzNAT64 feeds arbitrary packets both ways through one instance, ticking
// its clock between them: nothing panics, and whatever comes out is a
// well-formed packet inside the buffer.
func FuzzNAT64(f *testing.F) {
	f.Add(tcp6(h1, 1500, h2, 80, header.TCPFlagSYN), tcp4(h2, 80, pool, 1500, header.TCPFlagSYN|header.TCPFlagACK))
	f.Add(udp6(h1, 53, h2, 53), udp4(h2, 53, pool, 53))
	d6 := wkp.Embed(h2)
	f.Add(testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, 128, 1, 1, nil)), testpkt.IPv4{Src: h2, Dst: pool}.Packet(1, testpkt.Echo(h2, pool, 0, 1, 1, nil)))
	f.Add(tcp4(h2, 5000, pool, 6000, header.TCPFlagSYN), tcp6(h1, 6000, h2, 5000, header.TCPFlagSYN))
	clock := newClock()
	x := newTest(f, testConfig(clock))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, pkt := range [][]byte{a, b} {
			buf := make([]byte, translate.Headroom+len(pkt)+256)
			copy(buf[translate.Headroom:], pkt)
			for _, fn := range []func([]byte, int, int) translate.Result{x.To4, x.To6} {
				r := fn(buf, translate.Headroom, len(pkt))
				if r.Verdict == translate.Drop {
					continue
				}
				if r.Start < 0 || r.End > len(buf) || r.Start >= r.End {
					t.Fatalf("result %+v outside the buffer", r)
				}
				if err := testpkt.WellFormed(r.Packet(buf)); err != nil {
					t.Fatal(err)
				}
				copy(buf[translate.Headroom:], pkt)
			}
		}
		clock.advance(7_000_000_000) // 7 s: held SYNs and ICMP sessions expire
		x.Tick(func([]byte) {})
	})
}
