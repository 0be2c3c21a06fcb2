package siit

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/v6xlat/xlat/internal/ipword"
)

// EAM is one Explicit Address Mapping (RFC 7757 §3.1): an IPv4 prefix and
// an IPv6 prefix, translated into each other by suffix copy.
type EAM struct {
	IPv4 netip.Prefix `json:"ipv4"`
	IPv6 netip.Prefix `json:"ipv6"`
}

// String returns the entry as "IPv6 prefix <-> IPv4 prefix".
func (e EAM) String() string { return e.IPv6.String() + " <-> " + e.IPv4.String() }

// EAMT is an immutable Explicit Address Mapping Table with longest-prefix
// match in both directions. A lookup probes one hash table per prefix length
// in use, longest first, so it costs O(prefix bits) at worst and never scans
// the entries. Build one with NewEAMT; replace it whole to update.
type EAMT struct {
	entries []EAM
	by4     []lenTable4 // descending prefix length
	by6     []lenTable6
}

type lenTable4 struct {
	bits int
	m    map[uint32]int32
}

type key6 struct{ hi, lo uint64 }

type lenTable6 struct {
	bits int
	m    map[key6]int32
}

// NewEAMT validates entries and builds the table. RFC 7757 §3.2: a missing
// length means a host prefix, and the IPv4 suffix may not be longer than the
// IPv6 suffix. §5: two entries with the same IPv4 or the same IPv6 prefix
// are refused, because which one applies would be unspecified.
func NewEAMT(entries []EAM) (*EAMT, error) {
	t := &EAMT{entries: slices.Clone(entries)}
	idx4 := map[int]map[uint32]int32{}
	idx6 := map[int]map[key6]int32{}
	for i, e := range t.entries {
		if !e.IPv4.IsValid() || !e.IPv4.Addr().Is4() {
			return nil, fmt.Errorf("eamt[%d] (%v): ipv4 %q is not an IPv4 prefix", i, e, e.IPv4)
		}
		if !e.IPv6.IsValid() || !e.IPv6.Addr().Is6() || e.IPv6.Addr().Is4In6() {
			return nil, fmt.Errorf("eamt[%d] (%v): ipv6 %q is not an IPv6 prefix", i, e, e.IPv6)
		}
		if e.IPv4.Masked() != e.IPv4 || e.IPv6.Masked() != e.IPv6 {
			return nil, fmt.Errorf("eamt[%d] (%v): host bits set after the prefix length", i, e)
		}
		if 32-e.IPv4.Bits() > 128-e.IPv6.Bits() {
			return nil, fmt.Errorf("eamt[%d] (%v): the IPv4 suffix (%d bits) is longer than the IPv6 suffix (%d bits) (RFC 7757 §3.2)",
				i, e, 32-e.IPv4.Bits(), 128-e.IPv6.Bits())
		}
		m4 := idx4[e.IPv4.Bits()]
		if m4 == nil {
			m4 = map[uint32]int32{}
			idx4[e.IPv4.Bits()] = m4
		}
		k4 := v4key(e.IPv4.Addr())
		if j, dup := m4[k4]; dup {
			return nil, fmt.Errorf("eamt[%d] (%v): IPv4 prefix %v already used by eamt[%d] (%v) (RFC 7757 §5)", i, e, e.IPv4, j, t.entries[j])
		}
		m4[k4] = int32(i)
		m6 := idx6[e.IPv6.Bits()]
		if m6 == nil {
			m6 = map[key6]int32{}
			idx6[e.IPv6.Bits()] = m6
		}
		k6 := v6key(e.IPv6.Addr())
		if j, dup := m6[k6]; dup {
			return nil, fmt.Errorf("eamt[%d] (%v): IPv6 prefix %v already used by eamt[%d] (%v) (RFC 7757 §5)", i, e, e.IPv6, j, t.entries[j])
		}
		m6[k6] = int32(i)
	}
	for bits, m := range idx4 {
		t.by4 = append(t.by4, lenTable4{bits, m})
	}
	for bits, m := range idx6 {
		t.by6 = append(t.by6, lenTable6{bits, m})
	}
	slices.SortFunc(t.by4, func(a, b lenTable4) int { return b.bits - a.bits })
	slices.SortFunc(t.by6, func(a, b lenTable6) int { return b.bits - a.bits })
	return t, nil
}

