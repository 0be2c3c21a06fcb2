package oracle

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/map66"
)

// A packet mapped by a neutral rule decodes with gopacket and its TCP, UDP
// and ICMPv6 checksums verify, though map66 never recomputed them.
func TestMap66NeutralWithGopacket(t *testing.T) {
	m, err := map66.New([]map66.Rule{
		{Internal: netip.MustParsePrefix("fd01:203:405::/48"), External: netip.MustParsePrefix("2001:db8:1::/48")},
		{Internal: netip.MustParsePrefix("fd02::/64"), External: netip.MustParsePrefix("2001:db8:2:1::/64")},
		{Internal: netip.MustParsePrefix("fd03::/96"), External: netip.MustParsePrefix("2001:db8:3::/96")},
	}, map66.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("2001:db8:ffff::1")
	for _, src := range []string{"fd01:203:405:1::1234", "fd01:203:405:2ab0::9", "fd02::1:2:3:4", "fd03::c000:221"} {
		s := netip.MustParseAddr(src)
		for _, pkt := range [][]byte{
			testpkt.IPv6{Src: s, Dst: dst}.Packet(6, testpkt.TCP(s, dst, 1000, 80, header.TCPFlagSYN, []byte("hello"))),
			testpkt.IPv6{Src: s, Dst: dst}.Packet(17, testpkt.UDP(s, dst, 40000, 50000, []byte("query"))),
			testpkt.IPv6{Src: s, Dst: dst}.Packet(58, testpkt.Echo(s, dst, 128, 1, 1, []byte("ping"))),
		} {
			before := append([]byte(nil), pkt[40:]...)
			if why := m.Outbound(pkt); why != map66.ReasonNone {
				t.Fatalf("%s: %v", src, why)
			}
			if string(before) != string(pkt[40:]) {
				t.Fatalf("%s: the transport header was rewritten", src)
			}
			p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
			if p.ErrorLayer() != nil {
				t.Fatalf("gopacket: %v", p.ErrorLayer().Error())
			}
			if ok, judged := transportOK(p); !judged || !ok {
				t.Errorf("%s proto %d: checksum does not verify after mapping (judged %v)", src, pkt[6], judged)
			}
		}
	}
}
