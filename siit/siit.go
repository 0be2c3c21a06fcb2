package siit

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// state is one immutable configuration; the datapath loads it once per
// packet.
type state struct {
	cfg  Config
	eamt *EAMT
}

// Translator is an SIIT instance: the translate engine with the stateless
// policy of RFC 7915 §6 (RFC 6052 pool6, RFC 7757 EAMT, RFC 6791).
type Translator struct {
	st     atomic.Pointer[state]
	engine *translate.Translator
}

// New validates cfg and returns a ready Translator.
func New(cfg Config) (*Translator, error) {
	st, err := newState(cfg)
	if err != nil {
		return nil, err
	}
	t := &Translator{}
	t.st.Store(st)
	t.engine, err = translate.New(st.cfg.Config, (*policy)(t))
	if err != nil {
		return nil, err
	}
	return t, nil
}

func newState(cfg Config) (*state, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	eamt, err := NewEAMT(cfg.EAMT)
	if err != nil {
		return nil, err
	}
	return &state{cfg: cfg, eamt: eamt}, nil
}

// Update replaces the whole configuration (EAMT included) atomically,
// without stopping traffic. On error nothing changes.
func (t *Translator) Update(cfg Config) error {
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	if err := t.engine.Update(st.cfg.Config); err != nil {
		return err
	}
	t.st.Store(st)
	return nil
}

// Check reports whether Update would accept cfg, changing nothing: a
// caller updating several translators checks them all first.
func (t *Translator) Check(cfg Config) error {
	st, err := newState(cfg)
	if err != nil {
		return err
	}
	return st.cfg.Config.Validate()
}

// Config returns the configuration in force.
func (t *Translator) Config() Config { return t.st.Load().cfg }

// EAMT returns the table in force.
func (t *Translator) EAMT() *EAMT { return t.st.Load().eamt }

// Stats returns the translate engine's counters for this instance.
func (t *Translator) Stats() *translate.Stats { return t.engine.Stats() }

// To4 translates the IPv6 packet buf[off:off+n] (see translate.Translator.To4).
// With intrinsic hairpinning, a packet whose IPv4 form is addressed back into
// the EAMT is translated to IPv6 again (RFC 7757 §4.2.2) and returned with
// verdict Forward toward the IPv6 side: check the version of the result.
func (t *Translator) To4(buf []byte, off, n int) translate.Result {
	return t.To4Mapped(buf, off, n, Mapping{})
}

// via6052 reports whether the IPv6 packet buf[off:off+n] is one whose
// hairpinning RFC 7757 §4.2.2 considers: its destination (set A) or, for an
// ICMPv6 error, its quoted source (set B) is an RFC 6052 address, not an
// EAM one. dst, when valid, is the destination's mapping (Map6), which
// says it for a packet that is not an error.
func (st *state) via6052(buf []byte, off, n int, dst Mapping) bool {
	if n < 40 || off < 0 || off+n > len(buf) {
		return false
	}
	ip := header.IPv6(buf[off : off+n])
	a := ip.Dst()
	if m := header.ICMPv6(ip[header.IPv6Size:]); ip.NextHeader() == header.ProtoICMPv6 && n >= header.IPv6Size+header.ICMPHeaderSize+header.IPv6Size && header.ICMPv6IsError(m.Type()) {
		a = header.IPv6(m[header.ICMPHeaderSize:]).Src() // set B: the quoted source
		dst = Mapping{}
	}
	if dst.addr.IsValid() {
		return !dst.eam // a pool6 mapping is under pool6
	}
	if _, ok := st.eamt.Lookup6(a); ok {
		return false
	}
	return st.cfg.Pool6.IsValid() && st.cfg.Pool6.Contains(a)
}

// Translate translates buf[off:off+n] to the other family, To4 or To6 as
// its version says.
func (t *Translator) Translate(buf []byte, off, n int) translate.Result {
	if off >= 0 && off < len(buf) && n > 0 && buf[off]>>4 == header.IPv6Version {
		return t.To4(buf, off, n)
	}
	return t.To6(buf, off, n)
}

// To6 translates the IPv4 packet buf[off:off+n] (see translate.Translator.To6).
func (t *Translator) To6(buf []byte, off, n int) translate.Result {
	return t.engine.To6(buf, off, n)
}

// hairpinned reports whether an IPv4 packet produced by To4 goes back to the
// IPv6 side: RFC 7757 §4.2.2 set A (its destination is in the EAMT) or set B
// (an ICMP error whose quoted source is).
func (st *state) hairpinned(p []byte) bool {
	if len(p) < 20 {
		return false
	}
	ip := header.IPv4(p)
	hl := ip.HeaderLen()
	if ip.Protocol() == header.ProtoICMPv4 && len(p) >= hl+header.ICMPHeaderSize+header.IPv4MinSize && header.ICMPv4IsError(header.ICMPv4(p[hl:]).Type()) {
		_, ok := st.eamt.Lookup4(header.IPv4(p[hl+header.ICMPHeaderSize:]).Src())
		return ok
	}
	_, ok := st.eamt.Lookup4(ip.Dst())
	return ok
}

