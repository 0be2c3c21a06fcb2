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
//   - siit, nat64: stateless (RFC 7757 EAMT, RFC 6791) and stateful
//     (RFC 6146) address policies that plug into translate.
//   - map66: NPTv6 checksum-neutral prefix mapping (RFC 6296).
//   - handoff: the NAT64 handoff protocol.
//
// The binaries under cmd/ (xlatgw, map66d, handoffd) combine these with TUN
// I/O. Packages hold no global state, allocate nothing per packet, and take
// and return net/netip values.
package xlat
