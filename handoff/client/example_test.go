package client_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/handoff/server"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

// A NAT64's client and a server exchanging datagrams in memory: the
// client misses, asks, is challenged once, and gets its port; the server
// logs the binding with the real IPv6 client. A gateway puts the
// datagrams on the wire instead (Send, Receive) and translates what
// Deliver hands back.
func Example() {
	n := netip.MustParseAddr("192.0.2.1") // the NAT64's IPv4 address
	s := netip.MustParseAddr("192.0.2.2") // the server
	pool6, _ := translate.ParsePrefix("64:ff9b::/96")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

	srv, _ := server.New(server.Config{Addr: s,
		OnEvent: func(e server.Event) { fmt.Print(string(e.AppendLogLine(nil))) }})
	var toServer [][]byte
	cli, _ := client.New(client.Config{
		NAT64: n, Pool6: pool6, Servers: []netip.Addr{s},
		Send:    func(pkt []byte) { toServer = append(toServer, pkt) },
		Deliver: func(pkt []byte, to4 bool) { fmt.Printf("deliver a %d-octet packet\n", len(pkt)) },
		Now:     func() time.Time { return now },
	})

	c := netip.MustParseAddrPort("[2001:db8:1::2]:53186")
	_, claim := cli.Out(s, c, false)
	fmt.Println("first packet: await", claim == nat64.Await)

	// The network: IPv4/UDP from N:1024 to S:64646 and back.
	for len(toServer) > 0 {
		pkt := toServer[0]
		toServer = toServer[1:]
		udp := pkt[20:]
		for _, reply := range srv.Handle(now, netip.AddrPortFrom(n, 1024), udp[8:], nil) {
			cli.Receive(udp4(s, 64646, n, 1024, reply))
		}
	}
	port, claim := cli.Out(s, c, false)
	fmt.Println("then: port", port, "claimed", claim == nat64.Claimed)
	// Output:
	// first packet: await true
	// 2024-05-01 12:00:00.000000 Initialized 192.0.2.1
	// 2024-05-01 12:00:00.000000 Created 192.0.2.1:1028 [2001:db8:1::2]:53186
	// then: port 1028 claimed true
}

// udp4 wraps a payload in IPv4 and UDP headers (checksum 0: none).
func udp4(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	h := header.IPv4(p)
	h.Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), TTL: 64, Protocol: header.ProtoUDP, Src: src.As4(), Dst: dst.As4()})
	u := header.UDP(p[20:])
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(len(u)))
	copy(p[28:], payload)
	return p
}
