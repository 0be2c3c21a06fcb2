package nat64

import (
	"net/netip"

	"github.com/v6xlat/xlat/translate"
)

// Claim is a Broker's answer for a flow: whether it owns the flow's port,
// and what to do with the packet.
type Claim uint8

const (
	// NotClaimed: the flow is the NAT64's own (RFC 6146, its BIB).
	NotClaimed Claim = iota
	// Claimed: translate with the port the Broker returned.
	Claimed
	// Await: the Broker is asking for the port; the packet goes to Park
	// and comes back through the Translator when the answer is in (or
	// is dropped).
	Await
	// Refused: drop the packet.
	Refused
)

// The refusal reasons of a Broker's flows, registered with the engine.
var (
	// ReasonAwaiting: the packet is kept (Park) while the Broker asks for
	// the flow's port.
	ReasonAwaiting = translate.NewReason("awaiting-port")
	// ReasonPortRefused: the Broker refused the flow a port (a handoff
	// client: rate limit, hold-down, no server).
	ReasonPortRefused = translate.NewReason("port-refused")
)

// Broker takes the choice of IPv4 ports away from the BIB for the servers
// it claims, such as a handoff/1 client (handoff/client's Client
// implements it), which asks the IPv4 server itself and may need a round
// trip to answer. nat64 knows the hook, not the protocol behind it.
//
// Where an Allocator lends ports to the BIB synchronously, a Broker keeps
// its own per-server mapping (docs/handoff-protocol.md §8.2: towards a handoff server,
// mapping and filtering depend on the server address) and may answer
// Await: the packet is then handed to Park, and the broker delivers it
// again once the answer is in, when it translates as a hit.
//
// Its methods run on the datapath, concurrently.
type Broker interface {
	// Addr is the pool4 address N the broker's ports belong to.
	Addr() netip.Addr
	// Out maps an outbound flow from client to server: the port on N, or
	// NotClaimed (the BIB decides), Await, Refused. peek (a packet quoted
	// in an ICMP error) only reads.
	Out(server netip.Addr, client netip.AddrPort, peek bool) (uint16, Claim)
	// In maps an inbound flow from server to port on N.
	In(server netip.Addr, port uint16, peek bool) (netip.AddrPort, Claim)
	// ReservedPorts are the ports of N (first to last) that no binding
	// of the BIB may take: the broker's own exchange with its servers.
	// first > last reserves none.
	ReservedPorts() (first, last uint16)
	// Park keeps a packet that drew Await (copied); to4 says it is the
	// IPv6 original.
	Park(pkt []byte, to4 bool)
	// SessionCreated is told of every session the BIB creates from client
	// towards server on port t of N (RFC 6146 processing), for the
	// notifications a handoff client sends (docs/handoff-protocol.md §8.4).
	SessionCreated(server netip.Addr, client netip.AddrPort, t uint16)
}
