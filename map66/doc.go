// Package map66 maps IPv6 prefixes one to one without state and without
// touching transport checksums: NPTv6 (RFC 6296) and the MAP66 netfilter
// target community mesh networks used before it.
//
// A [Rule] pairs an internal prefix (often a ULA) with an external one.
// [Mapper.Outbound] rewrites the source of packets leaving the site,
// [Mapper.Inbound] the destination of packets entering it, in place and
// without allocating.
//
//   - Up to /64 (RFC 6296): the rewritten prefix is followed by a
//     one's-complement adjustment in one 16-bit word, chosen as §3.4 and
//     §3.5 say (word 3 for /48 and shorter, else the first interface-ID word
//     that is not 0xFFFF), so the address's sum, and with it every TCP, UDP
//     and ICMPv6 checksum, stays the same. A result of 0xFFFF is written as
//     0 (§3.2). Subnet 0xFFFF under a /48 and the all-ones interface ID are
//     refused (§3.2, §3.7); the all-zeros ID only with
//     Options.RefuseZeroIID, as FreeBSD does.
//   - /65 to /112 (MAP66 and beyond): the adjustment goes in the first whole
//     word after the prefix; lengths need not be multiples of 16, partial
//     words are masked.
//   - /113 to /128 (down to one address to one address): no whole word is
//     left, so the mapping is not neutral and the transport checksum is
//     updated incrementally instead (RFC 1624).
//   - The address inside an ICMPv6 error's quoted packet is mapped too (the
//     destination on the way out, the source on the way in), as Linux,
//     FreeBSD and draft-bctb-6man-rfc6296-bis do, so errors from beyond the
//     mapper reach the internal host.
//   - Several rules at once, the longest prefix winning; hairpinning (§4.3);
//     and MAP66's check that leaves the interface's own addresses alone
//     (Options.Local).
//
// [Mapper.OutboundBatch] and [Mapper.InboundBatch] take a burst of packets
// per call, as a TUN reader gets them. With one rule of /48 or shorter and
// no interface address under its prefix, the common site, they map TCP and
// UDP packets in a first loop with no calls in it, and leave the rest to
// Outbound and Inbound: the same bytes and reasons, at about a third of
// the cost per packet.
package map66
