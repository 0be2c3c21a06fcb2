package gateway

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// pickCases are the packets BenchmarkPickTranslate runs through a gateway
// of four instances: two NAT64s split by destination rules, a SIIT with
// pool6 and a 256-entry EAMT. Each packet is picked and translated.
func pickCases() (cfg string, cases []pickCase) {
	var eamt []string
	for i := 0; i < 256; i++ {
		eamt = append(eamt, fmt.Sprintf(`{"ipv4": "198.51.100.%d/32", "ipv6": "2001:db8:aa:%x::/128"}`, i, i))
	}
	cfg = `{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
	  "instances": [
	    {"name": "nat64-a", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
	      "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}, {"protocol": "TCP", "prefix": "203.0.113.1/32"}]}},
	    {"name": "nat64-b", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
	      "pool4": [{"protocol": "UDP", "prefix": "203.0.113.2/32"}, {"protocol": "TCP", "prefix": "203.0.113.2/32"}]}},
	    {"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:46::/96",
	      "eamt": [` + strings.Join(eamt, ",") + `]}}],
	  "rules": [{"prefix": "192.0.2.0/25", "instance": "nat64-a"}, {"prefix": "192.0.2.128/25", "instance": "nat64-b"},
	    {"prefix": "198.51.100.0/24", "instance": "siit"}, {"prefix": "203.0.113.64/26", "instance": "siit"}]}`
	c6 := netip.MustParseAddr("2001:db8:c::10")
	s6a := netip.MustParseAddr("2001:db8:64::c000:250") // 192.0.2.80, nat64-a
	s6b := netip.MustParseAddr("2001:db8:64::c000:2d0") // 192.0.2.208, nat64-b
	eam6 := netip.MustParseAddr("2001:db8:aa:77::")     // 198.51.100.119 by the EAMT
	n6 := netip.MustParseAddr("2001:db8:46::cb00:7150") // 203.0.113.80 by pool6
	eam4, n4 := netip.MustParseAddr("198.51.100.119"), netip.MustParseAddr("203.0.113.80")
	udp6 := func(dst netip.Addr) []byte {
		return testpkt.IPv6{Src: c6, Dst: dst}.Packet(header.ProtoUDP, testpkt.UDP(c6, dst, 1000, 53, make([]byte, 16)))
	}
	cases = []pickCase{
		{"nat64/6to4", udp6(s6a)},
		{"nat64-second/6to4", udp6(s6b)},
		{"nat64/4to6", nil}, // made once nat64/6to4 has its binding
		{"siit-pool6/6to4", testpkt.IPv6{Src: eam6, Dst: n6}.Packet(header.ProtoTCP, testpkt.TCP(eam6, n6, 2000, 80, header.TCPFlagACK, make([]byte, 4)))},
		{"siit-eamt/6to4", testpkt.IPv6{Src: n6, Dst: eam6}.Packet(header.ProtoTCP, testpkt.TCP(n6, eam6, 80, 2000, header.TCPFlagACK, make([]byte, 4)))},
		{"siit-eamt/4to6", testpkt.IPv4{Src: eam4, Dst: n4}.Packet(header.ProtoTCP, testpkt.TCP(eam4, n4, 2000, 80, header.TCPFlagACK, make([]byte, 4)))},
	}
	return cfg, cases
}

type pickCase struct {
	name string
	pkt  []byte
}

// BenchmarkPickTranslate is the cost of choosing a packet's instance and
// translating it, per packet.
func BenchmarkPickTranslate(b *testing.B) {
	cfg, cases := pickCases()
	l, err := parseConfig([]byte(cfg))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.pkt == nil {
				// The reply to nat64/6to4's first packet, to the port
				// its binding has.
				out := make([]byte, readOffset+len(cases[0].pkt)+translate.Headroom)
				copy(out[readOffset:], cases[0].pkt)
				r, _ := l.Translate(out, readOffset, len(cases[0].pkt))
				port := header.UDP(r.Packet(out)[header.IPv4MinSize:]).SrcPort()
				s4, p4 := netip.MustParseAddr("192.0.2.80"), netip.MustParseAddr("203.0.113.1")
				c.pkt = testpkt.IPv4{Src: s4, Dst: p4}.Packet(header.ProtoUDP, testpkt.UDP(s4, p4, 53, port, make([]byte, 16)))
			}
			buf := make([]byte, readOffset+len(c.pkt)+translate.Headroom)
			copy(buf[readOffset:], c.pkt)
			tpl := append([]byte(nil), buf...)
			n := len(c.pkt)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(buf[readOffset:readOffset+n], tpl[readOffset:readOffset+n])
				if r, ok := l.Translate(buf, readOffset, n); !ok || r.Verdict != translate.Forward {
					b.Fatalf("%v %v", r.Verdict, r.Reason)
				}
			}
		})
	}
}
