// Package server is the handoff/1 server (docs/handoff-protocol.md §6, §7,
// §9): the authority on which IPv6 client uses which port of a NAT64's
// IPv4 address.
//
//   - Table (table.go, index.go): one NAT64's slots 1028-65535, a
//     client↔port bijection with a table-wide and a per-prefix LRU list
//     (intrusive, O(1)), the prefix quota, the creation bucket, adoption
//     and RFC 1982 generations; a free slot is chosen at random (or the
//     lowest in test mode). 121 bytes per binding.
//   - Server (server.go): admission (§7.1), cookies under a key rotated
//     daily, challenges rate-limited per /24 and globally, TABLE_LIMIT,
//     the version answer, replies packed within 1472 octets with echoed
//     packets. It has no sockets of its own: Handle takes a datagram and
//     returns the replies.
//   - Store (store.go): persistence of §7.4, a snapshot plus a CRC-checked
//     journal synced before the replies that report its records; a torn
//     tail is cut off, other damage refused (ErrDamaged) unless Repair.
//   - ConnLog and Event.AppendLogLine (log.go): the three §9 lines, UTC
//     with microseconds, timestamps never decreasing.
//
// cmd/handoffd puts a Server, a Store and a ConnLog on a UDP socket. The
// package imports nothing of the NAT64 side.
package server
