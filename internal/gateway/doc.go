// Package gateway is xlatgw's gateway: siit and nat64 instances chosen per
// packet by the configuration's rules, on a TUN device and, with
// "af-xdp", an AF_XDP datapath beside it; their handoff clients, session
// sync and mapping log; reloads that keep every session. It has no
// sockets of its own beyond the datapath's: the binary serves the admin
// API and the metrics from what Gateway reports.
//
// Build checks a Config and builds its instances into a Setup; Open sets
// the datapath up (in the data namespace, when the configuration names
// one); Serve runs its loops, one goroutine per TUN queue and per AF_XDP
// queue group, until its context ends; Reload swaps a new Setup in, all
// or nothing. A packet is decoded once (translatePacket): the instance
// picker maps its destination and hands the mapping to the translator
// with the packet (translate.MappedPolicy), so an EAMT is searched once a
// packet.
//
// The fast path decides as the kernel would: the XDP programs take a
// frame only where the kernel's own lookup routes it into the TUN device
// (internal/afxdp), and a translated packet leaves by the next hop the
// kernel's lookup names (internal/fib), or through the TUN device to the
// kernel. RFC 4443 §3.1 and RFC 1812 §5.2.7.1: what no instance claims
// is answered as a router without a route answers it.
package gateway
