// Package handoff implements handoff/1, the protocol with which a NAT64
// hands the connection tracking of its flows to the IPv4 server they reach
// (its reference: docs/handoff-protocol.md in this module, whose sections
// the § numbers in this package cite). The server
// keeps the authoritative table of which IPv6 client uses which port of
// the NAT64's address, logs every binding created and deleted, and hands
// the same port out again after a NAT64 restart, so connections survive
// it; the NAT64 only caches.
//
// handoff/1 is this project's own protocol in the spirit of Kasper
// Dupont's NAT64 handoff proposal (draft-dupont-6man-nat64handoff-00); it
// is not wire-compatible with Dupont's implementation.
//
// # Both ends
//
//   - package [github.com/v6xlat/xlat/handoff/wire]: every message of §5
//     and the framing of §4. wire.Parse walks a whole datagram and applies
//     the rules (drop the datagram, skip an unknown message, ignore a short
//     one, accept excess payload); wire.Datagram.Append encodes. A tool
//     that only reads or writes datagrams imports that package alone.
//   - constants.go: the tunables of §11, one file.
//   - handshake.go: the token and cookie of §6, the first 8 octets of
//     HMAC-SHA256 over a label, an IPv4 address, a port and an epoch,
//     never 0.
//
// # The server (§6, §7, §9)
//
//   - Table (table.go, index.go): one NAT64's slots 1028-65535, a
//     client↔port bijection with a table-wide and a per-prefix LRU list
//     (intrusive, O(1)), the prefix quota, the creation bucket, adoption
//     and RFC 1982 generations; a free slot is chosen at random (or the
//     lowest in test mode). 121 bytes per binding.
//   - Server (server.go): admission (§7.1), cookies under a key rotated
//     daily, challenges rate-limited per /24 and globally, TABLE_LIMIT,
//     the version answer, replies packed within 1472 octets with echoed
//     packets; no sockets of its own (Handle takes and returns
//     datagrams).
//   - Store (store.go): persistence of §7.4, a snapshot plus a CRC-checked
//     journal synced before the replies that report its records; a torn
//     tail is cut off, other damage refused (ErrDamaged) unless Repair.
//   - ConnLog and Event.AppendLogLine (log.go): the three §9 lines, UTC
//     with microseconds, timestamps never decreasing.
//
// cmd/handoffd puts a Server, a Store and a ConnLog on a UDP socket.
//
// # The NAT64 (§8)
//
// Client (client*.go) keeps per-server peer states (UNKNOWN, PROBING,
// CAPABLE, UNREACHABLE, NOT_CAPABLE) and caches, sends MAP_REQUEST and
// LOOKUP on misses with retransmission (200 ms doubling, four
// transmissions), answers challenges, falls back to local ports that are
// adopted later when a server falls silent, announces sessions the NAT64
// created itself to servers not yet CAPABLE, reports activity (REFRESH),
// follows a server's lost table (a new table_epoch) by re-adopting, and
// keeps the capability state file. It does no I/O: the gateway feeds it
// packets and control datagrams and gets datagrams to send and packets to
// translate back through callbacks. The nat64 package consults it as a
// nat64.Broker; cmd/xlatgw wires it to the TUN device. The client holds
// packets while it asks rather than carrying them in the request (§5.5
// makes carrying optional); it checks echoes a server sends all the same.
package handoff
