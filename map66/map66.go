package map66

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/internal/ipword"
)

// Rule maps an internal prefix to an external one: outbound packets get
// their source rewritten, inbound packets their destination (RFC 6296
// §2.1).
type Rule struct {
	Internal netip.Prefix `json:"internal"`
	External netip.Prefix `json:"external"`
}

func (r Rule) String() string { return r.Internal.String() + " <-> " + r.External.String() }

// Options change the RFC 6296 defaults.
type Options struct {
	// RefuseZeroIID also refuses an all-zero interface identifier for
	// prefixes longer than /48, as FreeBSD reads RFC 6296 §3.7 literally.
	RefuseZeroIID bool
	// Local are the addresses of the interface the mapper works on;
	// packets from (outbound) or to (inbound) them are left alone, as MAP66
	// did. Empty turns the check off.
	Local []netip.Addr
	// StrictInbound refuses inbound subnet 0xFFFF under a /48 or shorter
	// mapping, an alias of subnet 0 that outbound mapping never produces
	// (RFC 6296 §3.3 translates it; Linux and FreeBSD do).
	StrictInbound bool
}

// mapping is one compiled rule.
type mapping struct {
	rule     Rule
	bits     int    // L: the longer of the two lengths (§3.1, §3.7)
	ihi, ilo uint64 // the internal prefix, zero-extended to L bits
	ehi, elo uint64 // the external prefix
	mhi, mlo uint64 // the first L bits
	adj      uint16 // outbound adjustment; inbound adds ^adj
	neutral  bool   // a word outside the prefix carries the adjustment
	firstIID int    // the first word that may carry it (3 for L <= 48)
	fixed    bool   // L <= 48: always word 3
}

// Mapper applies a set of rules, longest prefix first. It is immutable and
// safe for concurrent use.
type Mapper struct {
	out   []*mapping // by internal prefix length, longest first
	in    []*mapping // by external prefix length, longest first
	opts  Options
	local map[[2]uint64]bool
}

// New validates rules and returns a Mapper. Errors name the rule.
func New(rules []Rule, opts Options) (*Mapper, error) {
	m := &Mapper{opts: opts}
	for _, a := range opts.Local {
		if a.Is6() {
			if m.local == nil {
				m.local = map[[2]uint64]bool{}
			}
			m.local[words(a)] = true
		}
	}
	for i, r := range rules {
		mp, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("map66 rule %d (%v): %w", i, r, err)
		}
		for j, o := range m.out {
			if o.rule.Internal == r.Internal {
				return nil, fmt.Errorf("map66 rule %d (%v): internal prefix already mapped by rule %d", i, r, j)
			}
			if o.rule.External == r.External {
				return nil, fmt.Errorf("map66 rule %d (%v): external prefix already mapped by rule %d", i, r, j)
			}
		}
		m.out = append(m.out, mp)
		m.in = append(m.in, mp)
	}
	slices.SortStableFunc(m.out, func(a, b *mapping) int { return b.rule.Internal.Bits() - a.rule.Internal.Bits() })
	slices.SortStableFunc(m.in, func(a, b *mapping) int { return b.rule.External.Bits() - a.rule.External.Bits() })
	return m, nil
}

func compile(r Rule) (*mapping, error) {
	for _, p := range []netip.Prefix{r.Internal, r.External} {
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("%v is not an IPv6 prefix", p)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("%v has bits set after its length", p)
		}
		if p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() || p.Addr().IsUnspecified() && p.Bits() != 0 {
			return nil, fmt.Errorf("%v is not a unicast prefix", p)
		}
	}
	if r.Internal == r.External {
		return nil, fmt.Errorf("internal and external prefixes are the same")
	}
	L := max(r.Internal.Bits(), r.External.Bits())
	if L == 0 {
		return nil, fmt.Errorf("a /0 mapping maps nothing")
	}
	mp := &mapping{rule: r, bits: L}
	m := maskOf(L)
	mp.mhi, mp.mlo = m[0], m[1]
	mp.ihi, mp.ilo = ipword.Words(r.Internal.Addr())
	mp.ehi, mp.elo = ipword.Words(r.External.Addr())
	// RFC 6296 §3.1: the adjustment is internal minus external, over the
	// zero-extended prefixes.
	mp.adj = checksum.Adjustment(checksum.AddrSum(r.Internal.Addr()), checksum.AddrSum(r.External.Addr()))
	switch {
	case L <= 48:
		mp.neutral, mp.fixed, mp.firstIID = true, true, 3
	case L <= 112:
		// RFC 6296 §3.5 for /49../64; beyond, the MAP66 extension: the
		// first whole word after the prefix.
		mp.neutral, mp.firstIID = true, max(4, (L+15)/16)
	default:
		// No word is left to absorb the change: the transport checksum
		// is updated instead (see Mapper doc).
		mp.neutral = false
	}
	return mp, nil
}

func words(a netip.Addr) [2]uint64 {
	hi, lo := ipword.Words(a)
	return [2]uint64{hi, lo}
}

