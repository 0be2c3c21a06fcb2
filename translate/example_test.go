package translate_test

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/header"
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
	// UDP 64:ff9b::192.0.2.33 port 4660 -> 64:ff9b::198.51.100.2 port 53, "abcd".
	pkt, _ := hex.DecodeString("60000000000c114000" + "64ff9b0000000000000000c0000221" +
		"0064ff9b0000000000000000c6336402" + "12340035000c3c4f" + "61626364")

	buf := make([]byte, translate.Headroom+len(pkt)) // room in front for 4->6 growth
	copy(buf[translate.Headroom:], pkt)
	r := x.To4(buf, translate.Headroom, len(pkt))
	fmt.Printf("%v: % x\n", r.Verdict, r.Packet(buf)[12:])
	// Output: forward: c0 00 02 21 c6 33 64 02 12 34 00 35 00 0c 3c 4f 61 62 63 64
}

// Translate a copy of an IPv4 packet to IPv6, for callers that would
// rather not give the translator their buffer.
func ExampleTranslator_AppendTo6() {
	pool6 := translate.MustParsePrefix("64:ff9b::/96")
	x, err := translate.New(translate.Config{}, &translate.PrefixPolicy{Prefix: pool6, AllowNonGlobal: true})
	if err != nil {
		panic(err)
	}
	// UDP 198.51.100.2 port 53 -> 192.0.2.33 port 4660, "abcd".
	pkt, _ := hex.DecodeString("45000020000040003f11" + "4f76" + "c6336402c0000221" + "00351234000c3c4f" + "61626364")

	out, r := x.AppendTo6(nil, pkt)
	ip := header.IPv6(r.Packet(out))
	fmt.Println(r.Verdict, ip.Src(), ip.Dst(), ip.HopLimit(), len(out))
	// Output: forward 64:ff9b::c633:6402 64:ff9b::c000:221 62 52
}
