package nat64

import (
	"net/netip"
	"sync"

	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/translate"
)

// Fragments (RFC 6146 §3.4): only the first fragment of a datagram carries
// ports, so the first one's translation is remembered under the datagram's
// addresses, protocol and Identification, and later fragments take the same
// addresses. What is remembered is bounded (maxFragments) and kept for
// fragmentLifetime after the last fragment seen, at least RFC 6146's
// FRAGMENT_MIN of 2 s. A later fragment that arrives before its first is
// dropped and counted as no-binding: reassembly in front of the translator
// (as Linux does for Jool) is the way to accept reordered fragments.

const (
	maxFragments     = 1 << 16
	fragmentLifetime = 2 // seconds
)

type fragKey struct {
	src, dst [2]uint64
	id       uint32
	proto    uint8
}

type fragVal struct {
	src, dst [2]uint64
	expires  uint32
}

type fragments struct {
	mu sync.Mutex
	m  map[fragKey]fragVal
}

func addrKey(a netip.Addr) [2]uint64 {
	hi, lo := ipword.Words(a)
	return [2]uint64{hi, lo}
}

func fromKey(k [2]uint64, v4 bool) netip.Addr {
	if v4 {
		return ipword.From4(uint32(k[1]))
	}
	return ipword.From6(k[0], k[1])
}

// remember records the translation of a first fragment.
func (x *Translator) remember(src, dst netip.Addr, m translate.Meta, osrc, odst netip.Addr) {
	f := &x.frags
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[fragKey]fragVal{}
	}
	k := fragKey{addrKey(src), addrKey(dst), m.FragmentID(), m.Proto()}
	if _, ok := f.m[k]; !ok && len(f.m) >= maxFragments {
		return
	}
	f.m[k] = fragVal{addrKey(osrc), addrKey(odst), x.now32() + fragmentLifetime}
}

// recall returns the addresses the first fragment of a datagram got.
func (x *Translator) recall(src, dst netip.Addr, m translate.Meta, out4 bool) (netip.Addr, netip.Addr, bool) {
	f := &x.frags
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fragKey{addrKey(src), addrKey(dst), m.FragmentID(), m.Proto()}
	v, ok := f.m[k]
	if !ok {
		return netip.Addr{}, netip.Addr{}, false
	}
	v.expires = x.now32() + fragmentLifetime
	f.m[k] = v
	return fromKey(v.src, out4), fromKey(v.dst, out4), true
}

// expireFragments forgets datagrams whose fragments stopped coming.
func (x *Translator) expireFragments(now uint32) {
	f := &x.frags
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.m {
		if int32(v.expires-now) < 0 {
			delete(f.m, k)
		}
	}
}
