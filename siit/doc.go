// Package siit is a stateless IP/ICMP translator (SIIT): the address policy
// of RFC 7915 §6 on top of the translate engine.
//
//   - pool6: the RFC 6052 prefix that represents IPv4 addresses in IPv6 and
//     IPv4-translatable IPv6 addresses in IPv4; optional when the EAMT
//     covers all traffic. Its IPv4 side refuses denylist4 and the addresses
//     RFC 7915 §4.1/§5.1 call illegal (0/8, 127/8, multicast, broadcast),
//     and, for 64:ff9b::/96, non-global addresses (RFC 6052 §3.1).
//   - EAMT (RFC 7757): explicit IPv4-prefix to IPv6-prefix mappings with
//     longest-prefix match in both directions ([EAMT]), suffix copy (§3.3),
//     and refusal of ambiguous entries (§3.2, §5), with errors that name the
//     entry.
//   - RFC 6791: the source of an ICMP error whose original source has no
//     form in the other family comes from a configured pool (rfc6791v4-prefix,
//     rfc6791v6-prefix) or, unset, the translator's own address.
//   - Hairpinning (RFC 7757 §4.2): off, simple (§4.2.1) or intrinsic
//     (§4.2.2, the default, as in Jool), with the hop limit decremented once.
//
// The deployments it serves: SIIT for data centres (RFC 7755: IPv6-only
// servers published to IPv4 through EAM entries, which is also NAT46 for
// IPv4 clients), plain RFC 6052 SIIT, and the customer side of 464XLAT
// ([CLAT], RFC 6877).
//
// [Config] reads Jool's JSON names (pool6, eamt, denylist4,
// rfc6791v4-prefix, eam-hairpin-mode, lowest-ipv6-mtu, ...), strictly: an
// unknown field is an error that names it. [Translator.Update] swaps the
// whole configuration atomically while packets flow.
package siit
