package translate

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/v6xlat/xlat/header"
)

// Growth budget. Translation rewrites a packet in place; a packet that
// grows needs room in front of it (headroom) in the caller's buffer.
const (
	// Grow4to6 is the most an ordinary IPv4 packet grows: a 40-byte IPv6
	// header replaces a 20-byte IPv4 header, plus an 8-byte Fragment
	// header when the IPv4 packet was a fragment.
	Grow4to6 = 28
	// GrowICMPError4to6 is the most an ICMPv4 error grows: both the outer
	// and the quoted header grow, the quoted one possibly with a Fragment
	// header.
	GrowICMPError4to6 = 20 + 28
	// GrowReply6 and GrowReply4 are what an ICMPv6 or ICMPv4 error the
	// translator generates puts in front of the packet it quotes.
	GrowReply6 = 48
	GrowReply4 = 28
	// Headroom is enough room in front of any input for any output.
	Headroom = 64
)

// Translator is the RFC 7915 engine: it rewrites packets between IPv6 and
// IPv4 in place, asking its Policy for addresses and ports. It is safe for
// concurrent use; configuration changes are atomic.
type Translator struct {
	cfg    atomic.Pointer[compiled]
	policy Policy
	mapped MappedPolicy // policy, when it is one
	stats  Stats
	ids    idGen // IPv4 Identification for packets that need one

	mu      sync.Mutex // guards the ICMP error token bucket
	tokens  float64
	refill  time.Time
	limited atomic.Uint64

	general bool // no plain path (plain.go): for tests that compare them
}

// New returns a Translator with configuration cfg and address policy p.
func New(cfg Config, p Policy) (*Translator, error) {
	if p == nil {
		return nil, errors.New("translate: nil Policy")
	}
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	x := &Translator{policy: p}
	x.mapped, _ = p.(MappedPolicy)
	x.ids.init()
	x.cfg.Store(c)
	x.tokens = float64(c.ICMPErrorBurst)
	x.refill = c.Now()
	return x, nil
}

// Update replaces the configuration atomically, or, when cfg is invalid,
// changes nothing and says why; packets in flight finish with the old one.
// Policies that wrap the engine (siit, nat64) call it from their own
// Update, after validating their part.
func (x *Translator) Update(cfg Config) error {
	c, err := cfg.compile()
	if err != nil {
		return err
	}
	x.cfg.Store(c)
	return nil
}

// Config returns the configuration in force, defaults applied.
func (x *Translator) Config() Config { return x.cfg.Load().Config }

// Stats returns the translator's counters.
func (x *Translator) Stats() *Stats { return &x.stats }

// To4 translates the IPv6 packet buf[off:off+n] to IPv4 in place. The result
// lies within buf; an IPv4 packet is smaller, but an ICMPv6 error the
// translator generates in reply needs GrowReply6 bytes of headroom (off) or
// as much spare room after the packet.
func (x *Translator) To4(buf []byte, off, n int) Result {
	return x.To4Mapped(buf, off, n, netip.Addr{})
}

// To4Mapped is To4 for a packet whose destination its caller has mapped
// already, to dst4, while choosing the translator for it: a policy that
// is a MappedPolicy is asked with dst4 (To4Mapped) instead of looking the
// destination up again. dst4 must be what the policy's own To4 would map
// the packet's destination to; an invalid dst4 is To4.
func (x *Translator) To4Mapped(buf []byte, off, n int, dst4 netip.Addr) Result {
	r := x.to4(x.cfg.Load(), buf, off, n, 0, dst4)
	x.stats.count(r)
	return r
}

// policyTo4 asks the policy for an outer flow's IPv4 form, with the
// destination's mapping when the caller had it.
func (x *Translator) policyTo4(src, dst, dst4 netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	if dst4.IsValid() && x.mapped != nil {
		return x.mapped.To4Mapped(src, dst, dst4, ports, m)
	}
	return x.policy.To4(src, dst, ports, m)
}

// To6 translates the IPv4 packet buf[off:off+n] to IPv6 in place. The
// result starts up to Grow4to6 (GrowICMPError4to6 for ICMP errors) bytes
// before off; with less headroom the packet is moved towards the end of buf
// when there is room, and dropped (ReasonNoHeadroom) when there is not.
func (x *Translator) To6(buf []byte, off, n int) Result {
	r := x.to6(x.cfg.Load(), buf, off, n, 0)
	x.stats.count(r)
	return r
}

// Translate translates the packet buf[off:off+n] to the other family,
// To4 for IPv6 and To6 for IPv4, as its version says: the one entry point
// for a caller that reads both families from one place.
func (x *Translator) Translate(buf []byte, off, n int) Result {
	if !inBounds(buf, off, n) || n < 1 {
		r := drop(ReasonTruncated)
		x.stats.count(r)
		return r
	}
	if buf[off]>>4 == header.IPv6Version {
		return x.To4(buf, off, n)
	}
	return x.To6(buf, off, n)
}

// Hairpin6 translates an IPv4 packet that To4 has just produced, and that
// is addressed back into the IPv6 side, to IPv6 again. It does not decrement
// the TTL a second time, and tells the policy (FlowHairpin).
func (x *Translator) Hairpin6(buf []byte, off, n int) Result {
	r := x.to6(x.cfg.Load(), buf, off, n, FlowHairpin)
	x.stats.count(r)
	return r
}

// AppendTo4 translates a copy of pkt, leaving pkt untouched, and appends
// the output (the translated packet or the generated reply) to dst.
func (x *Translator) AppendTo4(dst, pkt []byte) ([]byte, Result) {
	return x.appendVia(dst, pkt, x.To4)
}

// AppendTo6 is AppendTo4 for IPv4 input.
func (x *Translator) AppendTo6(dst, pkt []byte) ([]byte, Result) {
	return x.appendVia(dst, pkt, x.To6)
}

func (x *Translator) appendVia(dst, pkt []byte, f func([]byte, int, int) Result) ([]byte, Result) {
	buf := make([]byte, Headroom+len(pkt)+Headroom+128)
	copy(buf[Headroom:], pkt)
	r := f(buf, Headroom, len(pkt))
	if r.Verdict == Drop {
		return dst, r
	}
	out := append(dst, buf[r.Start:r.End]...)
	r.Start, r.End = len(dst), len(out)
	return out, r
}

// allowError takes a token for one generated ICMP error.
func (x *Translator) allowError(c *compiled) bool {
	if c.ICMPErrorRate < 0 {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	now := c.Now()
	if el := now.Sub(x.refill); el > 0 {
		x.tokens += el.Seconds() * float64(c.ICMPErrorRate)
		if max := float64(c.ICMPErrorBurst); x.tokens > max {
			x.tokens = max
		}
	}
	x.refill = now
	if x.tokens < 1 {
		x.limited.Add(1)
		x.stats.reasons[ReasonICMPErrorRateLimit].Add(1)
		return false
	}
	x.tokens--
	return true
}

// inBounds reports whether buf[off:off+n] is a valid slice expression.
func inBounds(buf []byte, off, n int) bool {
	return off >= 0 && n >= 0 && off <= len(buf) && n <= len(buf)-off
}

// makeRoom makes sure need bytes precede the packet buf[off:off+n], moving
// it towards the end of buf if necessary. It returns the packet's offset,
// or -1 when buf has no room.
func makeRoom(buf []byte, off, n, need int) int {
	if off >= need {
		return off
	}
	if need+n > len(buf) {
		return -1
	}
	copy(buf[need:need+n], buf[off:off+n])
	return need
}
