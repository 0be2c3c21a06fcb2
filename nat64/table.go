package nat64

import (
	"math/bits"
	"sync"
)

// The session table keeps sessions in a slab (a slice of records reused
// through a free list) and finds them through two open-addressing indexes
// of 32-bit record numbers, one keyed by the IPv6 side of the session and
// one by the IPv4 side. A record is 48 bytes and an index slot 4, which is
// what lets a million sessions fit in about 70 MB; Go maps of the same keys
// cost more than twice that.
//
// The table is split in shards by the remote IPv4 endpoint (Z, z), the one
// part of a session both directions know before any lookup; each shard has
// its own lock, slab, indexes and expiry lists.

// session is one RFC 6146 session table entry:
// (X',x),(Y',y) <--> (T,t),(Z,z), Y' being Pool6+Z and y == z (§3.2).
type session struct {
	xhi, xlo uint64 // X', the IPv6 node
	t4, z4   uint32 // T (pool4 address) and Z (remote IPv4 address)
	xp, tp   uint16 // x and t (ports or ICMP identifiers)
	zp       uint16 // z (0 for ICMP)
	proto    uint8
	state    tcpState
	class    timerClass
	flags    sessionFlags
	expires  uint32 // in seconds since the table's epoch
	queued   uint32 // the expiry it had when put on its list
	prev     uint32 // expiry list links: record number + 1, 0 = none
	next     uint32
}

type sessionFlags uint8

const (
	// sessionUnbound: a V4 INIT session from an unsolicited SYN with no BIB
	// entry; its IPv6 side is not known yet (RFC 6146 §3.5.2.2).
	sessionUnbound sessionFlags = 1 << iota
	// sessionUsed: the slab slot holds a live session.
	sessionUsed
	// sessionLinked: the session is on the expiry list of its class.
	sessionLinked
)

// key6 and key4 identify a session from either side.
type key6 struct {
	xhi, xlo uint64
	z4       uint32
	xp, zp   uint16
	proto    uint8
}

type key4 struct {
	t4, z4 uint32
	tp, zp uint16
	proto  uint8
}

func (s *session) key6() key6 {
	return key6{xhi: s.xhi, xlo: s.xlo, z4: s.z4, xp: s.xp, zp: s.zp, proto: s.proto}
}

func (s *session) key4() key4 {
	return key4{t4: s.t4, z4: s.z4, tp: s.tp, zp: s.zp, proto: s.proto}
}

// mix is the hashing: a multiply-fold mixer with a per-table random
// seed, so that an attacker cannot aim flows at one probe chain.
func mix(a, b, seed uint64) uint64 {
	hi, lo := bits.Mul64(a^seed, b^0x9e3779b97f4a7c15)
	return hi ^ lo
}

// hash is k's hash, in two rounds: folding the ports into an address
// word by XOR would let different keys cancel out to the same input (and
// one probe chain).
func (k key6) hash(seed uint64) uint64 {
	return mix(mix(k.xhi, k.xlo, seed), uint64(k.z4)<<32|uint64(k.xp)<<16|uint64(k.zp), seed^uint64(k.proto))
}

func (k key4) hash(seed uint64) uint64 {
	return mix(uint64(k.t4)<<32|uint64(k.z4), uint64(k.tp)<<32|uint64(k.zp)<<16|uint64(k.proto), seed)
}

// index is an open-addressing hash index with linear probing. A slot holds
// a record number (+1; 0 marks an empty slot) in its low 24 bits and the
// top byte of the key's hash above them, so that a probe touches a record
// only when the tags match: one cache miss per lookup instead of one per
// probe. Deletion shifts later entries back instead of leaving tombstones,
// so probe chains never rot.
type index struct {
	slots []uint32
	mask  uint64
	n     int
}

const (
	recBits = 24
	recMask = 1<<recBits - 1 // so at most 16M records per slab
)

func tagOf(h uint64) uint32 { return uint32(h>>56) << recBits }

func newIndex(capacity int) index {
	size := 16
	for size*3/4 < capacity {
		size *= 2
	}
	return index{slots: make([]uint32, size), mask: uint64(size - 1)}
}

// shard is one lock's worth of the session table.
type shard struct {
	mu    sync.Mutex
	slab  []session
	free  []uint32 // record numbers free for reuse
	by6   index
	by4   index
	lists [numTimerClasses]expiryList
	seed  uint64
	// limit is the most records the slab may hold: recMask, as record
	// numbers are 24 bits; tests lower it to fill a shard.
	limit int
	_     [32]byte // keep neighbouring shards' locks on separate cache lines
}

type expiryList struct{ head, tail uint32 }

// find returns the record under hash h that match accepts, or 0: the
// probe sequence of every lookup, with the tag (top hash bits) checked
// before a record is read.
func (ix *index) find(h uint64, match func(r uint32) bool) uint32 {
	tag := tagOf(h)
	for i := h & ix.mask; ; i = (i + 1) & ix.mask {
		v := ix.slots[i]
		if v == 0 {
			return 0
		}
		if v&^recMask == tag && match(v&recMask) {
			return v & recMask
		}
	}
}

// add indexes record r under hash h, doubling the table first when it is
// three quarters full (hashOf gives the hash of a record already in it).
func (ix *index) add(r uint32, h uint64, hashOf func(uint32) uint64) {
	if (ix.n+1)*4 > len(ix.slots)*3 {
		old := ix.slots
		*ix = index{slots: make([]uint32, len(old)*2), mask: uint64(len(old)*2 - 1), n: ix.n}
		for _, v := range old {
			if q := v & recMask; q != 0 {
				ix.place(q, hashOf(q))
			}
		}
	}
	ix.place(r, h)
	ix.n++
}

