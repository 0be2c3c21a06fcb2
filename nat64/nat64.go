package nat64

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/translate"
)

// Translator is a stateful NAT64 instance (RFC 6146): the translate engine
// with BIB and session tables as its address policy. It is safe for
// concurrent use.
type Translator struct {
	st     atomic.Pointer[settings]
	engine *translate.Translator
	alloc  Allocator
	broker Broker // nil without one; settings carry it too

	shards    []*shard
	shardMask uint64
	seed      uint64

	bib *bib

	epoch time.Time
	now   atomic.Uint32 // seconds since epoch; advanced by Tick
	clock func() time.Time

	sessions atomic.Int64

	heldMu sync.Mutex
	held   map[key4]heldPacket

	hooks atomic.Pointer[Hooks]

	frags fragments
}

// heldPacket is an unsolicited SYN kept for simultaneous open.
type heldPacket struct {
	pkt []byte
	six bool // the packet is the IPv6 original of a hairpinned SYN
}

// Hooks observe the tables: for a session sync transport and for the
// mapping log. They are called with no lock held that would stop traffic
// for long; they must not call back into the Translator.
type Hooks struct {
	Session func(SessionEvent)
	BIB     func(BIBEvent)
}

// New validates cfg and returns a ready Translator working with the given
// collaborators (the zero value for none). The session table is sized for
// MaxSessions (or grows as needed when it is 0).
func New(cfg Config, with Collaborators) (*Translator, error) {
	st, err := cfg.validate(with.Broker)
	if err != nil {
		return nil, err
	}
	rnd := with.Random
	if rnd == nil {
		rnd = rand.Reader
	}
	var key [32]byte
	if _, err := rnd.Read(key[:]); err != nil {
		return nil, fmt.Errorf("nat64: reading the port secret: %w", err)
	}
	clock := cfg.Now
	if clock == nil {
		clock = time.Now
	}
	x := &Translator{
		seed:  binary.LittleEndian.Uint64(key[0:]),
		clock: clock,
		epoch: clock(),
		held:  map[key4]heldPacket{},
	}
	x.broker = with.Broker
	x.alloc = with.Allocator
	if x.alloc == nil {
		x.alloc = &pool4Allocator{pools: st.pools, secret: [2]uint64{binary.LittleEndian.Uint64(key[8:]), binary.LittleEndian.Uint64(key[16:])}}
	}
	nshards := 64
	expected := st.ExpectedSessions
	if expected == 0 {
		expected = st.MaxSessions
	}
	perShard := expected / nshards
	x.shards = make([]*shard, nshards)
	for i := range x.shards {
		x.shards[i] = newShard(perShard, x.seed^uint64(i)*0x9e3779b97f4a7c15)
	}
	x.shardMask = uint64(nshards - 1)
	x.bib = newBIB(expected, binary.LittleEndian.Uint64(key[24:]))
	x.st.Store(st)
	if x.engine, err = translate.New(st.Config.Config, (*policy)(x)); err != nil {
		return nil, err
	}
	if err := x.addStaticBIBs(cfg.StaticBIB); err != nil {
		return nil, err
	}
	return x, nil
}

// Stats returns the translate engine's counters for this instance.
func (x *Translator) Stats() *translate.Stats { return x.engine.Stats() }

// SetHooks installs observers of the tables (nil removes them).
func (x *Translator) SetHooks(h *Hooks) { x.hooks.Store(h) }

// Update replaces the configuration atomically. Sessions and bindings stay;
// pool4 changes apply to new bindings; static BIB entries are added.
func (x *Translator) Update(cfg Config) error {
	st, err := x.check(cfg)
	if err != nil {
		return err
	}
	// Everything that can fail has been checked: the static bindings go
	// in all at once, then the configuration is swapped.
	if err := x.addStaticBIBs(cfg.StaticBIB); err != nil {
		return err
	}
	if err := x.engine.Update(st.Config.Config); err != nil {
		return err
	}
	if a, ok := x.alloc.(*pool4Allocator); ok {
		x.bib.mu.Lock()
		a.pools = st.pools
		x.bib.mu.Unlock()
	}
	x.st.Store(st)
	return nil
}

