package nat64

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// EventKind says what happened to a session or binding.
type EventKind uint8

// The events Hooks receive.
const (
	SessionCreated EventKind = iota + 1
	SessionChanged           // TCP state change
	SessionDeleted
	BIBCreated
	BIBDeleted
)

// String returns the event's name.
func (k EventKind) String() string {
	return [...]string{"?", "session-created", "session-changed", "session-deleted", "bib-created", "bib-deleted"}[k%6]
}

// Session describes a session table entry (RFC 6146 §3.2):
// (X',x),(Y',y) <--> (T,t),(Z,z).
type Session struct {
	Proto      Protocol
	IPv6Src    netip.AddrPort // (X',x)
	IPv6Dst    netip.AddrPort // (Y',y) = (Pool6+Z, z)
	IPv4Src    netip.AddrPort // (T,t)
	IPv4Dst    netip.AddrPort // (Z,z)
	State      string         // TCP state; "" for UDP and ICMP
	Expires    time.Time
	Unbound    bool // an unsolicited SYN held before any IPv6 SYN
	tcp        tcpState
	expireTick uint32
}

// SessionEvent is a change of the session table, for sync transports
// (Apply on the peer replays it) and for logs.
type SessionEvent struct {
	Kind    EventKind
	Session Session
}

// BIBEvent is a binding created or deleted: the mapping log of who had
// which IPv4 address and port, and when.
type BIBEvent struct {
	Kind  EventKind
	Entry BIBEntry
	Time  time.Time
}

func (x *Translator) publicSession(s *session) Session {
	st := x.st.Load()
	z := ipword.From4(s.z4)
	out := Session{
		Proto:      Protocol(s.proto),
		IPv6Src:    netip.AddrPortFrom(ipword.From6(s.xhi, s.xlo), s.xp),
		IPv6Dst:    netip.AddrPortFrom(st.Pool6.Embed(z), s.zp),
		IPv4Src:    netip.AddrPortFrom(ipword.From4(s.t4), s.tp),
		IPv4Dst:    netip.AddrPortFrom(z, s.zp),
		Expires:    x.epoch.Add(time.Duration(s.expires) * time.Second),
		Unbound:    s.flags&sessionUnbound != 0,
		tcp:        s.state,
		expireTick: s.expires,
	}
	if s.proto == header.ProtoTCP {
		out.State = s.state.String()
	}
	return out
}

func (x *Translator) emitSession(k EventKind, sh *shard, r uint32) {
	h := x.hooks.Load()
	if h == nil || h.Session == nil {
		return
	}
	h.Session(SessionEvent{Kind: k, Session: x.publicSession(sh.rec(r))})
}

func (x *Translator) emitBIB(k EventKind, e *bibEntry) {
	h := x.hooks.Load()
	if h == nil || h.BIB == nil {
		return
	}
	h.BIB(BIBEvent{Kind: k, Entry: e.public(), Time: x.clock()})
}

// RangeSessions calls fn for each session until fn returns false. Each
// shard is locked while it is visited, so fn should be quick.
func (x *Translator) RangeSessions(fn func(Session) bool) {
	for _, sh := range x.shards {
		sh.mu.Lock()
		for i := range sh.slab {
			if sh.slab[i].flags&sessionUsed == 0 {
				continue
			}
			if !fn(x.publicSession(&sh.slab[i])) {
				sh.mu.Unlock()
				return
			}
		}
		sh.mu.Unlock()
	}
}

// RangeBIB calls fn for each binding until fn returns false.
func (x *Translator) RangeBIB(fn func(BIBEntry) bool) {
	b := x.bib
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.slab {
		if b.slab[i].proto == 0 {
			continue
		}
		if !fn(b.slab[i].public()) {
			return
		}
	}
}

// Errors Apply refuses a peer's session with, besides malformed ones.
var (
	ErrApplyAddress = errors.New("nat64: apply: not an address of this table")
	ErrApplyLimit   = errors.New("nat64: apply: at a session limit")
)