// A Mapping is an IPv6 address's IPv4 form as Map6 found it, and whether
// an EAM gave it (RFC 7757 §4.2.2 asks which).
type Mapping struct {
	addr netip.Addr
	eam  bool
}

// Addr is the IPv4 address.
func (m Mapping) Addr() netip.Addr { return m.addr }

// Map6 maps an IPv6 address to IPv4 as To4 maps a packet's destination
// (RFC 7757 §3.3.2, then RFC 6052): a caller that chooses among
// translators by the IPv4 form of a destination gets it here, and hands it
// back to To4Mapped, so that it is looked up once.
func (t *Translator) Map6(a netip.Addr) (Mapping, bool) { return t.st.Load().map6(a) }

// To4Mapped is To4 for a packet whose destination Map6 mapped to dst (the
// zero Mapping is To4).
func (t *Translator) To4Mapped(buf []byte, off, n int, dst Mapping) translate.Result {
	st := t.st.Load()
	if st.cfg.HairpinMode != HairpinIntrinsic {
		return t.engine.To4Mapped(buf, off, n, dst.addr)
	}
	// RFC 7757 §4.2.2 asks how the address was translated (RFC 6052, not
	// EAM), which the IPv4 result no longer says: note it first.
	via6052 := st.via6052(buf, off, n, dst)
	r := t.engine.To4Mapped(buf, off, n, dst.addr)
	if r.Verdict != translate.Forward || !via6052 || !st.hairpinned(buf[r.Start:r.End]) {
		return r
	}
	return t.engine.Hairpin6(buf, r.Start, r.End-r.Start)
}

// policy is the Translator seen as a translate.Policy.
type policy Translator

// To4 maps an IPv6 flow's addresses (RFC 7757 §3.3.2, then RFC 6052).
func (p *policy) To4(src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	return p.to4(p.st.Load(), src, dst, netip.Addr{}, ports, m)
}

// To4Mapped is To4 with the destination mapped already, to dst4
// (translate.MappedPolicy).
func (p *policy) To4Mapped(src, dst, dst4 netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	return p.to4(p.st.Load(), src, dst, dst4, ports, m)
}

// to4 maps an IPv6 flow's addresses; d4, when valid, is dst mapped.
func (p *policy) to4(st *state, src, dst, d4 netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	s4, ok := st.addr4(src)
	if !ok {
		if !m.Has(translate.FlowICMPError) || m.Has(translate.FlowInner) {
			return src, dst, ports, translate.ReasonUntranslatableSrc
		}
		// RFC 6791: an ICMPv6 error from an untranslatable router gets a
		// source from the pool, or the translator's own address.
		s4, ok = st.rfc6791v4()
		if !ok {
			return src, dst, ports, translate.ReasonUntranslatableSrc
		}
	}
	if !d4.IsValid() {
		if d4, ok = st.addr4(dst); !ok {
			return src, dst, ports, translate.ReasonUntranslatableDst
		}
	}
	return s4, d4, ports, translate.ReasonNone
}

// To6 maps an IPv4 flow's addresses, applying the hairpinning rules of RFC
// 7757 §4.2.1 (simple mode, and the second pass of intrinsic mode).
func (p *policy) To6(src, dst netip.Addr, ports translate.Ports, m translate.Meta) (netip.Addr, netip.Addr, translate.Ports, translate.Reason) {
	st := p.st.Load()
	hairpin := st.cfg.HairpinMode == HairpinSimple ||
		st.cfg.HairpinMode == HairpinIntrinsic && m.Has(translate.FlowHairpin)
	inner := m.Has(translate.FlowInner)
	isErr := m.Has(translate.FlowICMPError)
	// §4.2.1 rule 1: no EAM for the outer source of a non-error; rule 2: no
	// EAM for the quoted destination of an error; rule 3: nor for the outer
	// source of an error that comes from that quoted destination.
	srcNoEAM := hairpin && !inner && (!isErr || m.Has(translate.FlowFromQuotedDst))
	dstNoEAM := hairpin && inner
	s6, ok := st.addr6(src, srcNoEAM, !(isErr || inner))
	if !ok {
		if !(isErr || inner) {
			return src, dst, ports, translate.ReasonUntranslatableSrc
		}
		// RFC 7915 §4.1: the sources of ICMPv4 errors (and of the packets
		// they quote) are translated even when illegal; RFC 6791's IPv6 pool
		// or the translator's own address stands in when there is no form.
		s6, ok = st.rfc6791v6()
		if !ok {
			return src, dst, ports, translate.ReasonUntranslatableSrc
		}
	}
	d6, ok := st.addr6(dst, dstNoEAM, !inner)
	if !ok {
		return src, dst, ports, translate.ReasonUntranslatableDst
	}
	return s6, d6, ports, translate.ReasonNone
}

