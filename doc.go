// Package xlat is a toolkit for IPv6/IPv4 address-family translation: the
// primitives of NAT64, SIIT and NPTv6 gateways as importable Go packages, and
// thin binaries built from them.
//
// The packages, from the bottom up (each imports only those above it):
//
//   - [github.com/v6xlat/xlat/checksum]: the Internet checksum (RFC 1071),
//     incremental updates (RFC 1624), pseudo-headers and checksum-neutral
//     adjustment (RFC 6052 §4.1, RFC 6296 §3).
//   - [github.com/v6xlat/xlat/header]: byte-slice views of the IPv4, IPv6,
//     Fragment, TCP, UDP and ICMP headers the others read and write.
//   - [github.com/v6xlat/xlat/translate]: RFC 6052 prefixes and the RFC 7915
//     engine that rewrites IPv6 packets as IPv4 and back, ICMP included. It has
//     no address policy of its own.
//   - [github.com/v6xlat/xlat/map66]: NPTv6 and MAP66 prefix mapping (RFC
//     6296), checksum neutral; it needs checksum and header, not translate.
//   - [github.com/v6xlat/xlat/siit]: the stateless policy (RFC 7757 EAMT,
//     RFC 6791, hairpinning; SIIT-DC, NAT46 and CLAT setups).
//   - [github.com/v6xlat/xlat/nat64]: the stateful policy (RFC 6146): pool4,
//     BIB, sessions, the TCP state machine, timers, limits, session sync,
//     and the Broker hook through which another party may choose a flow's
//     port.
//   - [github.com/v6xlat/xlat/handoff]: what both ends of the NAT64
//     handoff protocol share: tunables, token and cookie.
//   - [github.com/v6xlat/xlat/handoff/wire]: its wire format alone, with no
//     state and no I/O.
//   - [github.com/v6xlat/xlat/handoff/server]: the server's tables, store
//     and connection log.
//   - [github.com/v6xlat/xlat/handoff/client]: the NAT64 side's client, a
//     nat64.Broker; it imports nothing of the server.
//
// The binaries under cmd/ are xlatgw (siit and nat64 instances on a TUN
// device and AF_XDP, with handoff clients and session sync), map66d (map66
// on a TUN device) and handoffd (the handoff server). They are thin: the
// gateway itself is internal/gateway (its datapath beside internal/afxdp
// and internal/fib), Jool's configuration import internal/jool and
// offline capture translation internal/pcapxlat; map66d and xlatgw share
// the TUN loop (internal/tunbatch) and the watchdog and SIGHUP loops
// (internal/loopwatch).
//
// Packages hold no global state, allocate nothing per packet, and take and
// return net/netip values.
package xlat
