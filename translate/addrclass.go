package translate

import (
	"net/netip"

	"github.com/v6xlat/xlat/internal/ipword"
)

// Address classes a translator, being a router (RFC 7915 §1.4), must not
// forward or has no translation for. A packet whose own source is in one
// is dropped silently (RFC 7915 §4.1 and §5.1, RFC 1812 §5.3.7); one whose
// destination is, or whose translation would put an address in one, is
// refused. Quoted packets inside ICMP errors are exempt: RFC 7915 §4.1
// translates an illegal source there, for troubleshooting.

// forbidden4 reports whether the IPv4 address a (as a word) is in
// 0.0.0.0/8 ("this network", RFC 1122 §3.2.1.3: never forwarded),
// 127.0.0.0/8 (loopback, RFC 1812 §5.3.7), 169.254.0.0/16 (link-local,
// RFC 3927 §7: a router MUST NOT forward it), 224.0.0.0/4 (multicast,
// which a unicast translator does not carry) or 240.0.0.0/4 (reserved,
// RFC 1812 §5.3.7; it holds the limited broadcast 255.255.255.255, RFC
// 1812 §5.3.5.1).
func forbidden4(a uint32) bool {
	return a>>24 == 0 || a>>24 == 127 || a>>16 == 0xa9fe || a >= 0xe0000000
}

// forbidden6 reports whether the IPv6 address hi:lo is the unspecified
// address, the loopback address (RFC 4291 §2.5.2, §2.5.3: never
// forwarded), link-local fe80::/10 (RFC 4291 §2.5.6: routers must not
// forward) or multicast ff00::/8.
func forbidden6(hi, lo uint64) bool {
	return hi == 0 && lo <= 1 || hi>>54 == 0x3fa || hi>>56 == 0xff
}

// forbidden reports forbidden4 or forbidden6 for a.
func forbidden(a netip.Addr) bool {
	if a.Is4() {
		_, lo := ipword.Words(a)
		return forbidden4(uint32(lo))
	}
	return forbidden6(ipword.Words(a))
}

// screenIn classifies a packet's own addresses before translation: an
// illegal source is dropped (not for an ICMP error, whose source the RFC
// 6791 pool stands in for when it has no translation), a forbidden
// destination too, and an IPv6 packet addressed to the translator's own
// IPv6 address is its to answer (ReasonOwnAddress): translated, it would
// go to the translator's IPv4 address or wherever pool6 maps it, and
// where that routes back into the translator, round and round. The own
// IPv4 address is no such case: a NAT64 commonly has it in pool4, and
// IPv6 hosts reach it through pool6 like any other.
func screenIn(c *compiled, src, dst netip.Addr, isErr bool) Reason {
	switch {
	case dst == c.Addr6:
		return ReasonOwnAddress
	case forbidden(dst):
		return ReasonIllegalDestination
	case !isErr && forbidden(src):
		return ReasonIllegalSource
	}
	return ReasonNone
}

// screenOut checks the addresses a policy gave: a translation into a
// forbidden class, or onto the translator's own IPv6 address (which
// screenIn would refuse on the way back), is refused.
func screenOut(c *compiled, src, dst netip.Addr) Reason {
	switch {
	case dst == c.Addr6:
		return ReasonOwnAddress
	case forbidden(dst):
		return ReasonIllegalDestination
	case forbidden(src):
		return ReasonIllegalSource
	}
	return ReasonNone
}

// screenOut4 is screenOut for IPv4 addresses as words (the plain path).
func screenOut4(src, dst uint32) Reason {
	switch {
	case forbidden4(dst):
		return ReasonIllegalDestination
	case forbidden4(src):
		return ReasonIllegalSource
	}
	return ReasonNone
}

// screenOut6 is screenOut for IPv6 addresses as words (the plain path).
func screenOut6(c *compiled, shi, slo, dhi, dlo uint64) Reason {
	switch {
	case c.own6 && dhi == c.own6hi && dlo == c.own6lo:
		return ReasonOwnAddress
	case forbidden6(dhi, dlo):
		return ReasonIllegalDestination
	case forbidden6(shi, slo):
		return ReasonIllegalSource
	}
	return ReasonNone
}

// ipv6Only reports whether the IPv4 Protocol value p names what only
// IPv6 has: an extension header (Hop-by-Hop 0, Routing 43, Fragment 44,
// Destination Options 60, Mobility 135, HIP 139, Shim6 140; RFC 7045 §2),
// No Next Header 59, or ICMPv6 58.
func ipv6Only(p uint8) bool {
	switch p {
	case 0, 43, 44, 58, 59, 60, 135, 139, 140:
		return true
	}
	return false
}
