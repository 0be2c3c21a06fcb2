package nat64

import (
	"net/netip"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/translate"
)

// policy is the Translator seen as a translate.Policy: RFC 6146 §3.5
// (filtering and state) and §3.6 (the outgoing tuple).
type policy Translator

func (p *policy) x() *Translator { return (*Translator)(p) }

// To4 maps an IPv6 flow: (X',x) -> (T,t) through the BIB, Y' -> Z by RFC
// 6052 (§3.6).
func (p *policy) To4(src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	x := p.x()
	st := x.st.Load()
	if m.Has(translate.FlowInner) {
		return x.quoted4(st, src, dst, ports, m)
	}
	// §3.5: an IPv6 source inside Pref64 would loop; only destinations
	// inside it are ours.
	if st.Pool6.Contains(src) {
		return src, dst, ports, translate.ReasonUntranslatableSrc
	}
	z, ok := st.Pool6.Extract(dst)
	if !ok || !st.AllowNonGlobalWKP && !st.Pool6.Permits(z) {
		return src, dst, ports, translate.ReasonUntranslatableDst
	}
	proto := m.Proto()
	switch {
	case proto != header.ProtoTCP && proto != header.ProtoUDP && proto != header.ProtoICMPv4:
		return src, dst, ports, translate.ReasonUnsupported
	case m.Has(translate.FlowNoPorts):
		// A later fragment: the addresses its first fragment got.
		if s4, d4, ok := x.recall(src, dst, m, true); ok {
			return s4, d4, ports, translate.ReasonNone
		}
		return src, dst, ports, translate.ReasonNoBinding
	case proto == header.ProtoICMPv4 && st.DropICMPv6Info:
		return src, dst, ports, translate.ReasonPolicyProhibited
	}
	if b := st.broker; b != nil {
		port, claim := b.Out(z, netip.AddrPortFrom(src, ports.Src()), false)
		if claim != NotClaimed {
			if claim != Claimed {
				return src, dst, ports, brokerReason(claim)
			}
			n := b.Addr()
			if m.Has(translate.FlowFragment) {
				x.remember(src, dst, m, n, z)
			}
			return n, z, outPorts4(proto, port, ports), translate.ReasonNone
		}
	}
	k := key6{proto: proto, z4: v4u(z), xp: ports.Src(), zp: ports.Dst()}
	k.xhi, k.xlo = ipword.Words(src)
	if proto == header.ProtoICMPv4 {
		k.zp = 0
	}
	home := x.shards[x.home(k.xhi, k.xlo, k.xp, proto)]
	if t4, tp, ok := x.lookup6(st, home, k, m); ok {
		if m.Has(translate.FlowFragment) {
			x.remember(src, dst, m, ipword.From4(t4), z)
		}
		return ipword.From4(t4), z, outPorts4(proto, tp, ports), translate.ReasonNone
	}
	// Not in its home shard: a binding whose port was chosen elsewhere
	// keeps its sessions in the shard of that port.
	x.bib.mu.Lock()
	b := x.bib.find6(bibKey6{k.xhi, k.xlo, k.xp, proto})
	var bt4 uint32
	var btp uint16
	if b != 0 {
		bt4, btp = x.bib.rec(b).t4, x.bib.rec(b).tp
	}
	x.bib.mu.Unlock()
	if b != 0 {
		if sh := x.shard4(btp); sh != home {
			if t4, tp, ok := x.lookup6(st, sh, k, m); ok {
				if m.Has(translate.FlowFragment) {
					x.remember(src, dst, m, ipword.From4(t4), z)
				}
				return ipword.From4(t4), z, outPorts4(proto, tp, ports), translate.ReasonNone
			}
		}
	}
	if proto == header.ProtoTCP && m.TCPFlags()&header.TCPFlagSYN == 0 {
		// CLOSED, not a SYN: translated when a binding exists, without
		// creating state (§3.5.2.2); dropped otherwise.
		if b == 0 {
			return src, dst, ports, translate.ReasonNoBinding
		}
		return ipword.From4(bt4), z, outPorts4(proto, btp, ports), translate.ReasonNone
	}
	t4, tp, r := x.create6(st, k, src)
	if r != translate.ReasonNone {
		return src, dst, ports, r
	}
	if b := st.broker; b != nil && t4 == v4u(b.Addr()) {
		b.SessionCreated(z, netip.AddrPortFrom(src, ports.Src()), tp) // docs/handoff-protocol.md §8.4
	}
	if m.Has(translate.FlowFragment) {
		x.remember(src, dst, m, ipword.From4(t4), z)
	}
	return ipword.From4(t4), z, outPorts4(proto, tp, ports), translate.ReasonNone
}

// brokerReason is why a packet the broker claimed was not translated.
func brokerReason(c Claim) translate.Reason {
	if c == Await {
		return ReasonAwaiting
	}
	return ReasonPortRefused
}