// Apply replays a session event from a peer (session synchronisation):
// the session and its binding are created or updated (never to an earlier
// expiry than it has here), or deleted. Apply emits no session events, so
// a sync transport cannot loop; events of this Translator's own making
// come back as no-ops.
func (x *Translator) Apply(ev SessionEvent) error {
	s := ev.Session
	if !s.IPv6Src.Addr().Is6() || !s.IPv4Src.Addr().Is4() || !s.IPv4Dst.Addr().Is4() {
		return fmt.Errorf("nat64: apply: session %v has malformed addresses", s)
	}
	proto := uint8(s.Proto)
	if proto != header.ProtoTCP && proto != header.ProtoUDP && proto != header.ProtoICMPv4 {
		return fmt.Errorf("nat64: apply: protocol %v", s.Proto)
	}
	st := x.st.Load()
	state := s.tcp
	if s.State != "" {
		var ok bool
		if state, ok = parseState(s.State); !ok {
			return fmt.Errorf("nat64: apply: unknown TCP state %q", s.State)
		}
	}
	xhi, xlo := ipword.Words(s.IPv6Src.Addr())
	k := key4{t4: v4u(s.IPv4Src.Addr()), tp: s.IPv4Src.Port(), z4: v4u(s.IPv4Dst.Addr()), zp: s.IPv4Dst.Port(), proto: proto}
	if !st.pool4Addrs[k.t4] {
		// A peer shares this gateway's pool4 (or stands by for it);
		// a session on any other address is none of this table's.
		return fmt.Errorf("%w: %v is in neither pool4 nor standby-pool4", ErrApplyAddress, s.IPv4Src.Addr())
	}
	sh := x.shard4(k.tp)
	b := x.bib
	b.mu.Lock()
	defer b.mu.Unlock()
	sh.mu.Lock()
	r := sh.find4(k)
	if ev.Kind == SessionDeleted {
		if r == 0 {
			sh.mu.Unlock()
			return nil
		}
		// No event: a peer's deletion must not echo back to it.
		gone := *sh.rec(r)
		sh.remove(r)
		sh.mu.Unlock()
		x.sessions.Add(-1)
		x.releaseLocked([]session{gone})
		return nil
	}
	class := classUDP
	switch {
	case proto == header.ProtoICMPv4:
		class = classICMP
	case proto == header.ProtoTCP && state == tcpEstablished:
		class = classTCPEst
	case proto == header.ProtoTCP:
		class = classTCPTrans
	}
	// A peer's lifetime is taken up to this table's own for the class:
	// a session cannot outlive here what local traffic could give it.
	limit := x.now32() + st.timeouts[class]
	expires := limit
	if !s.Expires.IsZero() {
		// An expiry before this table's epoch is past: the earliest
		// second the table can hold, gone at the next Tick.
		if d := max(s.Expires.Sub(x.epoch), 0); int32(uint32(d/time.Second)-limit) < 0 {
			expires = uint32(d / time.Second)
		}
	}
	if r != 0 {
		rec := sh.rec(r)
		rec.state = state
		if int32(rec.expires-expires) > 0 {
			expires = rec.expires // traffic here kept it alive longer
		}
		sh.touch(r, class, expires)
		sh.mu.Unlock()
		return nil
	}
	shardFull := sh.full()
	sh.mu.Unlock()
	// A new session from a peer counts against the same limits as one
	// traffic makes here.
	if x.limited(st, xhi, xlo) || shardFull {
		return fmt.Errorf("%w: no room for %v (max-sessions %d, per source %d, per /64 %d)", ErrApplyLimit, s, st.MaxSessions, st.MaxSessionsPerSource, st.MaxSessionsPer64)
	}
	br := b.find6(bibKey6{xhi, xlo, s.IPv6Src.Port(), proto})
	if br == 0 {
		if b.find4(bibKey4{k.t4, k.tp, proto}) != 0 {
			return fmt.Errorf("nat64: apply: %v %v is bound to another IPv6 endpoint here", s.Proto, s.IPv4Src)
		}
		br = b.insert(bibEntry{xhi: xhi, xlo: xlo, xp: s.IPv6Src.Port(), t4: k.t4, tp: k.tp, proto: proto})
		x.emitBIB(BIBCreated, b.rec(br))
	}
	sh.mu.Lock()
	q := sh.insert(session{xhi: xhi, xlo: xlo, xp: s.IPv6Src.Port(), t4: k.t4, tp: k.tp, z4: k.z4, zp: k.zp, proto: proto, state: state})
	sh.touch(q, class, expires)
	sh.mu.Unlock()
	b.rec(br).sessions++
	x.countSource(xhi, xlo, 1)
	x.sessions.Add(1)
	return nil
}

// parseState reads a State string back.
func parseState(name string) (tcpState, bool) {
	for i, n := range tcpStateNames {
		if n == name {
			return tcpState(i), true
		}
	}
	return 0, false
}
