package fib

import (
	"net/netip"
)

// Cache keeps the kernel's answers for packets arriving on one interface,
// by source and destination, for one goroutine (it has no locks). Its
// answers are dropped whole when the Watcher's generation moves.
type Cache struct {
	look *Lookup
	w    *Watcher
	in   int
	gen  uint64
	m    map[pair]Result

	// Misses counts the lookups the kernel was asked, Errors those it
	// could not answer.
	Misses, Errors uint64
}

type pair struct{ src, dst netip.Addr }

// CacheSize is how many answers a Cache keeps before it starts over.
const CacheSize = 1 << 16

// NewCache returns a cache of answers for packets arriving on interface
// in, invalidated by w's announcements.
func NewCache(l *Lookup, w *Watcher, in int) *Cache {
	return &Cache{look: l, w: w, in: in, m: make(map[pair]Result, 1024)}
}

// Sync drops every answer if the kernel announced a change since the last
// call. A datapath calls it once a burst, before its lookups.
func (c *Cache) Sync() {
	if g := c.w.Generation(); g != c.gen {
		clear(c.m)
		c.gen = g
	}
}

// Route is the kernel's answer for a packet from src to dst; ok is false
// when the kernel could not be asked, and the packet is the kernel's to
// handle.
func (c *Cache) Route(src, dst netip.Addr) (r Result, ok bool) {
	k := pair{src, dst}
	if r, ok := c.m[k]; ok {
		return r, true
	}
	c.Misses++
	r, err := c.look.Lookup(Query{In: c.in, Src: src, Dst: dst})
	if err != nil {
		c.Errors++
		return r, false
	}
	if len(c.m) >= CacheSize {
		clear(c.m) // a flood of new pairs: start over rather than track age
	}
	c.m[k] = r
	return r, true
}

// Len is the number of answers held.
func (c *Cache) Len() int { return len(c.m) }
