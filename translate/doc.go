// Package translate is the stateless IP/ICMP translation engine of RFC 7915
// with the RFC 6052 address format. It rewrites IPv6 packets as IPv4 and
// back, in place, and has no address policy of its own: a [Policy] (the siit
// and nat64 packages, or the plain [PrefixPolicy]) supplies addresses and
// ports, and the engine does every header, checksum, ICMP, fragment and MTU
// rule.
//
// What it implements:
//
//   - RFC 6052 §2: [Prefix], the /32 /40 /48 /56 /64 /96 layouts with the
//     u octet, §3.1's restriction on the well-known prefix ([Prefix.Permits]),
//     §4.1 checksum neutrality; RFC 8215's local-use block.
//   - RFC 7915 §4 (IPv4 to IPv6, [Translator.To6]): every header field, TTL
//     decrement and Time Exceeded, options ignored but unexpired source routes
//     refused, Fragment header generation, DF-clear packets fragmented to the
//     lowest IPv6 MTU ([SplitIPv6]), Fragmentation Needed when DF is set and
//     the IPv6 link is too small, ICMPv4 type/code and pointer tables, PTB MTU
//     (±20, 1280 floor, plateaus for MTU 0), UDP checksum 0 (amend or refuse).
//   - RFC 7915 §5 (IPv6 to IPv4, [Translator.To4]): extension headers skipped
//     (Routing with Segments Left ≠ 0 refused with Parameter Problem),
//     Fragment header consumed, DF above 1260 bytes, Packet Too Big when the
//     IPv4 link is too small, ICMPv6 tables.
//   - §4.3 and §5.3: the packet quoted in an ICMP error goes through the same
//     header code as an outer packet, keeps its TTL, and an error inside an
//     error is dropped; RFC 4884 extensions are re-padded for the new length
//     unit, and errors are truncated to 1280 (IPv6) or 576 (IPv4) bytes.
//   - §4.4 and §5.4: ICMP errors the translator originates, from its own
//     addresses, rate limited with a token bucket, for every packet it
//     refuses, those whose addresses have no translation included
//     ([Config.SilentUntranslatable] turns those off).
//   - §1.4, §4.1, §5.1 with RFC 1812 §5.3.7, RFC 3927 §7 and RFC 4291 §2.5:
//     as a router, no packet from or to an address that must not be
//     forwarded (addrclass.go); an illegal source inside an ICMP error is
//     translated, for troubleshooting. IPv4 Protocol values that mean an
//     IPv6 extension header are answered with Protocol Unreachable instead
//     of being copied.
//   - RFC 6864 §4 and RFC 7739 §5: IPv4 Identifications from per-flow
//     counters at random offsets (ipid.go).
//   - The translator's own IPv6 address answers Echo Requests and is never
//     a translation's destination.
//   - Transport checksums are updated incrementally (RFC 1624), so a wrong
//     checksum stays wrong; ICMP errors, whose body changes, are verified
//     and recomputed.
//   - Beyond RFC 7915, as middleboxes do for links that swallow ICMP errors:
//     a TCP SYN's MSS option (RFC 9293 §3.7.1) is lowered to what the link
//     the answers leave on carries once translated ([Config.MSSClamp], on
//     by default).
//
// # Buffers and verdicts
//
// The caller owns the buffers. A packet lies at buf[off:off+n]; the result
// lies within the same buf ([Result.Start], [Result.End]). IPv4 to IPv6
// grows a packet, so leave [Headroom] bytes in front of it. Every packet gets
// a [Verdict]: Forward, Fragment (forward after [SplitIPv6] or [SplitIPv4]),
// Reply (an ICMP error to send back) or Drop, with a [Reason] that is
// counted in [Stats]. Nothing on these paths allocates; [Translator.AppendTo4]
// and [Translator.AppendTo6] are the copying variants.
//
// # The plain path
//
// Most traffic is TCP or UDP without extension headers or IPv4 options,
// unfragmented, not expiring and small enough for the other side. Such a
// packet is translated in one pass over words read once (plain.go), and
// everything else by the general path, which walks headers and keeps
// flow records. The plain path decides before it writes anything or asks
// the policy, so a packet is never half taken; a differential test holds
// the two to the same bytes and results over randomised packets and
// configurations.
package translate