// Check reports whether Update would accept cfg, changing nothing: the
// configuration itself, the engine's options, and every static binding
// against the bindings that exist. A caller updating several translators
// checks them all first.
func (x *Translator) Check(cfg Config) error {
	_, err := x.check(cfg)
	return err
}

func (x *Translator) check(cfg Config) (*settings, error) {
	st, err := cfg.validate(x.broker)
	if err != nil {
		return nil, err
	}
	if err := st.Config.Config.Validate(); err != nil {
		return nil, err
	}
	if err := x.checkStaticBIBs(cfg.StaticBIB); err != nil {
		return nil, err
	}
	return st, nil
}

// Translate translates buf[off:off+n] to the other family, To4 or To6 as
// its version says.
func (x *Translator) Translate(buf []byte, off, n int) translate.Result {
	if off >= 0 && off < len(buf) && n > 0 && buf[off]>>4 == header.IPv6Version {
		return x.To4(buf, off, n)
	}
	return x.To6(buf, off, n)
}

// Sessions returns how many sessions exist.
func (x *Translator) Sessions() int { return int(x.sessions.Load()) }

// shard4 is the shard of IPv4 port tp: sessions live in the shard of
// their IPv4 port (bits 1-6; bit 0 is left to parity preservation), which an inbound packet carries as its
// destination port. For outbound packets to find the same shard, pool4
// picks t so that those bits equal home(X',x), a hash of the IPv6
// endpoint: a binding is "aligned". Bindings whose port was chosen
// elsewhere (static entries, simultaneous open, another Allocator) are
// found through the BIB instead, one lock more per outbound packet.
func (x *Translator) shard4(tp uint16) *shard { return x.shards[uint64(tp>>1)&x.shardMask] }

func (x *Translator) home(xhi, xlo uint64, xp uint16, proto uint8) uint16 {
	return uint16(mix(mix(xhi, xlo, x.seed), uint64(xp)<<8|uint64(proto), x.seed) & x.shardMask)
}

// now32 is the coarse clock of the tables.
func (x *Translator) now32() uint32 { return x.now.Load() }

// To4 translates the IPv6 packet buf[off:off+n] (see
// translate.Translator.To4). A packet addressed to one of the NAT64's own
// pool4 addresses is hairpinned (RFC 6146 §3.8): the result is an IPv6
// packet again.
func (x *Translator) To4(buf []byte, off, n int) translate.Result {
	st := x.st.Load()
	var orig []byte
	if x.hairpinCandidate(st, buf, off, n) {
		// A hairpinned SYN may be held; its reply quotes the original.
		orig = append([]byte(nil), buf[off:off+n]...)
	}
	r := x.engine.To4(buf, off, n)
	if r.Reason == ReasonAwaiting && r.Verdict == translate.Drop && st.broker != nil {
		// The engine asks the policy before it rewrites anything, so
		// the packet is still the original.
		st.broker.Park(buf[off:off+n], true)
	}
	if r.Verdict != translate.Forward || r.End-r.Start < header.IPv4MinSize {
		return r
	}
	if !st.pool4Addrs[binary.BigEndian.Uint32(buf[r.Start+16:])] {
		return r
	}
	start, end := r.Start, r.End
	r = x.engine.Hairpin6(buf, start, end-start)
	if r.Reason == translate.ReasonHeld && orig != nil {
		x.hold(buf[start:end], orig, true)
	}
	return r
}

