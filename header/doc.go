// Package header provides views of Ethernet, IPv4, IPv6, IPv6 Fragment,
// TCP, UDP, ICMPv4 and ICMPv6 headers over byte slices.
//
// A view is a []byte that starts at the header; its methods read and write
// fields in place in network byte order. Views do no bounds checking of their
// own beyond what Go does: the caller checks the length once, at the door,
// against the Min*Size constants (or a parser such as [IPv4.Valid]), and the
// accessors are then branch-free loads and stores, in the style of gVisor's
// pkg/tcpip/header. Nothing here allocates.
//
// The offsets of the fields an XDP program reads are exported too
// (EthernetTypeOffset, IPv4DstOffset, IPv6DstOffset, ...), so that the
// program built from instructions and the Go code share one layout.
//
// Field layouts follow IEEE 802.3 with RFC 894 (Ethernet II), RFC 791 (IPv4), RFC 8200 (IPv6 and its Fragment
// header), RFC 9293 (TCP, and its option list: [TCP.MSSOffset] walks it
// with bounds checked, as options come from the wire), RFC 768 (UDP),
// RFC 792 (ICMPv4), RFC 4443 (ICMPv6) and RFC 4884 (the length attribute
// of ICMP errors).
package header
