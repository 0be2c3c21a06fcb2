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

// String returns the rule as "internal <-> external".
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
	out      []side // by internal prefix length, longest first
	in       []side // by external prefix length, longest first
	opts     Options
	local    [][2]uint64        // Options.Local, when there are few
	localSet map[[2]uint64]bool // and when there are many
	short    bool               // every prefix is /48 or shorter: see Outbound
	// burstOut and burstIn: OutboundBatch and InboundBatch may take their
	// first pass, as there is one short rule and none of Options.Local
	// is under the prefix matched, so no packet the pass maps can be
	// one of the interface's own.
	burstOut, burstIn bool
}

// localScan is how many local addresses are compared one by one before a
// map is cheaper.
const localScan = 8

// New validates rules and returns a Mapper. Errors name the rule.
func New(rules []Rule, opts Options) (*Mapper, error) {
	m := &Mapper{opts: opts}
	for _, a := range opts.Local {
		if a.Is6() {
			m.local = append(m.local, words(a))
		}
	}
	if len(m.local) > localScan {
		m.localSet = map[[2]uint64]bool{}
		for _, w := range m.local {
			m.localSet[w] = true
		}
	}
	var maps []*mapping
	for i, r := range rules {
		mp, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("map66 rule %d (%v): %w", i, r, err)
		}
		for j, o := range maps {
			if o.rule.Internal == r.Internal {
				return nil, fmt.Errorf("map66 rule %d (%v): internal prefix already mapped by rule %d", i, r, j)
			}
			if o.rule.External == r.External {
				return nil, fmt.Errorf("map66 rule %d (%v): external prefix already mapped by rule %d", i, r, j)
			}
		}
		maps = append(maps, mp)
	}
	byLen := func(p func(*mapping) netip.Prefix) []side {
		sorted := slices.Clone(maps)
		slices.SortStableFunc(sorted, func(a, b *mapping) int { return p(b).Bits() - p(a).Bits() })
		out := make([]side, len(sorted))
		for i, mp := range sorted {
			out[i] = mp.side(p(mp) == mp.rule.Internal, opts)
		}
		return out
	}
	m.out = byLen(func(mp *mapping) netip.Prefix { return mp.rule.Internal })
	m.in = byLen(func(mp *mapping) netip.Prefix { return mp.rule.External })
	m.short = true
	for _, mp := range maps {
		m.short = m.short && mp.bits <= 48
	}
	if m.short && len(maps) == 1 && m.localSet == nil {
		m.burstOut, m.burstIn = !m.localUnder(&m.out[0]), !m.localUnder(&m.in[0])
	}
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

// Why a packet was not mapped.
const (
	ReasonNone         Reason = iota // mapped
	ReasonNotMine                    // no rule covers the address: pass it on unmapped
	ReasonTruncated                  // shorter than an IPv6 header
	ReasonSubnetFFFF                 // subnet 0xFFFF under a /48 mapping (RFC 6296 §3.2, §4.2)
	ReasonIIDAllOnes                 // all-ones interface identifier (§3.7)
	ReasonIIDZero                    // all-zero IID, with RefuseZeroIID
	ReasonLocalAddress               // the interface's own address: left alone
	ReasonBadEmbedded                // an ICMPv6 error whose quoted packet cannot be mapped
	numReasons
)

var reasonNames = [numReasons]string{"none", "not-mine", "truncated", "subnet-ffff", "iid-all-ones", "iid-zero", "local-address", "bad-embedded"}

// String returns the reason's name, as metrics label it.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "?"
}

// side is a mapping as one direction sees it: the prefix it matches, the
// prefix it writes and the adjustment for that direction. The Mapper keeps
// sides by value, longest prefix first, so that finding a packet's rule
// walks one array with two compares per rule.
type side struct {
	mhi, mlo uint64 // the first L bits
	fhi, flo uint64 // the prefix matched, zero-extended to L bits
	thi, tlo uint64 // the prefix written
	adj      uint16
	word     uint8 // how the checksum is kept: wordSubnet, wordIID, wordNone
	firstIID uint8 // wordIID: the first word that may carry the adjustment
	strict   bool  // wordSubnet: subnet 0xFFFF is refused
}

const (
	wordSubnet = iota // L <= 48: word 3 (§3.4)
	wordIID           // the first interface-ID word not 0xFFFF (§3.5)
	wordNone          // not neutral: the transport checksum is updated
)

