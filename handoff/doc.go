// Package handoff holds what both ends of handoff/1 share: the protocol's
// shared tunables (§11: ports, slots, limits of a datagram) and the token
// and cookie of its handshake (§6). Each party's own tunables are in its
// package.
//
// handoff/1 is the protocol with which a NAT64 hands the connection
// tracking of its flows to the IPv4 server they reach (its reference:
// docs/handoff-protocol.md in this module, whose sections the § numbers
// in these packages cite). The server keeps the authoritative table of
// which IPv6 client uses which port of the NAT64's address, logs every
// binding created and deleted, and hands the same port out again after a
// NAT64 restart, so connections survive it; the NAT64 only caches.
//
// handoff/1 is this project's own protocol in the spirit of Kasper
// Dupont's NAT64 handoff proposal (draft-dupont-6man-nat64handoff-00); it
// is not wire-compatible with Dupont's implementation.
//
// One package per party, so that each user imports only its own:
//
//   - [github.com/v6xlat/xlat/handoff/wire]: every message of §5 and the
//     framing of §4, with no state and no I/O; all a dissector, a fuzzer
//     or a test peer needs.
//   - [github.com/v6xlat/xlat/handoff/server]: the server's per-NAT64
//     tables, datagram handling, persistence and connection log (§6, §7,
//     §9). cmd/handoffd puts it on a UDP socket.
//   - [github.com/v6xlat/xlat/handoff/client]: the NAT64's side (§8), which
//     the nat64 package consults as a nat64.Broker. cmd/xlatgw wires it to
//     its datapath.
//   - this package: constants.go, the tunables of §11 both ends use;
//     handshake.go, the token and cookie of §6 (the first 8 octets of
//     HMAC-SHA256 over a label, an IPv4 address, a port and an epoch,
//     never 0); generation.go, the serial arithmetic both ends compare
//     binding generations in.
package handoff
