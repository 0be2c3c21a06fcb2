// Package ipword converts netip.Addr values to and from two 64-bit words
// without going through [16]byte.
//
// netip.Addr.As16 and netip.AddrFrom16 are correct but, on amd64, copy their
// array with one 16-byte move right after two 8-byte stores: the load cannot
// be forwarded from the stores and stalls for about 20 cycles, several times
// per translated packet. netip.Addr keeps the address as two uint64 words
// (big-endian halves) in its first 16 bytes; this package reads and writes
// them directly. The layout is checked once at start-up against the public
// API, and everything falls back to As16/AddrFrom16 if it ever differs.
package ipword

import (
	"encoding/binary"
	"net/netip"
	"unsafe"
)

// direct is true when netip.Addr starts with the two words, as in every Go
// release since netip was added.
var direct = layoutMatches()

func layoutMatches() bool {
	if unsafe.Sizeof(netip.Addr{}) < 16 {
		return false
	}
	a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	p := (*[2]uint64)(unsafe.Pointer(&a))
	if p[0] != 0x20010db801020304 || p[1] != 0x05060708090a0b0c {
		return false
	}
	b := netip.IPv6Unspecified()
	q := (*[2]uint64)(unsafe.Pointer(&b))
	q[0], q[1] = p[0], p[1]
	return b == a && b.Is6() && !b.Is4In6()
}

// Words returns the high and low 64 bits of the IPv6 address a (for an IPv4
// Addr, of its IPv4-mapped form).
func Words(a netip.Addr) (hi, lo uint64) {
	if direct {
		p := (*[2]uint64)(unsafe.Pointer(&a))
		return p[0], p[1]
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// From6 returns the IPv6 address with the given high and low 64 bits.
func From6(hi, lo uint64) netip.Addr {
	if direct {
		a := netip.IPv6Unspecified()
		p := (*[2]uint64)(unsafe.Pointer(&a))
		p[0], p[1] = hi, lo
		return a
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// From4 returns the IPv4 address v.
func From4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Put6 writes the IPv6 address a into b[:16].
func Put6(b []byte, a netip.Addr) {
	hi, lo := Words(a)
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:16], lo)
}

// Get6 reads an IPv6 address from b[:16].
func Get6(b []byte) netip.Addr {
	// From6 spelt out: through it, Get6 would be too costly to inline.
	if direct {
		a := netip.IPv6Unspecified()
		p := (*[2]uint64)(unsafe.Pointer(&a))
		p[0], p[1] = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])
		return a
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}
