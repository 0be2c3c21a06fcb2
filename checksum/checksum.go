package checksum

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the RFC 1071 one's-complement sum of b, added to initial.
//
// The result is a sum, not a header field: the field value is its
// complement. initial lets a caller chain pieces (a pseudo-header sum, then
// the payload) as long as every piece but the last has even length; RFC 1071
// §2(A) requires each byte to keep its even/odd position.
func Checksum(b []byte, initial uint16) uint16 {
	return Combine(fold(sum(b)), initial)
}

// Verify reports whether b, which includes its stored checksum field, sums to
// 0xFFFF together with initial (a pseudo-header sum, or 0). Both encodings of
// a zero checksum are accepted (RFC 1624 §5).
func Verify(b []byte, initial uint16) bool {
	return Checksum(b, initial) == 0xffff
}

// sumGeneric is the portable summing loop. It adds b as little-endian 64-bit
// words with end-around carry. Summing byte-swapped words gives the
// byte-swapped sum (RFC 1071 §2(B)), so fold undoes the swap once at the end;
// little-endian loads are plain loads on amd64 and arm64 and correct (if
// slower) on big-endian machines.
func sumGeneric(b []byte) uint64 {
	var acc, c uint64
	for len(b) >= 64 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:64]), c)
		b = b[64:]
	}
	// The tail (and short packets such as a 20-byte IPv4 header) as straight
	// code rather than a loop, which would spill the carry every iteration.
	if len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	if len(b) >= 16 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		b = b[16:]
	}
	if len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// An odd trailing byte is the high byte of a word padded with zero
		// (RFC 1071 §1); in little-endian order that is the low byte.
		acc, c = bits.Add64(acc, uint64(b[0]), c)
	}
	acc, c = bits.Add64(acc, c, 0)
	return acc + c
}

// fold reduces a little-endian 64-bit partial sum to a 16-bit sum in network
// byte order.
func fold(s uint64) uint16 {
	// Fold 64 -> 32 and 32 -> 16 bits with end-around carry.
	lo, c := bits.Add32(uint32(s), uint32(s>>32), 0)
	lo += c
	h, c16 := bits.Add32(lo&0xffff, lo>>16, 0)
	h += c16
	h = (h & 0xffff) + (h >> 16)
	return bits.ReverseBytes16(uint16(h))
}

// UDPField returns the value to store in a UDP checksum field for a computed
// or updated field value f: a computed 0x0000 is transmitted as 0xFFFF,
// because a stored zero means "no checksum" in IPv4 (RFC 768) and is invalid
// in IPv6 (RFC 8200 §8.1).
func UDPField(f uint16) uint16 {
	if f == 0 {
		return 0xffff
	}
	return f
}
