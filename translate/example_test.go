package translate_test

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// Embed and extract an IPv4 address (RFC 6052 §2.4, Table 1).
func ExamplePrefix() {
	p := translate.MustParsePrefix("2001:db8:100::/40")
	v6 := p.Embed(netip.MustParseAddr("192.0.2.33"))
	v4, ok := p.Extract(v6)
	fmt.Println(v6, v4, ok)
	// Output: 2001:db8:1c0:2:21:: 192.0.2.33 true
}

// Translate one IPv6 packet to IPv4 in place.
func ExampleTranslator_To4() {
	pool6 := translate.MustParsePrefix("64:ff9b::/96")
	x, err := translate.New(translate.Config{}, &translate.PrefixPolicy{Prefix: pool6, AllowNonGlobal: true})
	if err != nil {
		panic(err)
	}
	src, dst := netip.MustParseAddr("64:ff9b::c000:221"), netip.MustParseAddr("64:ff9b::c633:6402")
	pkt := testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 4660, 53, []byte("abcd")))

	buf := make([]byte, translate.Headroom+len(pkt)) // room in front for 4->6 growth
	copy(buf[translate.Headroom:], pkt)
	r := x.To4(buf, translate.Headroom, len(pkt))
	fmt.Printf("%v: % x\n", r.Verdict, r.Packet(buf)[12:])
	// Output: forward: c0 00 02 21 c6 33 64 02 12 34 00 35 00 0c 3c 4f 61 62 63 64
}
