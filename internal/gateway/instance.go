package gateway

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/siit"
	"github.com/v6xlat/xlat/translate"
)

// Instance is one named translator of a gateway, a siit or a nat64 one,
// with the clients plugged into it (handoff, sync) and the packets that
// went through it.
type Instance struct {
	name string
	x    translator

	handoff    *client.Client // nil without handoff
	handoffCfg *HandoffConfig
	sink       atomic.Pointer[handoffSink]

	syncSetup *syncSetup      // nil without sync
	sync      *nat64.SyncConn // running, once the gateway started it
	log       *slog.Logger

	counters Counters
}

// Counters are an instance's packets and bytes by the family they
// arrived in (RX) and left in (TX); what does not leave is in the
// translator's per-reason Stats.
type Counters struct {
	RX6, RX4, TX6, TX4                     atomic.Uint64
	RX6Bytes, RX4Bytes, TX6Bytes, TX4Bytes atomic.Uint64
}

// Name is the instance's name in the configuration.
func (i *Instance) Name() string { return i.name }

// Type is "siit" or "nat64".
func (i *Instance) Type() string { return i.x.kind() }

// Counters are the instance's packet counters.
func (i *Instance) Counters() *Counters { return &i.counters }

// Stats are the translator's counters by reason.
func (i *Instance) Stats() *translate.Stats { return i.x.stats() }

// SIIT is the instance's translator when it is a siit one, else nil.
func (i *Instance) SIIT() *siit.Translator {
	if s, ok := i.x.(siitX); ok {
		return s.Translator
	}
	return nil
}

// NAT64 is the instance's translator when it is a nat64 one, else nil.
func (i *Instance) NAT64() *nat64.Translator {
	if s, ok := i.x.(*nat64X); ok {
		return s.Translator
	}
	return nil
}

// NAT64Config is the configuration a nat64 instance runs with.
func (i *Instance) NAT64Config() nat64.Config {
	if s, ok := i.x.(*nat64X); ok {
		return s.Config()
	}
	return nat64.Config{}
}

// Handoff is the instance's handoff/1 client, or nil.
func (i *Instance) Handoff() *client.Client { return i.handoff }

// Sync is the instance's running session sync, or nil.
func (i *Instance) Sync() *nat64.SyncConn { return i.sync }

func (i *Instance) logf(format string, args ...any) {
	if i.log != nil {
		i.log.Warn(fmt.Sprintf(format, args...), "instance", i.name)
	}
}

// to4 translates the IPv6 packet buf[off:off+n], whose destination the
// instance claimed as dst4, and counts it in and, unless dropped, out.
func (i *Instance) to4(buf []byte, off, n int, dst4 siit.Mapping) translate.Result {
	c := &i.counters
	c.RX6.Add(1)
	c.RX6Bytes.Add(uint64(n))
	return i.count(buf, i.x.to4(buf, off, n, dst4))
}

// to6 translates the IPv4 packet buf[off:off+n] and counts it.
func (i *Instance) to6(buf []byte, off, n int) translate.Result {
	c := &i.counters
	c.RX4.Add(1)
	c.RX4Bytes.Add(uint64(n))
	return i.count(buf, i.x.to6(buf, off, n))
}

// count counts what a translation sends, by the family it leaves in:
// an error in reply, or a hairpinned packet, leaves in the family it came.
func (i *Instance) count(buf []byte, r translate.Result) translate.Result {
	if r.Verdict == translate.Drop {
		return r
	}
	c := &i.counters
	if k := uint64(r.End - r.Start); buf[r.Start]>>4 == 6 {
		c.TX6.Add(1)
		c.TX6Bytes.Add(k)
	} else {
		c.TX4.Add(1)
		c.TX4Bytes.Add(k)
	}
	return r
}

// translate takes a packet of either family, for what did not come
// through the picker (the packets a handoff client releases).
func (i *Instance) translate(buf []byte, off, n int) translate.Result {
	if buf[off]>>4 == 6 {
		return i.to4(buf, off, n, siit.Mapping{})
	}
	return i.to6(buf, off, n)
}

