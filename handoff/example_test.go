package handoff_test

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/wire"
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
