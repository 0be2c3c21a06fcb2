package map66

import (
	"encoding/binary"

	"github.com/v6xlat/xlat/header"
)

// OutboundBatch maps each of pkts as Outbound does and sets why[i] to the
// reason for pkts[i]; why must be at least as long as pkts.
//
// It is for callers that read packets in bursts, as map66d does from its
// TUN device: one call per burst; and with a single /48-or-shorter rule
// (the usual site: one internal prefix, one external) a first pass maps
// each TCP or UDP packet that Outbound's quick path would, in a loop with
// no calls in it, so that the rule's words stay in registers. The packets
// it leaves go through Outbound one by one.
func (m *Mapper) OutboundBatch(pkts [][]byte, why []Reason) {
	why = why[:len(pkts)]
	// One rule: both sides have its mask.
	if m.burstOut && !burstOut(pkts, why, m.out[0].mhi, m.out[0].fhi, m.out[0].to(), m.in[0].fhi) {
		return
	}
	m.rest(pkts, why, m.burstOut, (*Mapper).Outbound)
}

// burstOut is OutboundBatch's first pass, by the rule that maps the
// prefix from under mask to the prefix and adjustment in to (see side.to),
// with the external prefix external. It returns whether it left packets
// for the second pass, marked numReasons in why.
func burstOut(pkts [][]byte, why []Reason, mask, from, to, external uint64) (left bool) {
	why = why[:len(pkts)]
	clear(why) // ReasonNone, but for what the loop leaves
	keep, adj := ^mask&^0xffff, to&0xffff
	to &^= 0xffff
	for i, p := range pkts {
		if len(p) >= header.IPv6Size {
			h := (*[header.IPv6Size]byte)(p)
			hi := binary.BigEndian.Uint64(h[8:16])
			// A destination under the external prefix is hairpinned: the
			// general path.
			if nh := h[6]; (nh == header.ProtoTCP || nh == header.ProtoUDP) && hi&mask == from && uint16(hi) != 0xffff &&
				binary.BigEndian.Uint64(h[24:32])&mask != external {
				binary.BigEndian.PutUint64(h[8:16], hi&keep|to|adjustWord(hi&0xffff, adj))
				continue
			}
		}
		why[i] = numReasons
		left = true
	}
	return left
}

// InboundBatch is Inbound for a burst, as OutboundBatch is Outbound.
func (m *Mapper) InboundBatch(pkts [][]byte, why []Reason) {
	why = why[:len(pkts)]
	if m.burstIn && !burstIn(pkts, why, m.in[0].mhi, m.in[0].fhi, m.in[0].to()) {
		return
	}
	m.rest(pkts, why, m.burstIn, (*Mapper).Inbound)
}

// burstIn is InboundBatch's first pass, as burstOut is OutboundBatch's,
// on destinations; inbound there is no hairpin to leave. The two are kept
// apart on purpose: one loop taking the address's offset and the hairpin
// check as arguments measured 23% slower a packet (a bounds check and a
// register more in a loop of about six cycles).
func burstIn(pkts [][]byte, why []Reason, mask, from, to uint64) (left bool) {
	why = why[:len(pkts)]
	clear(why)
	keep, adj := ^mask&^0xffff, to&0xffff
	to &^= 0xffff
	for i, p := range pkts {
		if len(p) >= header.IPv6Size {
			h := (*[header.IPv6Size]byte)(p)
			hi := binary.BigEndian.Uint64(h[24:32])
			if nh := h[6]; (nh == header.ProtoTCP || nh == header.ProtoUDP) && hi&mask == from && uint16(hi) != 0xffff {
				binary.BigEndian.PutUint64(h[24:32], hi&keep|to|adjustWord(hi&0xffff, adj))
				continue
			}
		}
		why[i] = numReasons
		left = true
	}
	return left
}

// rest maps one by one the packets a burst's first pass left, or all of
// them when there was no first pass.
func (m *Mapper) rest(pkts [][]byte, why []Reason, firstPass bool, one func(*Mapper, []byte) Reason) {
	for i, p := range pkts {
		if !firstPass || why[i] == numReasons {
			why[i] = one(m, p)
		}
	}
}

// to returns, for a /48-or-shorter side, the high word of the prefix it
// writes with the adjustment in word 3, which the prefix leaves clear: the
// batch loops keep one register fewer, and the compiler, short of
// registers there, no longer spills the adjustment's sum to the stack.
func (s *side) to() uint64 { return s.thi | uint64(s.adj) }

// adjustWord is checksum.ApplyAdjustment for a word w that is not 0xFFFF,
// which the batch loops have already refused, in fewer steps and no
// branch: w + adj is below 2·0xFFFF then, and taking 0xFFFF away when it
// reaches 0xFFFF is one's complement addition with its negative zero
// written 0 (RFC 6296 §3.2).
func adjustWord(w, adj uint64) uint64 {
	t := w + adj
	return (t + (t+1)>>16) & 0xffff
}
