package translate

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/header"
)

// Flow is what a policy sees of a packet: its addresses and transport
// endpoints. Ports are TCP/UDP ports; for ICMP queries (echo) both SrcPort
// and DstPort hold the identifier, which stands for the port of the IPv6
// node's side (RFC 6146 §3.5.3). Proto uses IPv4 numbering: ICMPv4 and
// ICMPv6 both appear as 1.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	// TCPFlags are the flags of a TCP segment (0 otherwise), for a stateful
	// policy's state machine.
	TCPFlags uint8
	Flags    FlowFlags
}

// FlowFlags describe the packet a Flow came from.
type FlowFlags uint8

const (
	// FlowInner: the flow is that of the packet quoted inside an ICMP error;
	// Src and Dst are as written in the quoted packet, so they run opposite
	// to the error itself.
	FlowInner FlowFlags = 1 << iota
	// FlowICMPError: the packet is an ICMP error (set on the outer flow; the
	// inner flow has FlowInner as well).
	FlowICMPError
	// FlowNoPorts: a non-first fragment; the ports are unknown and zero.
	FlowNoPorts
	// FlowHairpin: the second pass of a hairpinned packet.
	FlowHairpin
	// FlowICMPQuery: an ICMP echo request or reply.
	FlowICMPQuery
	// FlowFromQuotedDst: an ICMP error whose source is the destination of
	// the packet it quotes, i.e. the host itself answered (RFC 7757 §4.2.1
	// rule 3 needs to know).
	FlowFromQuotedDst
)

// Policy supplies addresses and ports. It is all the engine asks of siit
// and nat64: the mechanics of headers and checksums stay in the engine.
//
// To4 maps an IPv6 flow to its IPv4 form and To6 an IPv4 flow to its IPv6
// form. They return the mapped flow (only addresses and ports are read
// back) or a reason to refuse it. They run on the datapath: no allocation,
// and safe for concurrent use.
type Policy interface {
	To4(f Flow) (Flow, Reason)
	To6(f Flow) (Flow, Reason)
}

// PrefixPolicy is the plain RFC 6052 policy: every IPv6 address is an
// IPv4-embedded address under one prefix (pool6), and every IPv4 address is
// embedded into it. It is the default mapping of RFC 7915 §6, enough for
// simple SIIT and for examples; the siit package adds EAMT, RFC 6791 and
// hairpinning.
type PrefixPolicy struct {
	Prefix Prefix
	// AllowNonGlobal lets the well-known prefix carry non-global IPv4
	// addresses, which RFC 6052 §3.1 forbids.
	AllowNonGlobal bool
}

// To4 implements Policy.
func (p PrefixPolicy) To4(f Flow) (Flow, Reason) {
	src, ok := p.Prefix.Extract(f.Src)
	if !ok || !p.permits(src) {
		return f, ReasonUntranslatableSrc
	}
	dst, ok := p.Prefix.Extract(f.Dst)
	if !ok || !p.permits(dst) {
		return f, ReasonUntranslatableDst
	}
	f.Src, f.Dst = src, dst
	return f, ReasonNone
}

// To6 implements Policy.
func (p PrefixPolicy) To6(f Flow) (Flow, Reason) {
	if !p.permits(f.Src) {
		return f, ReasonUntranslatableSrc
	}
	if !p.permits(f.Dst) {
		return f, ReasonUntranslatableDst
	}
	f.Src, f.Dst = p.Prefix.Embed(f.Src), p.Prefix.Embed(f.Dst)
	return f, ReasonNone
}

func (p PrefixPolicy) permits(a netip.Addr) bool {
	return p.AllowNonGlobal || p.Prefix.Permits(a)
}

// readPorts fills f's ports (and TCP flags) from the TCP or UDP header l4.
// A quoted packet needs only its ports: RFC 792 quotes just 8 bytes.
func readPorts(f *Flow, l4 []byte, min int, quoted bool) Reason {
	if len(l4) < min && !(quoted && len(l4) >= 4) {
		return ReasonTruncated
	}
	f.SrcPort, f.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	if f.Proto == header.ProtoTCP && len(l4) > 13 {
		f.TCPFlags = l4[13]
	}
	return ReasonNone
}

// readICMP classifies an ICMP message of either family whose type t is an
// echo (isEcho) or an error (isErr): echoes carry their identifier as the
// flow's ports; an error inside a quoted packet is refused (RFC 7915 §4.3,
// §5.3); anything else has no translation.
func readICMP(f *Flow, l4 []byte, isEcho, isErr, quoted bool) Reason {
	switch {
	case isEcho:
		id := binary.BigEndian.Uint16(l4[4:])
		f.SrcPort, f.DstPort = id, id
		f.Flags |= FlowICMPQuery
	case isErr:
		if quoted {
			return ReasonNestedICMPError
		}
		f.Flags |= FlowICMPError
	default:
		return ReasonICMPType
	}
	return ReasonNone
}
