package checksum

import "net/netip"

// PseudoHeader4 returns the sum of the IPv4 pseudo-header used by TCP and UDP
// (RFC 793 §3.1, RFC 768): source, destination, a zero byte, the protocol
// and the upper-layer length. src and dst must be IPv4 addresses.
func PseudoHeader4(src, dst netip.Addr, proto uint8, length uint16) uint16 {
	return pseudo(Combine(AddrSum(src), AddrSum(dst)), proto, uint32(length))
}

// PseudoHeader6 returns the sum of the IPv6 pseudo-header (RFC 8200 §8.1):
// source, destination, the 32-bit upper-layer length, three zero bytes and
// the next header. TCP, UDP and ICMPv6 (RFC 4443 §2.3, next header 58) use
// it. src and dst must be IPv6 addresses.
func PseudoHeader6(src, dst netip.Addr, nextHeader uint8, length uint32) uint16 {
	return pseudo(Combine(AddrSum(src), AddrSum(dst)), nextHeader, length)
}

// PseudoHeaderBytes is PseudoHeader4 or PseudoHeader6 on addresses that are
// already in a packet: src and dst are 4 or 16 bytes each.
func PseudoHeaderBytes(src, dst []byte, proto uint8, length uint32) uint16 {
	return pseudo(Combine(Checksum(src, 0), Checksum(dst, 0)), proto, length)
}

// pseudo adds the protocol and length words. Both families contribute the
// same sum for them ([0,proto] + length), which is why a translator only
// needs to account for the address change (RFC 7915 §4.5, §5.5).
func pseudo(addrs uint16, proto uint8, length uint32) uint16 {
	s := Combine(addrs, uint16(proto))
	s = Combine(s, uint16(length>>16))
	return Combine(s, uint16(length))
}