// lookup6 finds and refreshes the session of outbound key k in shard sh.
func (x *Translator) lookup6(st *settings, sh *shard, k key6, m translate.Meta) (uint32, uint16, bool) {
	sh.mu.Lock()
	r := sh.find6(k)
	if r == 0 {
		sh.mu.Unlock()
		return 0, 0, false
	}
	x.refresh(st, sh, r, true, m.TCPFlags())
	s := sh.rec(r)
	t4, tp := s.t4, s.tp
	sh.mu.Unlock()
	return t4, tp, true
}

// outPorts4 is the outgoing 6->4 port pair: (t, z), or the identifier.
func outPorts4(proto uint8, tp uint16, in translate.Ports) translate.Ports {
	if proto == header.ProtoICMPv4 {
		return translate.MakePorts(tp, tp)
	}
	return translate.MakePorts(tp, in.Dst())
}

// To6 maps an IPv4 flow: (T,t) -> (X',x) through the session or BIB,
// Z -> Pool6+Z (§3.6), filtering unsolicited traffic (§3.5).
func (p *policy) To6(src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	x := p.x()
	st := x.st.Load()
	if m.Has(translate.FlowInner) {
		return x.quoted6(st, src, dst, ports, m)
	}
	t4 := v4u(dst)
	if !st.pool4Addrs[t4] {
		return src, dst, ports, translate.ReasonUntranslatableDst
	}
	if !st.AllowNonGlobalWKP && !st.Pool6.Permits(src) {
		return src, dst, ports, translate.ReasonUntranslatableSrc
	}
	proto := m.Proto()
	switch {
	case proto != header.ProtoTCP && proto != header.ProtoUDP && proto != header.ProtoICMPv4:
		return src, dst, ports, translate.ReasonUnsupported
	case m.Has(translate.FlowNoPorts):
		if s6, d6, ok := x.recall(src, dst, m, false); ok {
			return s6, d6, ports, translate.ReasonNone
		}
		return src, dst, ports, translate.ReasonNoBinding
	}
	z6 := st.Pool6.Embed(src)
	if b := st.broker; b != nil && dst == b.Addr() {
		c, claim := b.In(src, ports.Dst(), false)
		if claim != NotClaimed {
			if claim != Claimed {
				return src, dst, ports, brokerReason(claim)
			}
			if m.Has(translate.FlowFragment) {
				x.remember(src, dst, m, z6, c.Addr())
			}
			return z6, c.Addr(), outPorts6(proto, c.Port(), ports), translate.ReasonNone
		}
	}
	k := key4{proto: proto, t4: t4, z4: v4u(src), tp: ports.Dst(), zp: ports.Src()}
	if proto == header.ProtoICMPv4 {
		k.zp = 0
	}
	sh := x.shard4(k.tp)
	sh.mu.Lock()
	if r := sh.find4(k); r != 0 {
		s := sh.rec(r)
		if s.flags&sessionUnbound != 0 {
			sh.mu.Unlock()
			return src, dst, ports, translate.ReasonHeld // a retransmitted unsolicited SYN
		}
		x.refresh(st, sh, r, false, m.TCPFlags())
		xhi, xlo, xp := s.xhi, s.xlo, s.xp
		sh.mu.Unlock()
		if m.Has(translate.FlowFragment) {
			x.remember(src, dst, m, z6, ipword.From6(xhi, xlo))
		}
		return z6, ipword.From6(xhi, xlo), outPorts6(proto, xp, ports), translate.ReasonNone
	}
	sh.mu.Unlock()
	xhi, xlo, xp, r := x.create4(st, sh, k, m.TCPFlags())
	if r != translate.ReasonNone {
		return src, dst, ports, r
	}
	if m.Has(translate.FlowFragment) {
		x.remember(src, dst, m, z6, ipword.From6(xhi, xlo))
	}
	return z6, ipword.From6(xhi, xlo), outPorts6(proto, xp, ports), translate.ReasonNone
}

// outPorts6 is the outgoing 4->6 port pair: (z, x), or the identifier.
func outPorts6(proto uint8, xp uint16, in translate.Ports) translate.Ports {
	if proto == header.ProtoICMPv4 {
		return translate.MakePorts(xp, xp)
	}
	return translate.MakePorts(in.Src(), xp)
}

