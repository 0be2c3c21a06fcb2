package translate

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// Ports holds a packet's transport endpoints: the source port in the high
// 16 bits and the destination port in the low 16 bits. For ICMP queries
// (echo) both halves hold the identifier, which stands for the port of the
// IPv6 node's side (RFC 6146 §3.5.3). Non-first fragments have no ports.
type Ports uint32

// MakePorts returns the Ports of src and dst.
func MakePorts(src, dst uint16) Ports { return Ports(src)<<16 | Ports(dst) }

// Src returns the source port.
func (p Ports) Src() uint16 { return uint16(p >> 16) }

// Dst returns the destination port.
func (p Ports) Dst() uint16 { return uint16(p) }

// Meta describes the packet a flow came from: its transport protocol in
// IPv4 numbering (ICMPv4 and ICMPv6 both appear as 1), its TCP flags,
// FlowFlags, and for fragments (FlowFragment) the datagram's
// Identification, which ties later fragments, that carry no ports, to the
// first.
type Meta uint64

// MakeMeta packs a Meta.
func MakeMeta(proto, tcpFlags uint8, flags FlowFlags) Meta {
	return Meta(proto) | Meta(tcpFlags)<<8 | Meta(flags)<<16
}

// WithFragmentID returns m for a fragment of datagram id.
func (m Meta) WithFragmentID(id uint32) Meta {
	return m&0xffffffff | Meta(id)<<32 | Meta(FlowFragment)<<16
}

// FragmentID returns the Identification of a fragment (FlowFragment): the
// IPv6 Fragment header's, or the IPv4 header's.
func (m Meta) FragmentID() uint32 { return uint32(m >> 32) }

// Proto returns the transport protocol (IPv4 numbering).
func (m Meta) Proto() uint8 { return uint8(m) }

// TCPFlags returns the flags of a TCP segment (0 otherwise), for a stateful
// policy's state machine.
func (m Meta) TCPFlags() uint8 { return uint8(m >> 8) }

// Flags returns the FlowFlags.
func (m Meta) Flags() FlowFlags { return FlowFlags(m >> 16) }

// Has reports whether all of flags are set.
func (m Meta) Has(flags FlowFlags) bool { return m.Flags()&flags == flags }

// flow is the engine's own view of a packet's flow.
type flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	TCPFlags         uint8
	Flags            FlowFlags
	fragID           uint32 // with FlowFragment
}

func (f *flow) ports() Ports { return MakePorts(f.SrcPort, f.DstPort) }
func (f *flow) meta() Meta {
	return MakeMeta(f.Proto, f.TCPFlags, f.Flags) | Meta(f.fragID)<<32
}

// FlowFlags describe the packet a flow came from.
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
	// FlowFragment: the packet is a fragment (not an atomic one); Meta
	// carries the datagram's Identification. Later fragments also have
	// FlowNoPorts.
	FlowFragment
)

// Policy supplies addresses and ports. It is all the engine asks of siit
// and nat64: the mechanics of headers and checksums stay in the engine.
//
// To4 maps an IPv6 flow (source, destination, ports) to its IPv4 form and
// To6 an IPv4 flow to its IPv6 form, or return a reason to refuse it: a
// built-in one, or one of the policy's own from NewReason. With a refusal
// the other results are not read. For a packet quoted inside an ICMP error
// (FlowInner), src and dst are as written in the quoted packet, so they run
// opposite to the error itself. They run on the datapath: no allocation,
// and safe for concurrent use. ExamplePolicy writes one in a dozen lines.
//
// The flow travels as separate values rather than one struct on purpose:
// Go passes these in registers, while a struct of two netip.Addr (over 32
// bytes) goes through memory, which costs ten times more per call.
//
// Error4 and Error6 map the outer addresses of an ICMP error after its
// quoted packet has been mapped to qsrc -> qdst (in the output family):
// stateful NAT64 takes them from the quoted packet's session (RFC 6146
// §3.6), a stateless translator from the addresses themselves.
type Policy interface {
	To4(src, dst netip.Addr, ports Ports, m Meta) (src4, dst4 netip.Addr, ports4 Ports, refused Reason)
	To6(src, dst netip.Addr, ports Ports, m Meta) (src6, dst6 netip.Addr, ports6 Ports, refused Reason)
	Error4(src, dst, qsrc, qdst netip.Addr, m Meta) (src4, dst4 netip.Addr, refused Reason)
	Error6(src, dst, qsrc, qdst netip.Addr, m Meta) (src6, dst6 netip.Addr, refused Reason)
}

// A MappedPolicy is a Policy that can take an outer IPv6 flow's
// destination already mapped, to dst4, by its caller (Translator.To4Mapped):
// a gateway choosing among translators by the destination's IPv4 form
// has it in hand, and an EAMT lookup costs as much as the rest of a plain
// translation. It answers as To4 would for a destination that maps to
// dst4.
type MappedPolicy interface {
	To4Mapped(src, dst, dst4 netip.Addr, ports Ports, m Meta) (src4, dst4out netip.Addr, ports4 Ports, refused Reason)
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
func (p *PrefixPolicy) To4(src, dst netip.Addr, ports Ports, _ Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	s, ok := p.Prefix.extract(ipword.Words(src))
	if !ok || !src.Is6() || !p.permits(s) {
		return src, dst, ports, ReasonUntranslatableSrc
	}
	d, ok := p.Prefix.extract(ipword.Words(dst))
	if !ok || !dst.Is6() || !p.permits(d) {
		return src, dst, ports, ReasonUntranslatableDst
	}
	return addr4(s), addr4(d), ports, ReasonNone
}

// To6 implements Policy.
func (p *PrefixPolicy) To6(src, dst netip.Addr, ports Ports, _ Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	// The low word of an IPv4 Addr is ::ffff:a.b.c.d's: the address is its
	// low 32 bits.
	_, s := ipword.Words(src)
	if !src.Is4() || !p.permits(uint32(s)) {
		return src, dst, ports, ReasonUntranslatableSrc
	}
	_, d := ipword.Words(dst)
	if !dst.Is4() || !p.permits(uint32(d)) {
		return src, dst, ports, ReasonUntranslatableDst
	}
	return addr16(p.Prefix.embed(uint32(s))), addr16(p.Prefix.embed(uint32(d))), ports, ReasonNone
}

// Error4 implements Policy: the error's own addresses, by RFC 6052.
func (p *PrefixPolicy) Error4(src, dst, _, _ netip.Addr, m Meta) (netip.Addr, netip.Addr, Reason) {
	s, d, _, r := p.To4(src, dst, 0, m)
	return s, d, r
}

// Error6 implements Policy.
func (p *PrefixPolicy) Error6(src, dst, _, _ netip.Addr, m Meta) (netip.Addr, netip.Addr, Reason) {
	s, d, _, r := p.To6(src, dst, 0, m)
	return s, d, r
}

// permits is Prefix.Permits of the IPv4 address v4 as a word, unless
// AllowNonGlobal.
func (p *PrefixPolicy) permits(v4 uint32) bool {
	return !p.Prefix.shape.wkp() || p.AllowNonGlobal || global4(v4)
}

// readPorts fills f's ports (and TCP flags) from the TCP or UDP header l4.
// A quoted packet needs only its ports: RFC 792 quotes just 8 bytes.
func readPorts(f *flow, l4 []byte, min int, quoted bool) Reason {
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
func readICMP(f *flow, l4 []byte, isEcho, isErr, quoted bool) Reason {
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
