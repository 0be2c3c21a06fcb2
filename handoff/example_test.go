package handoff_test

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/handoff"
)

// A NAT64 announces a binding it already uses, and the server parses it.
func Example() {
	var kn [32]byte // the NAT64's secret; random in practice
	server := netip.MustParseAddr("192.0.2.2")
	epoch := uint64(0x5d3c9a1be04f7726)

	d := handoff.Datagram{
		Session: handoff.Session{
			Version:    handoff.ProtocolVersion,
			NAT64Epoch: epoch,
			Token:      handoff.Token(kn, server, handoff.DefaultServerPort, epoch),
		},
		Messages: []handoff.Message{&handoff.MapRequest{
			Flags:  handoff.FlagAdopt,
			Proto:  6,
			Port:   3719,
			Client: netip.MustParseAddrPort("[2001:db8:1::2]:53186"),
		}},
	}
	wire := d.Append(nil)

	got, err := handoff.Parse(wire)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := got.Messages[0].(*handoff.MapRequest)
	fmt.Printf("%d octets: adopt port %d for %v\n", len(wire), req.Port, req.Client)
	// Output: 64 octets: adopt port 3719 for [2001:db8:1::2]:53186
}
