package nat64

import (
	"encoding/binary"
	"net/netip"

	"github.com/v6xlat/xlat/internal/ipword"
)

// Allocator supplies the IPv4 side of new BIB entries. The pool4 allocator
// is the default; the handoff client (which asks an IPv4 server for ports)
// implements it too.
type Allocator interface {
	// Allocate returns a free IPv4 transport address for the IPv6 endpoint
	// src (protocol p), or false when none is left. inUse reports whether a
	// candidate is bound already. Called with the BIB locked.
	Allocate(p Protocol, src netip.AddrPort, inUse func(netip.AddrPort) bool) (netip.AddrPort, bool)
	// Release returns an address whose binding ended.
	Release(p Protocol, a netip.AddrPort)
}

// maxProbes bounds the search for a free port, so that an exhausted pool
// costs a new flow a bounded amount of work rather than a scan of 64k
// ports under the BIB lock.
const maxProbes = 4096

// pool4Allocator is RFC 6056 algorithm 3 over pool4: a keyed hash of the
// IPv6 endpoint picks the address (so all of one host's bindings share it,
// "paired" pooling, RFC 4787 REQ-2) and a starting offset; a counter walks
// from there. Parity and the 0-1023 / 1024-65535 class of the source port
// are kept (RFC 6146 §3.5.1.1, RFC 4787 REQ-3a, REQ-4).
type pool4Allocator struct {
	pools   map[Protocol][]poolRange
	secret  [2]uint64
	counter uint32
}

func (a *pool4Allocator) Allocate(p Protocol, src netip.AddrPort, inUse func(netip.AddrPort) bool) (netip.AddrPort, bool) {
	return a.allocate(p, src, inUse, 0, 0)
}

// allocate is Allocate with an alignment: when mask is not zero, only ports
// whose bits 1 and up, masked, equal want are considered (see
// Translator.shard4). It returns false when no such port is free.
func (a *pool4Allocator) allocate(p Protocol, src netip.AddrPort, inUse func(netip.AddrPort) bool, want, mask uint16) (netip.AddrPort, bool) {
	ranges := a.pools[p]
	if len(ranges) == 0 {
		return netip.AddrPort{}, false
	}
	hi, lo := ipword.Words(src.Addr())
	h := mix(hi^a.secret[0], lo^a.secret[1], uint64(p))
	// The address: paired pooling by the IPv6 address alone.
	total := uint64(0)
	for _, r := range ranges {
		total += uint64(r.last-r.first) + 1
	}
	pick := h % total
	var addrRange poolRange
	var addr uint32
	for _, r := range ranges {
		n := uint64(r.last-r.first) + 1
		if pick < n {
			addrRange, addr = r, r.first+uint32(pick)
			break
		}
		pick -= n
	}
	offset := uint32(mix(h, uint64(src.Port()), a.secret[1]) >> 32)
	a.counter++
	x := src.Port()
	keepParity := p != ICMP
	low := x < 1024
	// First the preferred class and parity on the picked address, then any
	// port there, then the other addresses.
	for pass := 0; pass < 3; pass++ {
		for _, r := range ranges {
			if pass < 2 && r != addrRange {
				continue
			}
			if pass == 2 && r == addrRange {
				continue
			}
			first, last := r.ports.Min, r.ports.Max
			if pass == 0 && p != ICMP {
				if low && last > 1023 {
					last = 1023
				}
				if !low && first < 1024 {
					first = 1024
				}
			}
			if first > last {
				continue
			}
			n := uint32(last-first) + 1
			probes := min(n, maxProbes)
			start := offset + a.counter
			step := uint32(1)
			if mask != 0 {
				// Walk only the aligned ports: first aligned one, then
				// every 2*(mask+1).
				step = 2 * (uint32(mask) + 1)
				base := uint32(first) &^ (step - 1)
				aligned := base | uint32(want)<<1 | uint32(x&1)*boolU32(keepParity && pass == 0)
				if aligned < uint32(first) {
					aligned += step
				}
				if aligned > uint32(last) {
					continue
				}
				first = uint16(aligned)
				n = (uint32(last)-aligned)/step + 1
				probes = min(n, maxProbes)
			}
			for i := uint32(0); i < probes; i++ {
				port := first + uint16(((start+i)%n)*step)
				if pass == 0 && keepParity && port&1 != x&1 && mask == 0 {
					if port < last {
						port++
					} else if port > first {
						port--
					}
					if port&1 != x&1 {
						continue
					}
				}
				// The picked address, or on the last pass the first of
				// another range (one address per range bounds the search).
				t := addr
				if pass == 2 || t < r.first || t > r.last {
					t = r.first
				}
				if cand := netip.AddrPortFrom(v4addr(t), port); !inUse(cand) {
					return cand, true
				}
			}
		}
	}
	return netip.AddrPort{}, false
}

func (a *pool4Allocator) Release(Protocol, netip.AddrPort) {}

func v4addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
