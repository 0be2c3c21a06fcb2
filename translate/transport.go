package translate

import (
	"encoding/binary"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
)

// The transport-header rewrites both directions share. Checksums change
// incrementally (RFC 1624), so a wrong checksum stays wrong.

// ports writes the policy's ports into a TCP or UDP header.
func ports(l4 []byte, f, out *flow) {
	if f.Flags&FlowNoPorts != 0 || len(l4) < 4 {
		return
	}
	binary.BigEndian.PutUint16(l4[0:], out.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], out.DstPort)
}

// portsDelta accounts for port changes in a transport checksum.
func portsDelta(cs uint16, f, out *flow) uint16 {
	return portsUpdate(cs, f.SrcPort, f.DstPort, out.SrcPort, out.DstPort)
}

// portsUpdate is portsDelta for ports (sp, dp) that became (nsp, ndp).
func portsUpdate(cs, sp, dp, nsp, ndp uint16) uint16 {
	if sp != nsp {
		cs = checksum.Update16(cs, sp, nsp)
	}
	if dp != ndp {
		cs = checksum.Update16(cs, dp, ndp)
	}
	return cs
}

// tcpTo rewrites a TCP header's ports and adjusts its checksum for the
// new addresses (oldAddr, newAddr: their sums) and ports. l4 may be
// truncated (a quoted packet).
func tcpTo(l4 []byte, oldAddr, newAddr uint16, f, out *flow) {
	ports(l4, f, out)
	if len(l4) >= header.TCPChecksumOffset+2 {
		cs := checksum.Adjust(binary.BigEndian.Uint16(l4[16:]), oldAddr, newAddr)
		binary.BigEndian.PutUint16(l4[16:], portsDelta(cs, f, out))
	}
}

// echoTo turns an echo request or reply into the other family's: type
// typ, identifier id, and the checksum adjusted, the pseudo-header sum
// leaving with oldPseudo (ICMPv6 -> ICMPv4) or arriving with newPseudo
// (ICMPv4 -> ICMPv6); the code is kept (RFC 7915 §4.2, §5.2).
func echoTo(l4 []byte, typ uint8, id, oldPseudo, newPseudo uint16) {
	oldTC, oldID := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[4:])
	// The new type-and-code word from values, not read back from l4: a
	// load overlapping the byte just stored stalls store forwarding.
	newTC := uint16(typ)<<8 | oldTC&0xff
	l4[0] = typ
	binary.BigEndian.PutUint16(l4[4:], id)
	cs := checksum.Adjust(binary.BigEndian.Uint16(l4[2:]),
		checksum.Combine(oldPseudo, checksum.Combine(oldTC, oldID)), checksum.Combine(newPseudo, checksum.Combine(newTC, id)))
	binary.BigEndian.PutUint16(l4[2:], cs)
}

// pseudoSum is the sum of an IPv6 pseudo-header (RFC 8200 §8.1) whose
// two addresses sum to addrs, for an upper-layer length ulen.
func pseudoSum(addrs uint16, proto uint8, ulen int) uint16 {
	return checksum.Combine(addrs, checksum.Combine(uint16(proto), checksum.Combine(uint16(ulen>>16), uint16(ulen))))
}
