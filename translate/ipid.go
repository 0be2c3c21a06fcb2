package translate

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
)

// idBuckets is how many Identification counters a translator keeps.
const (
	idBits    = 12
	idBuckets = 1 << idBits
)

// idGen hands out IPv4 Identifications (RFC 6864 §4, RFC 7739 §5) for the
// packets a translator originates or translates without one: a counter per
// bucket of (source, destination, protocol), the bucket chosen by a keyed
// hash and each counter starting at a random value, as Linux does. An
// observer learns nothing of other flows' IDs from its own (they come from
// other counters, at offsets it cannot guess), the IDs of one flow do not
// repeat before its counter has gone round 2^16 values, and packets of
// different flows on different cores rarely touch the same word.
//
// The hash is multiply-shift with secret keys: the addresses and the
// protocol, XORed with one random word, times a random odd one, the top
// twelve bits. An observer never sees a bucket's number, only the values
// of the counters its own flows draw from, so it has nothing to learn the
// keys from; and it costs a multiply, where a general keyed hash (SipHash,
// AES) would have cost a tenth of a small packet's translation.
type idGen struct {
	k0, k1 uint64
	fixed  bool // fixedIDs: one counter from 0
	ctr    [idBuckets]atomic.Uint32
}

// fixedIDs makes every translator created while it is set hand out IDs
// from one counter starting at 0, so that tests can compare two
// translators' output byte for byte.
var fixedIDs bool

func (g *idGen) init() {
	if g.fixed = fixedIDs; g.fixed {
		return
	}
	// ChaCha8, seeded by the operating system.
	g.k0, g.k1 = rand.Uint64(), rand.Uint64()|1
	for i := range g.ctr {
		g.ctr[i].Store(rand.Uint32())
	}
}

// next returns the next Identification for packets from src to dst
// (IPv4 addresses as words) carrying protocol proto.
func (g *idGen) next(src, dst uint32, proto uint8) uint16 {
	if g.fixed {
		return uint16(g.ctr[0].Add(1))
	}
	h := (uint64(src)<<32 | uint64(dst) ^ uint64(proto)<<24 ^ g.k0) * g.k1
	return uint16(g.ctr[h>>(64-idBits)].Add(1))
}

// nextID is next for header addresses.
func (x *Translator) nextID(src, dst [4]byte, proto uint8) uint16 {
	return x.ids.next(binary.BigEndian.Uint32(src[:]), binary.BigEndian.Uint32(dst[:]), proto)
}