// Entries returns a copy of the entries, in configuration order.
func (t *EAMT) Entries() []EAM {
	if t == nil {
		return nil
	}
	return slices.Clone(t.entries)
}

// Len is the number of entries.
func (t *EAMT) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

func v4key(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func v6key(a netip.Addr) key6 {
	hi, lo := ipword.Words(a)
	return key6{hi, lo}
}

func mask4(k uint32, bits int) uint32 {
	if bits == 0 {
		return 0
	}
	return k &^ (1<<(32-bits) - 1)
}

func mask6(k key6, bits int) key6 {
	switch {
	case bits == 0:
		return key6{}
	case bits < 64:
		return key6{k.hi &^ (1<<(64-bits) - 1), 0}
	case bits == 64:
		return key6{k.hi, 0}
	case bits < 128:
		return key6{k.hi, k.lo &^ (1<<(128-bits) - 1)}
	}
	return k
}

// Lookup4 returns the entry whose IPv4 prefix is the longest match for a.
func (t *EAMT) Lookup4(a netip.Addr) (EAM, bool) {
	if t == nil || !a.Is4() {
		return EAM{}, false
	}
	k := v4key(a)
	for i := range t.by4 {
		lt := &t.by4[i]
		if j, ok := lt.m[mask4(k, lt.bits)]; ok {
			return t.entries[j], true
		}
	}
	return EAM{}, false
}

// Lookup6 returns the entry whose IPv6 prefix is the longest match for a.
func (t *EAMT) Lookup6(a netip.Addr) (EAM, bool) {
	if t == nil || !a.Is6() {
		return EAM{}, false
	}
	k := v6key(a)
	for i := range t.by6 {
		lt := &t.by6[i]
		if j, ok := lt.m[mask6(k, lt.bits)]; ok {
			return t.entries[j], true
		}
	}
	return EAM{}, false
}

// To6 translates a by the EAMT (RFC 7757 §3.3.1): the IPv4 suffix is
// copied right after the IPv6 prefix, and the rest is zero.
func (t *EAMT) To6(a netip.Addr) (netip.Addr, bool) {
	e, ok := t.Lookup4(a)
	if !ok {
		return netip.Addr{}, false
	}
	s4 := 32 - e.IPv4.Bits()
	host := uint64(v4key(a)) & (1<<s4 - 1)
	p := v6key(e.IPv6.Addr())
	// Place the s4 host bits at bit position len6 (from the top).
	shift := 128 - e.IPv6.Bits() - s4 // bits below the host bits
	var add key6
	switch {
	case s4 == 0:
	case shift >= 64:
		add.hi = host << (shift - 64)
	case shift == 0:
		add.lo = host
	default:
		add.lo = host << shift
		add.hi = host >> (64 - shift)
	}
	return ipword.From6(p.hi|add.hi, p.lo|add.lo), true
}

// To4 translates a by the EAMT (RFC 7757 §3.3.2): the first 32-len4 bits of
// the IPv6 suffix become the IPv4 suffix; the rest is discarded.
func (t *EAMT) To4(a netip.Addr) (netip.Addr, bool) {
	e, ok := t.Lookup6(a)
	if !ok {
		return netip.Addr{}, false
	}
	s4 := 32 - e.IPv4.Bits()
	var host uint32
	if s4 > 0 {
		k := v6key(a)
		shift := 128 - e.IPv6.Bits() - s4
		var v uint64
		switch {
		case shift >= 64:
			v = k.hi >> (shift - 64)
		case shift == 0:
			v = k.lo
		default:
			v = k.lo>>shift | k.hi<<(64-shift)
		}
		host = uint32(v) & (1<<s4 - 1)
	}
	return ipword.From4(v4key(e.IPv4.Addr()) | host), true
}