func (mp *mapping) side(outbound bool, opts Options) side {
	s := side{mhi: mp.mhi, mlo: mp.mlo, fhi: mp.ihi, flo: mp.ilo, thi: mp.ehi, tlo: mp.elo, adj: mp.adj, firstIID: uint8(mp.firstIID)}
	if !outbound {
		s.fhi, s.flo, s.thi, s.tlo, s.adj = mp.ehi, mp.elo, mp.ihi, mp.ilo, ^mp.adj
	}
	switch {
	case !mp.neutral:
		s.word = wordNone
	case mp.fixed:
		// §3.2: outbound, subnet 0xFFFF cannot be told from 0 after
		// mapping; inbound it is an alias the RFC translates.
		s.word, s.strict = wordSubnet, outbound || opts.StrictInbound
	default:
		s.word = wordIID
	}
	return s
}

// matchHigh is match for rules of /64 or shorter, which only look at the
// high word.
func matchHigh(sides []side, hi uint64) *side {
	for i := range sides {
		if s := &sides[i]; hi&s.mhi == s.fhi {
			return s
		}
	}
	return nil
}

// match returns the longest rule of sides covering (hi, lo), or nil.
func match(sides []side, hi, lo uint64) *side {
	for i := range sides {
		if s := &sides[i]; hi&s.mhi == s.fhi && lo&s.mlo == s.flo {
			return s
		}
	}
	return nil
}

// apply rewrites address (hi, lo), which s matches, keeping its one's
// complement sum unless s is not neutral (RFC 6296 §3.2, §3.3).
func (s *side) apply(hi, lo uint64, refuseZeroIID bool) (uint64, uint64, Reason) {
	hi, lo = hi&^s.mhi|s.thi, lo&^s.mlo|s.tlo
	switch s.word {
	case wordSubnet:
		if uint16(hi) == 0xffff && s.strict {
			return hi, lo, ReasonSubnetFFFF
		}
		return s.subnet(hi), lo, ReasonNone
	case wordIID:
		return s.applyIID(hi, lo, refuseZeroIID)
	}
	return hi, lo, ReasonNone
}

// subnet puts the adjustment of a /48-or-shorter rule in word 3, the
// subnet ID (§3.4), of the high word hi, whose prefix is already rewritten.
func (s *side) subnet(hi uint64) uint64 {
	return hi&^0xffff | uint64(checksum.ApplyAdjustment(uint16(hi), s.adj))
}

// applyIID puts the adjustment in the first interface-ID word (after the
// prefix, for MAP66's longer ones) that is not 0xFFFF (§3.5, §3.7).
func (s *side) applyIID(hi, lo uint64, refuseZeroIID bool) (uint64, uint64, Reason) {
	if refuseZeroIID && lo == 0 {
		return hi, lo, ReasonIIDZero
	}
	for k := int(s.firstIID); k <= 7; k++ {
		sh := uint(48 - 16*(k-4))
		if w := uint16(lo >> sh); w != 0xffff {
			return hi, lo&^(0xffff<<sh) | uint64(checksum.ApplyAdjustment(w, s.adj))<<sh, ReasonNone
		}
	}
	return hi, lo, ReasonIIDAllOnes
}

// sides returns the rules for one direction.
func (m *Mapper) sides(outbound bool) []side {
	if outbound {
		return m.out
	}
	return m.in
}

// localUnder reports whether one of Options.Local is under the prefix s
// matches.
func (m *Mapper) localUnder(s *side) bool {
	for _, a := range m.local {
		if a[0]&s.mhi == s.fhi && a[1]&s.mlo == s.flo {
			return true
		}
	}
	return false
}

// isLocal reports whether (hi, lo) is one of Options.Local.
func (m *Mapper) isLocal(hi, lo uint64) bool {
	if m.localSet != nil {
		return m.localSet[[2]uint64{hi, lo}]
	}
	for _, a := range m.local {
		if a[0] == hi && a[1] == lo {
			return true
		}
	}
	return false
}

// MapAddr maps one address outbound (internal -> external) or inbound, as
// the packet functions do, for tools and tests.
func (m *Mapper) MapAddr(a netip.Addr, outbound bool) (netip.Addr, Reason) {
	if !a.Is6() {
		return a, ReasonNotMine
	}
	hi, lo := ipword.Words(a)
	sd := match(m.sides(outbound), hi, lo)
	if sd == nil {
		return a, ReasonNotMine
	}
	hi, lo, why := sd.apply(hi, lo, m.opts.RefuseZeroIID)
	if why != ReasonNone {
		return a, why
	}
	return ipword.From6(hi, lo), ReasonNone
}
