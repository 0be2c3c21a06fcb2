// Package client is the NAT64's side of handoff/1
// (docs/handoff-protocol.md §8): it asks the IPv4 servers a NAT64 talks to
// which port each IPv6 client gets, and caches their answers.
//
// A Client keeps per-server peer states (UNKNOWN, PROBING, CAPABLE,
// UNREACHABLE, NOT_CAPABLE) and caches (client.go, peer.go), sends
// MAP_REQUEST and LOOKUP on misses with retransmission (200 ms doubling,
// four transmissions) and answers challenges (tick.go, receive.go), falls
// back to local ports that are adopted later when a server falls silent,
// announces sessions the NAT64 created itself to servers not yet CAPABLE,
// reports activity (REFRESH), follows a server's lost table (a new
// table_epoch) by re-adopting, and keeps the capability state file.
//
// It does no I/O: the gateway feeds it packets and control datagrams and
// gets datagrams to send and packets to translate back through callbacks.
// The nat64 package consults it as a nat64.Broker; cmd/xlatgw wires it to
// its datapath. The client holds packets while it asks rather than
// carrying them in the request (§5.5 makes carrying optional); it checks
// echoes a server sends all the same. It imports nothing of the server.
package client
