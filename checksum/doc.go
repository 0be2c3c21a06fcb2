// Package checksum implements the Internet checksum and the arithmetic that
// translators build on it.
//
// It covers:
//
//   - RFC 1071: the one's-complement sum of a byte slice ([Checksum]), with a
//     64-bit unrolled pure-Go loop and, on amd64 with AVX2, a vector path
//     chosen at run time.
//   - RFC 1624 eqn. 3: incremental updates of a stored checksum field when
//     16-bit words, 32-bit words or whole addresses change ([Update16],
//     [Update32], [UpdateBytes], [UpdateAddr], [Adjust]).
//   - RFC 768/793 and RFC 8200 §8.1: pseudo-header sums for IPv4 and IPv6
//     ([PseudoHeader4], [PseudoHeader6]); RFC 4443 §2.3 uses the IPv6 one for
//     ICMPv6.
//   - RFC 6052 §4.1 and RFC 6296 §3: checksum-neutral prefixes and the
//     adjustment word that keeps an address's sum unchanged ([IsNeutral],
//     [Adjustment], [ApplyAdjustment]).
//
// # Sums and fields
//
// Two kinds of 16-bit value appear here and are never mixed: a sum is the
// one's-complement sum of some words (what [Checksum] returns, the same
// convention as gVisor's checksum package); a field is what is stored in a
// header, the complement of a sum. To fill a checksum field, store
// ^Checksum(data, pseudoHeaderSum). To verify one, sum everything including
// the field and compare with 0xFFFF ([Verify]); that accepts both encodings
// of zero, as RFC 1624 §5 recommends.
//
// # Two zeros
//
// One's-complement arithmetic has +0 (0x0000) and -0 (0xFFFF). RFC 1624 §3
// shows that the older RFC 1141 update formula can produce 0xFFFF where a
// full recomputation produces 0x0000; every update here uses eqn. 3
// (HC' = ~(~HC + ~m + m')), which never does.
//
// UDP reserves a stored 0 for "no checksum" (RFC 768), and IPv6 forbids it
// (RFC 8200 §8.1), so a computed UDP checksum of 0x0000 must be sent as
// 0xFFFF: pass UDP fields through [UDPField] after computing or updating them.
// NPTv6 has the opposite rule for the address word it adjusts (RFC 6296
// §3.2: 0xFFFF is written as 0x0000), which [ApplyAdjustment] applies.
//
// Every function is allocation free.
package checksum