// addr4 maps one IPv6 address to IPv4: EAMT first, then pool6.
func (st *state) addr4(a netip.Addr) (netip.Addr, bool) {
	m, ok := st.map6(a)
	return m.addr, ok
}

// map6 is addr4 saying whether an EAM gave the address.
func (st *state) map6(a netip.Addr) (Mapping, bool) {
	if v4, ok := st.eamt.To4(a); ok {
		return Mapping{v4, true}, true
	}
	if !st.cfg.Pool6.IsValid() {
		return Mapping{}, false
	}
	v4, ok := st.cfg.Pool6.Extract(a)
	if !ok || !st.pool6Allows(v4, true) {
		return Mapping{}, false
	}
	return Mapping{addr: v4}, true
}

// addr6 maps one IPv4 address to IPv6: EAMT first (unless noEAM), then
// pool6.
//
// strict refuses the illegal addresses of RFC 7915 §4.1; the sources of
// ICMPv4 errors and the addresses of quoted packets are exempt, "for
// troubleshooting".
func (st *state) addr6(a netip.Addr, noEAM, strict bool) (netip.Addr, bool) {
	if !noEAM {
		if v6, ok := st.eamt.To6(a); ok {
			return v6, true
		}
	}
	if !st.cfg.Pool6.IsValid() || !st.pool6Allows(a, strict) {
		return netip.Addr{}, false
	}
	return st.cfg.Pool6.Embed(a), true
}

// pool6Allows applies the denylist, the ranges that never go through
// pool6 (RFC 7915 §4.1 and §5.1 illegal addresses: 0/8, 127/8, multicast,
// broadcast) and the RFC 6052 §3.1 restriction.
func (st *state) pool6Allows(v4 netip.Addr, strict bool) bool {
	b := v4.As4()
	if strict && (b[0] == 0 || b[0] == 127 || b[0] >= 224) {
		return false
	}
	for _, p := range st.cfg.Denylist4 {
		if p.Contains(v4) {
			return false
		}
	}
	return st.cfg.AllowNonGlobalWKP || st.cfg.Pool6.Permits(v4)
}

// rfc6791v4 picks the IPv4 source for an ICMPv6 error whose source has no
// IPv4 form: an address of the configured pool, or the translator's own.
func (st *state) rfc6791v4() (netip.Addr, bool) {
	p := st.cfg.RFC6791v4
	if !p.IsValid() {
		a := st.cfg.Addr4
		return a, a.IsValid()
	}
	return pick(p), true
}

// rfc6791v6 is rfc6791v4 for an ICMPv4 error whose source has no IPv6
// form.
func (st *state) rfc6791v6() (netip.Addr, bool) {
	p := st.cfg.RFC6791v6
	if !p.IsValid() {
		a := st.cfg.Addr6
		return a, a.IsValid()
	}
	return pick(p), true
}

// pick returns an address of p at random. RFC 6791 §5 recommends a random
// choice for each message, so that two hops of one traceroute are unlikely
// to show the same address and look like a routing loop. Host bits written
// into the configured prefix are ignored. Beyond 64 host bits only the low
// 64 vary, which is choice enough.
func pick(p netip.Prefix) netip.Addr {
	p = p.Masked()
	host := p.Addr().BitLen() - p.Bits()
	if host == 0 {
		return p.Addr()
	}
	r := rand.Uint64()
	if host < 64 {
		r &= 1<<host - 1
	}
	if p.Addr().Is4() {
		a := p.Addr().As4()
		binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])|uint32(r))
		return netip.AddrFrom4(a)
	}
	a := p.Addr().As16()
	binary.BigEndian.PutUint64(a[8:], binary.BigEndian.Uint64(a[8:])|r)
	return netip.AddrFrom16(a)
}

// Error4 maps the outer addresses of an ICMPv6 error: the same rules as any
// outer packet, with RFC 6791 for sources that have no IPv4 form.
func (p *policy) Error4(src, dst, _, _ netip.Addr, m translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	s, d, _, r := p.To4(src, dst, 0, m)
	return s, d, r
}

// Error6 maps the outer addresses of an ICMPv4 error (RFC 7757 §4.2.1
// rules 1 and 3 decide whether EAM applies to its source).
func (p *policy) Error6(src, dst, _, _ netip.Addr, m translate.Meta) (netip.Addr, netip.Addr, translate.Reason) {
	s, d, _, r := p.To6(src, dst, 0, m)
	return s, d, r
}
