package checksum

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/internal/ipword"
)

// Combine returns the one's-complement sum of a and b.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// Sub returns a - b in one's-complement arithmetic: subtraction with
// end-around borrow (RFC 1624 §5, eqn. 4). It differs from Combine(a, ^b)
// only in which zero it returns: Sub(x, x) is +0, Combine(x, ^x) is -0.
func Sub(a, b uint16) uint16 {
	d := a - b
	if a < b {
		d-- // end-around borrow
	}
	return d
}

// Adjust returns the new value of a stored checksum field after data whose
// words summed to oldSum was replaced by data summing to newSum.
//
// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Unlike RFC 1141's eqn. 2 it never
// turns a correct +0 into -0 (RFC 1624 §3).
func Adjust(field, oldSum, newSum uint16) uint16 {
	return ^Combine(Combine(^field, ^oldSum), newSum)
}

// Update16 returns the new checksum field after one 16-bit word changed from
// old to new.
func Update16(field, old, new uint16) uint16 {
	return Adjust(field, old, new)
}

// Update32 returns the new checksum field after an aligned 32-bit value
// changed from old to new.
func Update32(field uint16, old, new uint32) uint16 {
	return Adjust(field, Combine(uint16(old>>16), uint16(old)), Combine(uint16(new>>16), uint16(new)))
}

// UpdateBytes returns the new checksum field after the bytes old were
// replaced by new. Both must start at an even offset of the checksummed data;
// they may differ in length (an IPv4 address replaced by an IPv6 one, as a
// translator's pseudo-header does).
func UpdateBytes(field uint16, old, new []byte) uint16 {
	return Adjust(field, Checksum(old, 0), Checksum(new, 0))
}

// UpdateAddr returns the new checksum field after address old was replaced by
// new in data covered by the checksum (a pseudo-header, or an ICMPv6 body).
// The addresses may be of different families.
func UpdateAddr(field uint16, old, new netip.Addr) uint16 {
	return Adjust(field, AddrSum(old), AddrSum(new))
}

// AddrSum returns the one's-complement sum of the words of a (4 or 16 bytes;
// 0 for the zero Addr).
func AddrSum(a netip.Addr) uint16 {
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:])
		return Combine(uint16(v>>16), uint16(v))
	}
	if a.Is6() {
		return WordSum(ipword.Words(a))
	}
	return 0
}

// WordSum returns the one's-complement sum of the 16-bit words of hi and
// lo: AddrSum of an IPv6 address given as its two big-endian 64-bit words,
// without AddrSum's look at the family, so that it inlines on a datapath.
func WordSum(hi, lo uint64) uint16 {
	// Four 32-bit halves add up below 2^34; two folds leave at most
	// 0x10003, and the last one's end-around carry cannot carry again.
	s := hi>>32 + hi&0xffffffff + lo>>32 + lo&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s + s>>16)
}