// quoted4 maps the packet quoted in an ICMPv6 error. It travelled 4->6, so
// its source is Pool6+Z and its destination (X',x); errors neither create
// nor refresh state (§3.5).
func (x *Translator) quoted4(st *settings, src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	z, ok := st.Pool6.Extract(src)
	if !ok {
		return src, dst, ports, translate.ReasonUntranslatableSrc
	}
	proto := m.Proto()
	if b := st.broker; b != nil {
		port, claim := b.Out(z, netip.AddrPortFrom(dst, ports.Dst()), true)
		if claim == Claimed {
			if proto == header.ProtoICMPv4 {
				return z, b.Addr(), translate.MakePorts(port, port), translate.ReasonNone
			}
			return z, b.Addr(), translate.MakePorts(ports.Src(), port), translate.ReasonNone
		} else if claim != NotClaimed {
			return src, dst, ports, translate.ReasonNoBinding
		}
	}
	k := key6{proto: proto, z4: v4u(z), xp: ports.Dst(), zp: ports.Src()}
	k.xhi, k.xlo = ipword.Words(dst)
	if proto == header.ProtoICMPv4 {
		k.zp = 0
	}
	t4, tp, ok := x.peek6(k)
	if !ok {
		return src, dst, ports, translate.ReasonNoBinding
	}
	if proto == header.ProtoICMPv4 {
		return z, ipword.From4(t4), translate.MakePorts(tp, tp), translate.ReasonNone
	}
	return z, ipword.From4(t4), translate.MakePorts(ports.Src(), tp), translate.ReasonNone
}

// quoted6 maps the packet quoted in an ICMPv4 error: it travelled 6->4,
// from (T,t) to (Z,z).
func (x *Translator) quoted6(st *settings, src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	proto := m.Proto()
	if b := st.broker; b != nil && src == b.Addr() {
		c, claim := b.In(dst, ports.Src(), true)
		if claim == Claimed {
			if proto == header.ProtoICMPv4 {
				return c.Addr(), st.Pool6.Embed(dst), translate.MakePorts(c.Port(), c.Port()), translate.ReasonNone
			}
			return c.Addr(), st.Pool6.Embed(dst), translate.MakePorts(c.Port(), ports.Dst()), translate.ReasonNone
		} else if claim != NotClaimed {
			return src, dst, ports, translate.ReasonNoBinding
		}
	}
	k := key4{proto: proto, t4: v4u(src), z4: v4u(dst), tp: ports.Src(), zp: ports.Dst()}
	if proto == header.ProtoICMPv4 {
		k.zp = 0
	}
	sh := x.shard4(k.tp)
	sh.mu.Lock()
	r := sh.find4(k)
	var xhi, xlo uint64
	var xp uint16
	if r != 0 && sh.rec(r).flags&sessionUnbound == 0 {
		s := sh.rec(r)
		xhi, xlo, xp = s.xhi, s.xlo, s.xp
	} else {
		r = 0
	}
	sh.mu.Unlock()
	if r == 0 {
		return src, dst, ports, translate.ReasonNoBinding
	}
	x6 := ipword.From6(xhi, xlo)
	if proto == header.ProtoICMPv4 {
		return x6, st.Pool6.Embed(dst), translate.MakePorts(xp, xp), translate.ReasonNone
	}
	return x6, st.Pool6.Embed(dst), translate.MakePorts(xp, ports.Dst()), translate.ReasonNone
}

// peek6 finds the session of outbound key k without refreshing it: in its
// home shard, or through its binding's port.
func (x *Translator) peek6(k key6) (uint32, uint16, bool) {
	for _, sh := range [2]*shard{x.shards[x.home(k.xhi, k.xlo, k.xp, k.proto)], nil} {
		if sh == nil {
			x.bib.mu.Lock()
			b := x.bib.find6(bibKey6{k.xhi, k.xlo, k.xp, k.proto})
			if b != 0 {
				sh = x.shard4(x.bib.rec(b).tp)
			}
			x.bib.mu.Unlock()
			if sh == nil {
				return 0, 0, false
			}
		}
		sh.mu.Lock()
		if r := sh.find6(k); r != 0 {
			t4, tp := sh.rec(r).t4, sh.rec(r).tp
			sh.mu.Unlock()
			return t4, tp, true
		}
		sh.mu.Unlock()
	}
	return 0, 0, false
}

// Error4 gives an ICMPv6 error the outgoing tuple of its quoted packet,
// swapped (§3.6): from T, to Z.
func (p *policy) Error4(src, dst, qsrc, qdst netip.Addr, _ translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	return qdst, qsrc, translate.ReasonNone
}

// Error6 addresses an ICMPv4 error to the quoted packet's IPv6 source. Its
// source is Pool6 + the IPv4 router that sent it when
// source-icmpv6-errors-better is on (the default, as Jool), or, as RFC 6146
// has it, the quoted packet's destination.
func (p *policy) Error6(src, dst, qsrc, qdst netip.Addr, _ translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	st := p.x().st.Load()
	if st.errorsBetter {
		return st.Pool6.Embed(src), qsrc, translate.ReasonNone
	}
	return qdst, qsrc, translate.ReasonNone
}