func (ix *index) place(r uint32, h uint64) {
	i := h & ix.mask
	for ix.slots[i] != 0 {
		i = (i + 1) & ix.mask
	}
	ix.slots[i] = tagOf(h) | r
}

// del removes record r by backward-shift deletion (off the hot path).
func (ix *index) del(r uint32, hashOf func(uint32) uint64) {
	i := hashOf(r) & ix.mask
	for ix.slots[i]&recMask != r {
		if ix.slots[i] == 0 {
			return
		}
		i = (i + 1) & ix.mask
	}
	ix.n--
	for {
		ix.slots[i] = 0
		j := i
		for {
			j = (j + 1) & ix.mask
			v := ix.slots[j]
			if v == 0 {
				return
			}
			home := hashOf(v&recMask) & ix.mask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				ix.slots[i] = v
				i = j
				break
			}
		}
	}
}

func newShard(capacity int, seed uint64) *shard {
	return &shard{by6: newIndex(capacity), by4: newIndex(capacity), seed: seed, limit: recMask}
}

func (sh *shard) rec(i uint32) *session { return &sh.slab[i-1] }

// find6 returns the record number of the session with key k, or 0.
func (sh *shard) find6(k key6) uint32 {
	return sh.by6.find(k.hash(sh.seed), func(r uint32) bool {
		s := &sh.slab[r-1]
		return s.xhi == k.xhi && s.xlo == k.xlo && s.z4 == k.z4 && s.xp == k.xp && s.zp == k.zp && s.proto == k.proto && s.flags&sessionUnbound == 0
	})
}

// find4 returns the record number of the session with key k, or 0.
func (sh *shard) find4(k key4) uint32 {
	return sh.by4.find(k.hash(sh.seed), func(r uint32) bool {
		s := &sh.slab[r-1]
		return s.t4 == k.t4 && s.z4 == k.z4 && s.tp == k.tp && s.zp == k.zp && s.proto == k.proto
	})
}

// insert adds s (whose key fields are set) and returns its record number.
func (sh *shard) insert(s session) uint32 {
	var r uint32
	if n := len(sh.free); n > 0 {
		r = sh.free[n-1]
		sh.free = sh.free[:n-1]
		sh.slab[r-1] = s
	} else {
		sh.slab = append(sh.slab, s)
		r = uint32(len(sh.slab))
	}
	sh.slab[r-1].flags |= sessionUsed
	// (A shard holds at most recMask sessions; full tells callers first.)
	if s.flags&sessionUnbound == 0 {
		sh.by6.add(r, s.key6().hash(sh.seed), sh.hash6)
	}
	sh.by4.add(r, s.key4().hash(sh.seed), sh.hash4)
	return r
}

// full reports whether the shard can take no more sessions.
func (sh *shard) full() bool { return len(sh.free) == 0 && len(sh.slab) >= sh.limit }

// bind gives an unbound session its IPv6 side and indexes it.
func (sh *shard) bind(r uint32, xhi, xlo uint64, xp uint16) {
	s := sh.rec(r)
	s.xhi, s.xlo, s.xp = xhi, xlo, xp
	s.flags &^= sessionUnbound
	sh.by6.add(r, s.key6().hash(sh.seed), sh.hash6)
}

func (sh *shard) hash6(r uint32) uint64 { return sh.rec(r).key6().hash(sh.seed) }
func (sh *shard) hash4(r uint32) uint64 { return sh.rec(r).key4().hash(sh.seed) }

// remove deletes record r from both indexes, its expiry list and the slab.
func (sh *shard) remove(r uint32) {
	s := sh.rec(r)
	if s.flags&sessionUnbound == 0 {
		sh.by6.del(r, sh.hash6)
	}
	sh.by4.del(r, sh.hash4)
	sh.unlink(r)
	*s = session{}
	sh.free = append(sh.free, r)
}

// link appends r to the expiry list of its class; unlink takes it off.
func (sh *shard) link(r uint32) {
	s := sh.rec(r)
	s.flags |= sessionLinked
	s.queued = s.expires
	l := &sh.lists[s.class]
	s.prev, s.next = l.tail, 0
	if l.tail != 0 {
		sh.rec(l.tail).next = r
	} else {
		l.head = r
	}
	l.tail = r
}

func (sh *shard) unlink(r uint32) {
	s := sh.rec(r)
	if s.flags&sessionLinked == 0 {
		return
	}
	s.flags &^= sessionLinked
	l := &sh.lists[s.class]
	if s.prev != 0 {
		sh.rec(s.prev).next = s.next
	} else if l.head == r {
		l.head = s.next
	}
	if s.next != 0 {
		sh.rec(s.next).prev = s.prev
	} else if l.tail == r {
		l.tail = s.prev
	}
	s.prev, s.next = 0, 0
}

// touch sets r's class and expiry. Lists are ordered by the expiry each
// entry had when queued, which every entry of a class reaches in the order
// it was queued (one timeout per class). A later expiry in the same class
// is only written down: Tick re-queues such entries when it meets them.
// Moving the entry on every packet would touch its two neighbours and the
// tail, three cache misses an established flow does not need to pay.
func (sh *shard) touch(r uint32, class timerClass, expires uint32) {
	s := sh.rec(r)
	if s.flags&sessionLinked != 0 && s.class == class && int32(expires-s.queued) >= 0 {
		s.expires = expires
		return
	}
	sh.unlink(r)
	s.class, s.expires = class, expires
	sh.link(r)
}