// translator is what the gateway asks of an instance's translator; siitX
// and nat64X are the two kinds.
type translator interface {
	kind() string
	// claim6 maps an IPv6 packet's destination to the IPv4 address it
	// stands for, the remote side the rules give instances by; mapped is
	// the mapping as a siit translator found it, for to4 to take instead
	// of looking again (the zero Mapping: look again).
	claim6(dst netip.Addr) (remote netip.Addr, mapped siit.Mapping, ok bool)
	// claim4 reports whether an IPv4 packet to dst is the translator's.
	claim4(dst netip.Addr) bool
	to4(buf []byte, off, n int, mapped siit.Mapping) translate.Result
	to6(buf []byte, off, n int) translate.Result
	stats() *translate.Stats
	// prefixes are the destinations the translator takes.
	prefixes() []netip.Prefix
	// check reports whether the translator can become next, of the
	// same kind, by update, changing nothing.
	check(next translator) error
	update(next translator) error
	// tick advances the translator's timers, sending what they produce.
	tick(send func([]byte))
}

// siitX is a siit instance's translator.
type siitX struct{ *siit.Translator }

func (siitX) kind() string { return "siit" }

func (x siitX) claim6(dst netip.Addr) (remote netip.Addr, mapped siit.Mapping, ok bool) {
	if m, ok := x.Map6(dst); ok {
		return m.Addr(), m, true
	}
	// Not mapped, but under pool6 all the same: the instance's to
	// refuse, with its reason counted.
	p := x.Config().Pool6
	v4, ok := p.Extract(dst)
	return v4, siit.Mapping{}, p.IsValid() && ok
}

// claim4: any destination; the routes decide what reaches a SIIT.
func (siitX) claim4(netip.Addr) bool { return true }

func (x siitX) to4(buf []byte, off, n int, mapped siit.Mapping) translate.Result {
	return x.To4Mapped(buf, off, n, mapped)
}

func (x siitX) to6(buf []byte, off, n int) translate.Result { return x.To6(buf, off, n) }
func (x siitX) stats() *translate.Stats                     { return x.Stats() }

func (x siitX) prefixes() []netip.Prefix {
	var out []netip.Prefix
	c := x.Config()
	if c.Pool6.IsValid() {
		out = append(out, c.Pool6.Prefix())
	}
	for _, e := range c.EAMT {
		out = append(out, e.IPv4)
	}
	return out
}

func (x siitX) check(next translator) error  { return x.Check(next.(siitX).Config()) }
func (x siitX) update(next translator) error { return x.Update(next.(siitX).Config()) }
func (siitX) tick(func([]byte))              {}

// nat64X is a nat64 instance's translator. A pointer, so that the
// interface holds it without a wrapper in between.
type nat64X struct {
	*nat64.Translator
	cfg atomic.Pointer[nat64.Config] // what it was built from, for reloads
}

func newNAT64X(x *nat64.Translator, c nat64.Config) *nat64X {
	n := &nat64X{Translator: x}
	n.cfg.Store(&c)
	return n
}

func (*nat64X) kind() string { return "nat64" }

// Config is the configuration in force, as configured.
func (x *nat64X) Config() nat64.Config { return *x.cfg.Load() }

func (x *nat64X) claim6(dst netip.Addr) (remote netip.Addr, mapped siit.Mapping, ok bool) {
	v4, ok := x.Pool6().Extract(dst)
	return v4, siit.Mapping{}, ok
}

func (x *nat64X) claim4(dst netip.Addr) bool { return x.Owns4(dst) }

func (x *nat64X) to4(buf []byte, off, n int, _ siit.Mapping) translate.Result {
	return x.To4(buf, off, n)
}

func (x *nat64X) to6(buf []byte, off, n int) translate.Result { return x.To6(buf, off, n) }
func (x *nat64X) stats() *translate.Stats                     { return x.Stats() }

func (x *nat64X) prefixes() []netip.Prefix {
	out := []netip.Prefix{x.Pool6().Prefix()}
	for _, p := range x.Pool4() {
		out = append(out, p.Prefix.Masked())
	}
	for _, p := range x.StandbyPool4() {
		out = append(out, p.Masked())
	}
	return out
}

func (x *nat64X) check(next translator) error { return x.Check(next.(*nat64X).Config()) }

func (x *nat64X) update(next translator) error {
	c := next.(*nat64X).Config()
	if err := x.Update(c); err != nil {
		return err
	}
	x.cfg.Store(&c)
	return nil
}

func (x *nat64X) tick(send func([]byte)) { x.Tick(send) }
