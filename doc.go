// Package xlat is a toolkit for IPv6/IPv4 address-family translation: the
// primitives of NAT64, SIIT and NPTv6 gateways as importable Go packages, and
// thin binaries built from them.
//
// The packages, from the bottom up:
//
//   - [github.com/v6xlat/xlat/checksum]: the Internet checksum (RFC 1071),
//     incremental updates (RFC 1624), pseudo-headers and checksum-neutral
//     adjustment (RFC 6052 §4.1, RFC 6296 §3).
//   - [github.com/v6xlat/xlat/translate]: RFC 6052 prefixes and the RFC 7915
//     engine that rewrites IPv6 packets as IPv4 and back, ICMP included. It has
//     no address policy of its own.
//   - [github.com/v6xlat/xlat/header]: byte-slice views of the IPv4, IPv6,
//     Fragment, TCP, UDP and ICMP headers the others read and write.
//   - [github.com/v6xlat/xlat/siit]: the stateless policy (RFC 7757 EAMT,
//     RFC 6791, hairpinning; SIIT-DC, NAT46 and CLAT setups).
//   - [github.com/v6xlat/xlat/nat64]: the stateful policy (RFC 6146): pool4,
//     BIB, sessions, the TCP state machine, timers and limits.
//   - map66 (NPTv6, RFC 6296) and handoff (the NAT64 handoff protocol) are
//     to come, with the binaries under cmd/.
//
// Packages hold no global state, allocate nothing per packet, and take and
// return net/netip values.
package xlat