func maskOf(bits int) [2]uint64 {
	switch {
	case bits >= 128:
		return [2]uint64{^uint64(0), ^uint64(0)}
	case bits > 64:
		return [2]uint64{^uint64(0), ^uint64(0) << (128 - bits)}
	case bits == 64:
		return [2]uint64{^uint64(0), 0}
	case bits > 0:
		return [2]uint64{^uint64(0) << (64 - bits), 0}
	}
	return [2]uint64{}
}

// Reason says why a packet was not mapped.
type Reason uint8

const (
	ReasonNone         Reason = iota
	ReasonNotMine             // no rule covers the address: pass it on unmapped
	ReasonTruncated           // shorter than an IPv6 header
	ReasonSubnetFFFF          // subnet 0xFFFF under a /48 mapping (RFC 6296 §3.2, §4.2)
	ReasonIIDAllOnes          // all-ones interface identifier (§3.7)
	ReasonIIDZero             // all-zero IID, with RefuseZeroIID
	ReasonLocalAddress        // the interface's own address: left alone
	ReasonBadEmbedded         // an ICMPv6 error whose quoted packet cannot be mapped
	numReasons
)

var reasonNames = [numReasons]string{"none", "not-mine", "truncated", "subnet-ffff", "iid-all-ones", "iid-zero", "local-address", "bad-embedded"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "?"
}

// mapWords rewrites address (hi, lo) from prefix (fhi, flo) to (thi, tlo)
// with adjustment adj, keeping its one's-complement sum when the mapping is
// neutral (RFC 6296 §3.2, §3.3). Words travel as scalars: Go keeps them in
// registers, where [2]uint64 arrays would go through memory.
func (mp *mapping) mapWords(hi, lo, fhi, flo, thi, tlo uint64, adj uint16, outbound bool, opts *Options) (uint64, uint64, Reason) {
	if hi&mp.mhi != fhi || lo&mp.mlo != flo {
		return hi, lo, ReasonNotMine
	}
	hi, lo = hi&^mp.mhi|thi, lo&^mp.mlo|tlo
	if !mp.neutral {
		return hi, lo, ReasonNone
	}
	if mp.fixed {
		// Word 3, the subnet ID (§3.4).
		w := uint16(hi)
		if w == 0xffff && (outbound || opts.StrictInbound) {
			// §3.2: subnet 0xFFFF cannot be told from 0 after mapping.
			return hi, lo, ReasonSubnetFFFF
		}
		return hi&^0xffff | uint64(checksum.ApplyAdjustment(w, adj)), lo, ReasonNone
	}
	// §3.5: the first interface-ID word (after the prefix, for MAP66's
	// longer ones) that is not 0xFFFF.
	if opts.RefuseZeroIID && lo == 0 {
		return hi, lo, ReasonIIDZero
	}
	for k := mp.firstIID; k <= 7; k++ {
		s := uint(48 - 16*(k-4))
		if w := uint16(lo >> s); w != 0xffff {
			return hi, lo&^(0xffff<<s) | uint64(checksum.ApplyAdjustment(w, adj))<<s, ReasonNone
		}
	}
	return hi, lo, ReasonIIDAllOnes
}

// mapAddr applies the longest matching rule to address (hi, lo).
func (m *Mapper) mapAddr(hi, lo uint64, outbound bool) (uint64, uint64, Reason) {
	list := m.in
	if outbound {
		list = m.out
	}
	for _, mp := range list {
		var nhi, nlo uint64
		var why Reason
		if outbound {
			nhi, nlo, why = mp.mapWords(hi, lo, mp.ihi, mp.ilo, mp.ehi, mp.elo, mp.adj, true, &m.opts)
		} else {
			nhi, nlo, why = mp.mapWords(hi, lo, mp.ehi, mp.elo, mp.ihi, mp.ilo, ^mp.adj, false, &m.opts)
		}
		if why == ReasonNotMine {
			continue
		}
		return nhi, nlo, why
	}
	return hi, lo, ReasonNotMine
}

// neutralFor reports whether the rule that maps (hi, lo) is neutral.
func (m *Mapper) neutralFor(hi, lo uint64, outbound bool) bool {
	list := m.in
	if outbound {
		list = m.out
	}
	for _, mp := range list {
		fhi, flo := mp.ehi, mp.elo
		if outbound {
			fhi, flo = mp.ihi, mp.ilo
		}
		if hi&mp.mhi == fhi && lo&mp.mlo == flo {
			return mp.neutral
		}
	}
	return true
}

// MapAddr maps one address outbound (internal -> external) or inbound, as
// the packet functions do, for tools and tests.
func (m *Mapper) MapAddr(a netip.Addr, outbound bool) (netip.Addr, Reason) {
	if !a.Is6() {
		return a, ReasonNotMine
	}
	hi, lo := ipword.Words(a)
	hi, lo, why := m.mapAddr(hi, lo, outbound)
	if why != ReasonNone {
		return a, why
	}
	return ipword.From6(hi, lo), ReasonNone
}
