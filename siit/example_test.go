package siit_test

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/siit"
	"github.com/v6xlat/xlat/translate"
)

// An EAMT maps IPv4 prefixes to IPv6 prefixes by suffix copy (RFC 7757
// Figure 1, entry 4).
func ExampleEAMT() {
	t, err := siit.NewEAMT([]siit.EAM{{
		IPv4: netip.MustParsePrefix("192.0.2.128/26"),
		IPv6: netip.MustParsePrefix("2001:db8:dddd::/64"),
	}})
	if err != nil {
		panic(err)
	}
	v6, _ := t.To6(netip.MustParseAddr("192.0.2.152"))
	v4, _ := t.To4(netip.MustParseAddr("2001:db8:dddd:0:dc00::"))
	fmt.Println(v6, v4)
	// Output: 2001:db8:dddd:0:6000:: 192.0.2.183
}

// An IPv4 client reaches an IPv6-only web server published through an EAM
// entry (SIIT-DC, NAT46).
func Example_nat46() {
	cfg, err := siit.ParseConfig([]byte(`{
		"pool6": "2001:db8:46::/96",
		"eamt": [{"ipv4": "203.0.113.1/32", "ipv6": "2001:db8:aaaa::1/128"}]
	}`))
	if err != nil {
		panic(err)
	}
	x, err := siit.New(cfg)
	if err != nil {
		panic(err)
	}
	// UDP 198.51.100.7:5000 -> 203.0.113.1:53, "query".
	pkt, _ := hex.DecodeString("450000210000000040111490" + "c6336407cb007101" + "13880035000d35f2" + "7175657279")

	buf := make([]byte, translate.Headroom+len(pkt))
	copy(buf[translate.Headroom:], pkt)
	r := x.To6(buf, translate.Headroom, len(pkt))
	out := r.Packet(buf)
	fmt.Println(r.Verdict, netip.AddrFrom16([16]byte(out[8:24])), "->", netip.AddrFrom16([16]byte(out[24:40])))
	// Output: forward 2001:db8:46::c633:6407 -> 2001:db8:aaaa::1
}
