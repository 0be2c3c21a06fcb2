package server_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/handoff/server"
	"github.com/v6xlat/xlat/handoff/wire"
)

// A NAT64's first request is challenged (§6): the server keeps no state
// for a source it has not heard from at that address. The same request
// with the challenge's cookie gets a port, and the binding is logged
// with the real IPv6 client. handoffd does the same over UDP.
func Example() {
	nat64 := netip.MustParseAddrPort("192.0.2.1:1024") // the NAT64's control port
	srv, err := server.New(server.Config{Addr: netip.MustParseAddr("192.0.2.2"),
		OnEvent: func(e server.Event) { fmt.Println("log:", e.Kind) }})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	req := wire.Datagram{
		Session:  wire.Session{Version: wire.ProtocolVersion, NAT64Epoch: 1, Token: 7},
		Messages: []wire.Message{&wire.MapRequest{Proto: 6, Client: netip.MustParseAddrPort("[2001:db8:1::2]:53186")}},
	}
	for range 2 {
		replies := srv.Handle(now, nat64, req.Append(nil), nil)
		answer, err := wire.Parse(replies[0])
		if err != nil {
			fmt.Println(err)
			return
		}
		if answer.Session.Flags&wire.FlagChallenge != 0 {
			fmt.Println("challenged")
			req.Session.Cookie = answer.Session.Cookie
			continue
		}
		m := answer.Messages[0].(*wire.Map)
		fmt.Println("new binding:", m.Status == wire.StatusNew, "port in 1028-65535:", m.Port >= 1028)
	}
	// Output:
	// challenged
	// log: Initialized
	// log: Created
	// new binding: true port in 1028-65535: true
}
