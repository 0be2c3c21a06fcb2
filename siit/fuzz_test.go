package siit

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// FuzzSIIT: arbitrary packets through an instance with EAMT, RFC 6791 and
// intrinsic hairpinning never panic and come out well formed.
func FuzzSIIT(f *testing.F) {
	x, err := New(Config{Pool6: wkp, EAMT: figure1, AllowNonGlobalWKP: true, RFC6791v4: netip.MustParsePrefix("198.51.100.1/32"),
		Config: translate.Config{Addr4: netip.MustParseAddr("192.0.2.254"), Addr6: netip.MustParseAddr("2001:db8::fe")}})
	if err != nil {
		f.Fatal(err)
	}
	dst := wkp.Embed(netip.MustParseAddr("192.0.2.2"))
	f.Add(testpkt.IPv6{Src: hostA, Dst: dst}.Packet(17, testpkt.UDP(hostA, dst, 1, 2, []byte("x"))))
	f.Add(icmp6Error(router6, wkp.Embed(netip.MustParseAddr("192.0.2.1")), wkp.Embed(netip.MustParseAddr("192.0.2.1")), hostB))
	src, d4 := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.1")
	f.Add(testpkt.IPv4{Src: src, Dst: d4}.Packet(6, testpkt.TCP(src, d4, 1, 2, header.TCPFlagSYN, nil)))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		buf := make([]byte, translate.Headroom+len(pkt)+256)
		for _, fn := range []func([]byte, int, int) translate.Result{x.To4, x.To6} {
			copy(buf[translate.Headroom:], pkt)
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
		}
	})
}
