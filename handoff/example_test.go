package handoff_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/wire"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

// A NAT64 announces a binding it already uses, and the server parses it.
func Example() {
	var kn [32]byte // the NAT64's secret; random in practice
	server := netip.MustParseAddr("192.0.2.2")
	epoch := uint64(0x5d3c9a1be04f7726)

	d := wire.Datagram{
		Session: wire.Session{
			Version:    wire.ProtocolVersion,
			NAT64Epoch: epoch,
			Token:      handoff.Token(kn, server, handoff.DefaultServerPort, epoch),
		},
		Messages: []wire.Message{&wire.MapRequest{
			Flags:  wire.FlagAdopt,
			Proto:  6,
			Port:   3719,
			Client: netip.MustParseAddrPort("[2001:db8:1::2]:53186"),
		}},
	}
	b := d.Append(nil)

	got, err := wire.Parse(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := got.Messages[0].(*wire.MapRequest)
	fmt.Printf("%d octets: adopt port %d for %v\n", len(b), req.Port, req.Client)
	// Output: 64 octets: adopt port 3719 for [2001:db8:1::2]:53186
}

// A NAT64's client and a server exchanging datagrams in memory: the
// client misses, asks, is challenged once, and gets its port; the server
// logs the binding with the real IPv6 client. A gateway puts the
// datagrams on the wire instead (Send, Receive) and translates what
// Deliver hands back.
func ExampleClient() {
	n := netip.MustParseAddr("192.0.2.1") // the NAT64's IPv4 address
	s := netip.MustParseAddr("192.0.2.2") // the server
	pool6, _ := translate.ParsePrefix("64:ff9b::/96")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

	server, _ := handoff.NewServer(handoff.ServerConfig{Addr: s,
		OnEvent: func(e handoff.Event) { fmt.Print(string(e.AppendLogLine(nil))) }})
	var toServer [][]byte
	client, _ := handoff.NewClient(handoff.ClientConfig{
		NAT64: n, Pool6: pool6, Servers: []netip.Addr{s},
		Send:    func(pkt []byte) { toServer = append(toServer, pkt) },
		Deliver: func(pkt []byte, to4 bool) { fmt.Printf("deliver a %d-octet packet\n", len(pkt)) },
		Now:     func() time.Time { return now },
	})

	c := netip.MustParseAddrPort("[2001:db8:1::2]:53186")
	_, claim := client.Out(s, c, false)
	fmt.Println("first packet: await", claim == nat64.Await)

	// The network: IPv4/UDP from N:1024 to S:64646 and back.
	for len(toServer) > 0 {
		pkt := toServer[0]
		toServer = toServer[1:]
		udp := pkt[20:]
		for _, reply := range server.Handle(now, netip.AddrPortFrom(n, 1024), udp[8:], nil) {
			client.Receive(udp4(s, 64646, n, 1024, reply))
		}
	}
	port, claim := client.Out(s, c, false)
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
