package gateway

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// The gateway clamps the MSS of SYNs both ways, by default: an IPv6
// client's SYN through the NAT64 leaves with at most the IPv6 link's MTU
// less 60, the IPv4 server's SYN-ACK comes back with at most the IPv4
// link's less 40 (here a 1400-octet tunnel); a SYN without the option is
// left alone; "mss-clamp": -1 turns it off.
func TestGatewayClampsMSS(t *testing.T) {
	c6, s6 := netip.MustParseAddr("2001:db8:c::10"), netip.MustParseAddr("64:ff9b::c000:250")
	s4, pool := netip.MustParseAddr("192.0.2.80"), netip.MustParseAddr("203.0.113.1")
	opts := func(mss uint16) []byte { return []byte{2, 4, byte(mss >> 8), byte(mss), 1, 3, 3, 7} }
	for _, tc := range []struct {
		name            string
		clamp           string
		synMSS, ackMSS  uint16 // offered
		wantSYN, wantAK uint16 // seen on the other side; 0: no option
	}{
		{"default", ``, 1460, 1460, 1440, 1360},
		{"cap", `, "mss-clamp": 1300`, 1460, 1460, 1300, 1300},
		{"off", `, "mss-clamp": -1`, 8940, 1460, 8940, 1460},
		{"no option", ``, 0, 1460, 0, 1360},
	} {
		l, err := parseConfig([]byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
		  "instances": [{"name": "nat64", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96", "wkp-allow-non-global": true, "ipv4-mtu": 1400` + tc.clamp + `,
		    "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32"}]}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		g := quietGateway(l)

		var synOpts []byte
		if tc.synMSS != 0 {
			synOpts = opts(tc.synMSS)
		}
		syn := testpkt.IPv6{Src: c6, Dst: s6, HopLimit: 64}.Packet(header.ProtoTCP,
			testpkt.TCPOptions(c6, s6, 40000, 80, header.TCPFlagSYN, synOpts, nil))
		out := gatewayTranslate(t, g, syn)
		if got := mssIn(out, header.IPv4(out).HeaderLen()); got != tc.wantSYN {
			t.Errorf("%s: SYN left with MSS %d, want %d: %x", tc.name, got, tc.wantSYN, out)
		}
		port := header.TCP(out[20:]).SrcPort()
		ack := testpkt.IPv4{Src: s4, Dst: pool, TTL: 64, DF: true}.Packet(header.ProtoTCP,
			testpkt.TCPOptions(s4, pool, 80, port, header.TCPFlagSYN|header.TCPFlagACK, opts(tc.ackMSS), nil))
		back := gatewayTranslate(t, g, ack)
		if got := mssIn(back, header.IPv6Size); got != tc.wantAK {
			t.Errorf("%s: SYN-ACK came back with MSS %d, want %d", tc.name, got, tc.wantAK)
		}
	}
}

// gatewayTranslate runs one packet through the gateway's burst path and
// returns what it would write.
func gatewayTranslate(t *testing.T, g *Gateway, pkt []byte) []byte {
	t.Helper()
	buf := make([]byte, readOffset+len(pkt)+translate.Headroom)
	copy(buf[readOffset:], pkt)
	var rs results
	out := g.translateBurst([][]byte{buf}, []int{len(pkt)}, nil, &rs)
	if len(out) != 1 {
		t.Fatalf("%d packets out of one", len(out))
	}
	return append([]byte(nil), out[0][tunOffset:]...)
}

// mssIn is the MSS option of the TCP segment at l4 in pkt, 0 if none.
func mssIn(pkt []byte, l4 int) uint16 {
	mss, _ := header.TCP(pkt[l4:]).MSS()
	return mss
}
