package nat64

import (
	"net/netip"
	"sync"

	"github.com/v6xlat/xlat/internal/ipword"
)

// The BIB (RFC 6146 §3.1) maps an IPv6 transport address to an IPv4 one,
// per protocol: (X',x) <--> (T,t), each side at most once, which is what
// makes mapping and filtering endpoint-independent. Dynamic entries live as
// long as they have sessions; static entries until removed.
//
// The BIB is touched when a session is created or deleted, never on the
// path of an established flow (sessions carry their own copy of the
// mapping), so one lock is enough.

type bibEntry struct {
	xhi, xlo uint64
	t4       uint32
	sessions uint32 // live sessions using the entry
	xp, tp   uint16
	proto    uint8
	static   bool
}

type bibKey6 struct {
	xhi, xlo uint64
	xp       uint16
	proto    uint8
}

type bibKey4 struct {
	t4    uint32
	tp    uint16
	proto uint8
}

func (b *bibEntry) key6() bibKey6 { return bibKey6{b.xhi, b.xlo, b.xp, b.proto} }
func (b *bibEntry) key4() bibKey4 { return bibKey4{b.t4, b.tp, b.proto} }

func (k bibKey6) hash(seed uint64) uint64 {
	return mix(mix(k.xhi, k.xlo, seed), uint64(k.xp)<<8|uint64(k.proto), seed)
}

func (k bibKey4) hash(seed uint64) uint64 {
	return mix(uint64(k.t4), uint64(k.tp)<<8|uint64(k.proto), seed)
}

type bib struct {
	mu   sync.Mutex
	slab []bibEntry
	free []uint32
	by6  index
	by4  index
	seed uint64
	// limit is the most records the slab may hold: recMask, as record
	// numbers are 24 bits; tests lower it to fill the BIB.
	limit int

	// Entries per protocol (protoSlot), for pool4 use.
	perProto [3]int

	// Session counts per IPv6 source and per /64, for the limits.
	perSource map[[2]uint64]uint32
	perPrefix map[uint64]uint32
}

func newBIB(capacity int, seed uint64) *bib {
	return &bib{
		by6: newIndex(capacity), by4: newIndex(capacity), seed: seed, limit: recMask,
		perSource: map[[2]uint64]uint32{}, perPrefix: map[uint64]uint32{},
	}
}

func (b *bib) rec(i uint32) *bibEntry { return &b.slab[i-1] }

// full reports whether the BIB can take no more entries.
func (b *bib) full() bool { return len(b.free) == 0 && len(b.slab) >= b.limit }

func (b *bib) find6(k bibKey6) uint32 {
	return b.by6.find(k.hash(b.seed), func(r uint32) bool {
		e := &b.slab[r-1]
		return e.xhi == k.xhi && e.xlo == k.xlo && e.xp == k.xp && e.proto == k.proto
	})
}

func (b *bib) find4(k bibKey4) uint32 {
	return b.by4.find(k.hash(b.seed), func(r uint32) bool {
		e := &b.slab[r-1]
		return e.t4 == k.t4 && e.tp == k.tp && e.proto == k.proto
	})
}

func (b *bib) insert(e bibEntry) uint32 {
	var r uint32
	if n := len(b.free); n > 0 {
		r = b.free[n-1]
		b.free = b.free[:n-1]
		b.slab[r-1] = e
	} else {
		b.slab = append(b.slab, e)
		r = uint32(len(b.slab))
	}
	b.perProto[protoSlot(e.proto)]++
	b.by6.add(r, e.key6().hash(b.seed), func(q uint32) uint64 { return b.hashOf(q, true) })
	b.by4.add(r, e.key4().hash(b.seed), func(q uint32) uint64 { return b.hashOf(q, false) })
	return r
}

func (b *bib) hashOf(r uint32, is6 bool) uint64 {
	e := b.rec(r)
	if is6 {
		return e.key6().hash(b.seed)
	}
	return e.key4().hash(b.seed)
}

func (b *bib) remove(r uint32) {
	b.by6.del(r, func(q uint32) uint64 { return b.hashOf(q, true) })
	b.by4.del(r, func(q uint32) uint64 { return b.hashOf(q, false) })
	b.perProto[protoSlot(b.slab[r-1].proto)]--
	b.slab[r-1] = bibEntry{}
	b.free = append(b.free, r)
}

// protoSlot numbers the BIB's protocols: TCP, UDP, ICMP.
func protoSlot(proto uint8) int {
	switch Protocol(proto) {
	case TCP:
		return 0
	case UDP:
		return 1
	}
	return 2
}

// BIBEntry is a binding as the API shows it.
type BIBEntry struct {
	Proto  Protocol
	IPv6   netip.AddrPort
	IPv4   netip.AddrPort
	Static bool
	// Sessions is the number of live sessions using the binding.
	Sessions int
}

func (e *bibEntry) public() BIBEntry {
	return BIBEntry{
		Proto:    Protocol(e.proto),
		IPv6:     netip.AddrPortFrom(ipword.From6(e.xhi, e.xlo), e.xp),
		IPv4:     netip.AddrPortFrom(ipword.From4(e.t4), e.tp),
		Static:   e.static,
		Sessions: int(e.sessions),
	}
}