// To6 translates the IPv4 packet buf[off:off+n] (see
// translate.Translator.To6). An unsolicited TCP SYN is held (verdict Drop,
// reason Held) and answered by Tick if no IPv6 SYN matches it in time.
func (x *Translator) To6(buf []byte, off, n int) translate.Result {
	r := x.engine.To6(buf, off, n)
	if r.Reason == translate.ReasonHeld && r.Verdict == translate.Drop {
		x.hold(buf[off:off+n], nil, false)
	}
	if r.Reason == ReasonAwaiting && r.Verdict == translate.Drop {
		if b := x.st.Load().broker; b != nil {
			b.Park(buf[off:off+n], false)
		}
	}
	return r
}

// hairpinCandidate reports whether an IPv6 packet is addressed to Pool6 +
// one of the pool4 addresses.
func (x *Translator) hairpinCandidate(st *settings, buf []byte, off, n int) bool {
	if n < header.IPv6Size || off < 0 || off+n > len(buf) {
		return false
	}
	v4, ok := st.Pool6.Extract(ipword.Get6(buf[off+24 : off+40]))
	return ok && st.pool4Addrs[v4u(v4)]
}

// hold keeps the unsolicited IPv4 SYN pkt (or the IPv6 original of a
// hairpinned one) for TCP_INCOMING_SYN.
func (x *Translator) hold(pkt4, orig []byte, six bool) {
	ip := header.IPv4(pkt4)
	if !ip.Valid() || ip.Protocol() != header.ProtoTCP || len(pkt4) < ip.HeaderLen()+4 {
		return
	}
	l4 := pkt4[ip.HeaderLen():]
	k := key4{t4: v4u(ip.Dst()), z4: v4u(ip.Src()), tp: binary.BigEndian.Uint16(l4[2:]), zp: binary.BigEndian.Uint16(l4), proto: header.ProtoTCP}
	keep := pkt4
	if six {
		keep = orig
	}
	x.heldMu.Lock()
	x.held[k] = heldPacket{pkt: append([]byte(nil), keep...), six: six}
	x.heldMu.Unlock()
}

func (x *Translator) heldCount() int {
	x.heldMu.Lock()
	defer x.heldMu.Unlock()
	return len(x.held)
}

func (x *Translator) takeHeld(k key4) (heldPacket, bool) {
	x.heldMu.Lock()
	defer x.heldMu.Unlock()
	h, ok := x.held[k]
	if ok {
		delete(x.held, k)
	}
	return h, ok
}

// StandbyPool4 returns the standby pool4 prefixes (a peer's addresses).
func (x *Translator) StandbyPool4() []netip.Prefix { return x.st.Load().StandbyPool4 }

// Owns4 reports whether a is an address of pool4 or standby-pool4, one this
// Translator translates packets to.
func (x *Translator) Owns4(a netip.Addr) bool { return a.Is4() && x.st.Load().pool4Addrs[v4u(a)] }

// Pool6 returns the instance's Pref64.
func (x *Translator) Pool6() translate.Prefix { return x.st.Load().Pool6 }

// Pool4 returns the instance's pool4 rows.
func (x *Translator) Pool4() []Pool4Entry { return x.st.Load().Pool4 }

// Bindings returns how many BIB entries exist, static ones included.
func (x *Translator) Bindings() int {
	x.bib.mu.Lock()
	defer x.bib.mu.Unlock()
	return len(x.bib.slab) - len(x.bib.free)
}

// BindingsOf returns the number of BIB entries of protocol p: how much of
// pool4 p uses, against PoolSize(p).
func (x *Translator) BindingsOf(p Protocol) int {
	x.bib.mu.Lock()
	defer x.bib.mu.Unlock()
	return x.bib.perProto[protoSlot(uint8(p))]
}

// PoolSize returns how many (address, port) pairs pool4 lends for p.
func (x *Translator) PoolSize(p Protocol) int {
	n := 0
	for _, r := range x.st.Load().pools[p] {
		n += int(r.last-r.first+1) * (int(r.ports.Max) - int(r.ports.Min) + 1)
	}
	return n
}
