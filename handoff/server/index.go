package server

import (
	"hash/maphash"
	"math/bits"
)

// clientIndex finds the slot of a client: an open-addressing hash table
// of slot indices, the key read from the slot itself. At 4 octets a cell
// and at most half full it costs about 8 octets per binding where a Go
// map[clientKey]int32 costs 40-60, which is what lets 1,000 full tables
// fit in 8 GiB. The seed is per table because client addresses are
// chosen by whoever sends the packets.
type clientIndex struct {
	cells []int32 // slot index, or none
	mask  uint32
	seed  maphash.Seed
}

func newClientIndex(slots int) clientIndex {
	n := 1 << bits.Len(uint(2*slots-1)) // a power of two ≥ 2·slots
	c := clientIndex{cells: make([]int32, n), mask: uint32(n - 1), seed: maphash.MakeSeed()}
	for i := range c.cells {
		c.cells[i] = none
	}
	return c
}

func (c *clientIndex) hash(k clientKey) uint32 {
	var b [18]byte
	copy(b[:], k.addr[:])
	b[16], b[17] = byte(k.port>>8), byte(k.port)
	return uint32(maphash.Bytes(c.seed, b[:]))
}

// find returns the cell holding k, or the empty cell where it would go.
func (c *clientIndex) find(slots []slot, k clientKey) uint32 {
	for h := c.hash(k) & c.mask; ; h = (h + 1) & c.mask {
		if i := c.cells[h]; i == none || slots[i].client == k {
			return h
		}
	}
}

func (c *clientIndex) get(slots []slot, k clientKey) (int32, bool) {
	i := c.cells[c.find(slots, k)]
	return i, i != none
}

func (c *clientIndex) put(slots []slot, i int32) { c.cells[c.find(slots, slots[i].client)] = i }

// remove deletes k by shifting back the cells after it, so lookups never
// need tombstones (Knuth's algorithm R for linear probing).
func (c *clientIndex) remove(slots []slot, k clientKey) {
	h := c.find(slots, k)
	if c.cells[h] == none {
		return
	}
	for j := h; ; {
		c.cells[h] = none
		for {
			j = (j + 1) & c.mask
			i := c.cells[j]
			if i == none {
				return
			}
			home := c.hash(slots[i].client) & c.mask
			// Move cell j into the hole at h unless its home lies
			// cyclically in (h, j].
			if (j > h && (home <= h || home > j)) || (j < h && home <= h && home > j) {
				c.cells[h] = i
				h = j
				break
			}
		}
	}
}
