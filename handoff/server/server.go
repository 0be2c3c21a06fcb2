package server

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/v6xlat/xlat/handoff"

	"github.com/v6xlat/xlat/handoff/internal/bucket"
	"github.com/v6xlat/xlat/handoff/wire"
)

// Stats are the counters of §11. A Server's are read with Server.Stats.
type Stats struct {
	wire.ParseStats
	BadSource            uint64
	ChallengesSent       uint64
	ChallengesSuppressed uint64
	BadToken             uint64
	EchoDropped          uint64
	EchoMismatch         uint64
	ErrorsSuppressed     uint64 // ERRORs left out: never more reply octets than request octets for what is not a mapping answer
	TablesRefused        uint64
	RefusedRate          uint64
	Created              uint64
	Deleted              uint64
}

// Config configures a Server; zero fields take the §11 defaults.
type Config struct {
	Addr       netip.Addr // S, the server's IPv4 address
	MaxTables  int
	Persistent bool // sets P in replies; the caller keeps the journal
	Table      TableConfig
	// Rand supplies cookie keys and table epochs; crypto/rand by default.
	Rand io.Reader
	// OnEvent receives every Initialized, Created and Deleted in order,
	// before the reply reporting it is returned: the connection log and
	// the journal.
	OnEvent func(Event)
	// Admit, if set, is the operator's allow/deny list of NAT64s (§7.1).
	Admit func(netip.Addr) bool
}

// Server is the handoff/1 server of §6 and §7 without its sockets: Handle
// takes a datagram and returns the replies. It is not safe for concurrent
// use; handoffd serialises datagrams.
type Server struct {
	cfg    Config
	tables map[netip.Addr]*Table
	stats  Stats

	// The cookie keys (§6), current and previous (nil until the first
	// rotation), each held as its keyed HMAC.
	mac, prevMAC *handoff.MAC
	keyAt        time.Time

	per24  map[[3]byte]*bucket.Bucket
	global bucket.Bucket

	out []wire.Message // scratch
}

// New returns a server with no tables.
func New(cfg Config) (*Server, error) {
	if !cfg.Addr.Is4() {
		return nil, fmt.Errorf("handoff: server Addr %v: must be an IPv4 address", cfg.Addr)
	}
	if cfg.MaxTables == 0 {
		cfg.MaxTables = MaxTables
	}
	if cfg.MaxTables < 0 {
		return nil, fmt.Errorf("handoff: MaxTables %d: must be positive", cfg.MaxTables)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Table.setDefaults()
	if err := cfg.Table.check(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, tables: make(map[netip.Addr]*Table), per24: make(map[[3]byte]*bucket.Bucket),
		global: bucket.New(ChallengeRateGlobal, ChallengeRateGlobal)}
	var key [32]byte
	if _, err := io.ReadFull(cfg.Rand, key[:]); err != nil {
		return nil, fmt.Errorf("handoff: cookie key: %w", err)
	}
	s.mac = handoff.NewMAC(key)
	return s, nil
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats { return s.stats }

// table returns the table of a NAT64, if it has one.
func (s *Server) table(nat64 netip.Addr) *Table { return s.tables[nat64] }

// Tables returns the tables, ordered by NAT64 address (for a snapshot).
func (s *Server) Tables() []*Table {
	out := make([]*Table, 0, len(s.tables))
	for _, t := range s.tables {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Table) int { return a.nat64.Compare(b.nat64) })
	return out
}

// Restore installs tables loaded from a Store (§7.4). They keep their
// table_epoch; nothing is logged. Restored tables count against MaxTables
// but are never refused: they hold live bindings. A table a Store did not
// load (nil, or the zero Table) refuses the whole call, and nothing is
// installed.
func (s *Server) Restore(tables []*Table) error {
	for i, t := range tables {
		if t == nil || t.slots == nil || t.epoch == 0 || !t.nat64.Is4() {
			return fmt.Errorf("handoff/server: Restore: table %d was not loaded by a Store", i)
		}
	}
	for _, t := range tables {
		t.cfg.Rand = s.cfg.Table.Rand
		t.onEvent = s.event
		s.tables[t.nat64] = t
	}
	return nil
}

// rotate replaces the cookie key every CookieKeyLifetime; cookies under
// the previous key stay valid (§6).
func (s *Server) rotate(now time.Time) {
	if s.keyAt.IsZero() {
		s.keyAt = now
		return
	}
	for now.Sub(s.keyAt) >= CookieKeyLifetime {
		var next [32]byte
		if _, err := io.ReadFull(s.cfg.Rand, next[:]); err != nil {
			return // keep the old key rather than issue predictable ones
		}
		s.prevMAC, s.mac = s.mac, handoff.NewMAC(next)
		s.keyAt = s.keyAt.Add(CookieKeyLifetime)
	}
}

// cookieValid checks c against the cookie under the current key (cur,
// which the reply carries anyway) and under the previous one.
func (s *Server) cookieValid(from netip.AddrPort, epoch, c, cur uint64) bool {
	if c == 0 {
		return false
	}
	return c == cur || s.prevMAC != nil && c == s.prevMAC.Cookie(from.Addr(), from.Port(), epoch)
}

// badSource applies §7.1 admission.
func (s *Server) badSource(from netip.AddrPort) bool {
	a := from.Addr().Unmap()
	if !a.Is4() || from.Port() < handoff.ControlPortMin || from.Port() > handoff.ControlPortMax || a == s.cfg.Addr {
		return true
	}
	b := a.As4()
	if b[0] == 0 || b[0] == 127 || b[0] >= 224 {
		return true
	}
	return s.cfg.Admit != nil && !s.cfg.Admit(a)
}

// Handle processes one datagram from a NAT64 and returns the datagrams
// to send back, appended to replies (none for a dropped datagram).
func (s *Server) Handle(now time.Time, from netip.AddrPort, b []byte, replies [][]byte) [][]byte {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if s.badSource(from) {
		s.stats.BadSource++
		return replies
	}
	s.rotate(now)
	if len(b) >= wire.HeaderSize && b[0] == wire.TypeSession && b[2] != wire.ProtocolVersion {
		return s.unsupported(now, from, b, replies)
	}
	d, err := wire.Parse(b)
	if err != nil {
		s.stats.MalformedDatagrams++
		return replies
	}
	s.stats.Count(d)
	in := d.Session
	hdr := wire.Session{Version: wire.ProtocolVersion, Flags: wire.FlagServer, NAT64Epoch: in.NAT64Epoch,
		Cookie: s.mac.Cookie(from.Addr(), from.Port(), in.NAT64Epoch), Token: in.Token}
	if !s.cookieValid(from, in.NAT64Epoch, in.Cookie, hdr.Cookie) {
		// §6 step 2: a challenge, no state, nothing logged.
		if !s.allowChallenge(now, from.Addr()) {
			s.stats.ChallengesSuppressed++
			return replies
		}
		s.stats.ChallengesSent++
		hdr.Flags |= wire.FlagChallenge
		return append(replies, (&wire.Datagram{Session: hdr}).Append(nil))
	}
	t := s.tables[from.Addr()]
	if t == nil {
		if len(s.tables) >= s.cfg.MaxTables {
			s.stats.TablesRefused++
			reply := (&wire.Datagram{Session: hdr, Messages: []wire.Message{&wire.Error{Code: wire.ErrTableLimit, Text: "table limit"}}}).Append(nil)
			if len(reply) > len(b) {
				// No amplification: a short request gets no longer
				// refusal.
				s.stats.ErrorsSuppressed++
				return replies
			}
			return append(replies, reply)
		}
		if t = s.newTable(now, from.Addr()); t == nil {
			return replies // no randomness for an epoch: answer nothing rather than a guessable table
		}
	}
	if s.cfg.Persistent {
		hdr.Flags |= wire.FlagPersistent
	}
	hdr.TableEpoch = t.epoch
	return s.process(now, t, hdr, d, len(b), replies)
}

func (s *Server) newTable(now time.Time, n netip.Addr) *Table {
	var e [8]byte
	var epoch uint64
	for try := 0; epoch == 0; try++ {
		if try == 4 { // a source that keeps giving zeros is broken
			return nil
		}
		if _, err := io.ReadFull(s.cfg.Rand, e[:]); err != nil {
			return nil
		}
		epoch = binary.BigEndian.Uint64(e[:])
	}
	t := newTable(n, epoch, s.cfg.Table)
	t.onEvent = s.event
	s.tables[n] = t
	s.event(Event{Kind: Initialized, Time: now, NAT64: n, Epoch: epoch})
	return t
}

func (s *Server) event(e Event) {
	switch e.Kind {
	case Created:
		s.stats.Created++
	case Deleted:
		s.stats.Deleted++
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// process answers the messages of an accepted datagram in order (§5.6):
// for each request its INVALIDATEs, its MAP or UNMAPPED, its echoes; one
// request's answer is never split across datagrams.
func (s *Server) process(now time.Time, t *Table, hdr wire.Session, d *wire.Datagram, reqLen int, replies [][]byte) [][]byte {
	w := replyWriter{hdr: hdr, replies: replies}
	requests := 0
	echo := false // packets after the current request are echoed
	carrier := false
	for _, m := range d.Messages {
		if p, ok := m.(wire.Packet); ok {
			switch {
			case !carrier:
				s.stats.UnexpectedMessages++
			case echo:
				s.out = append(s.out, p)
			}
			continue
		}
		w.add(s, s.out) // the previous request's answer is complete
		s.out, carrier, echo = s.out[:0], false, false
		switch m := m.(type) {
		case *wire.MapRequest, *wire.Lookup:
			if requests++; requests > handoff.MaxRequestsPerDatagram {
				s.stats.UnexpectedMessages++
				continue
			}
			var answered *wire.Map
			if r, ok := m.(*wire.MapRequest); ok {
				s.out = t.request(now, r, s.out)
				answered = s.out[len(s.out)-1].(*wire.Map)
				carrier = r.Flags&wire.FlagAdopt == 0
				if answered.Status == wire.StatusRefused && answered.Reason == wire.ReasonRate {
					s.stats.RefusedRate++
				}
			} else {
				port := m.(*wire.Lookup).Port
				carrier = true
				if mp, ok := t.lookup(now, port); ok {
					s.out, answered = append(s.out, mp), mp
				} else {
					s.out = append(s.out, &wire.Unmapped{Port: port})
				}
			}
			echo = answered != nil && answered.Status != wire.StatusRefused
		case *wire.Refresh:
			for _, e := range m.Entries {
				if !t.refresh(now, e.Port, e.Generation) {
					s.out = append(s.out, &wire.Invalidate{Port: e.Port, Generation: e.Generation})
				}
			}
		case *wire.Note:
			// §5.4: never acted on, never in the connection log.
		default: // server-to-NAT64 messages sent the wrong way
			s.stats.UnexpectedMessages++
		}
	}
	w.add(s, s.out)
	s.out = s.out[:0]
	// One ERROR per kind of malformed message, and only as many octets
	// of them as the request's messages took: a request full of small
	// broken messages must not draw a larger answer (no amplification).
	budget := reqLen - wire.HeaderSize
	var reported [256]bool
	for _, typ := range d.MalformedMessages {
		if reported[typ] {
			continue
		}
		reported[typ] = true
		m := &wire.Error{Code: wire.ErrMalformed, Subtype: typ}
		if n := len(wire.AppendMessage(nil, m)); n <= budget {
			budget -= n
			w.add(s, []wire.Message{m})
			continue
		}
		s.stats.ErrorsSuppressed++
	}
	return w.flush()
}

// replyWriter packs answer groups into datagrams of at most MaxDatagram.
type replyWriter struct {
	hdr     wire.Session
	replies [][]byte
	cur     []byte
}

func (w *replyWriter) add(s *Server, group []wire.Message) {
	if len(group) == 0 {
		return
	}
	var g []byte
	for _, m := range group {
		b := wire.AppendMessage(g, m)
		if _, isPacket := m.(wire.Packet); isPacket && wire.HeaderSize+len(b) > MaxDatagram {
			s.stats.EchoDropped++ // §5.5: an echo that cannot fit is left out
			continue
		}
		g = b
	}
	if w.cur != nil && len(w.cur)+len(g) > MaxDatagram {
		w.replies = append(w.replies, w.cur)
		w.cur = nil
	}
	if w.cur == nil {
		w.cur = (&wire.Datagram{Session: w.hdr}).Append(make([]byte, 0, MaxDatagram))
	}
	w.cur = append(w.cur, g...)
}

// flush ends the reply; an accepted datagram always gets one (§5.6).
func (w *replyWriter) flush() [][]byte {
	if w.cur == nil {
		w.cur = (&wire.Datagram{Session: w.hdr}).Append(nil)
	}
	return append(w.replies, w.cur)
}

// unsupported answers another protocol version (§6 Versions) under the
// challenge rules, keeping no state.
func (s *Server) unsupported(now time.Time, from netip.AddrPort, b []byte, replies [][]byte) [][]byte {
	if len(b) < 44 {
		s.stats.MalformedDatagrams++
		return replies
	}
	if !s.allowChallenge(now, from.Addr()) {
		s.stats.ChallengesSuppressed++
		return replies
	}
	s.stats.ChallengesSent++
	hdr := wire.Session{Version: wire.ProtocolVersion, Flags: wire.FlagServer,
		NAT64Epoch: binary.BigEndian.Uint64(b[6:]), Token: binary.BigEndian.Uint64(b[30:])}
	return append(replies, (&wire.Datagram{Session: hdr, Messages: []wire.Message{
		&wire.Error{Code: wire.ErrUnsupportedVersion}}}).Append(nil))
}

func (s *Server) allowChallenge(now time.Time, n netip.Addr) bool {
	b4 := n.As4()
	k := [3]byte{b4[0], b4[1], b4[2]}
	p := s.per24[k]
	if p == nil {
		if len(s.per24) > 1<<16 { // bound the map under a spoofed flood
			clear(s.per24)
		}
		b := bucket.New(ChallengeRatePer24, ChallengeBurstPer24)
		p = &b
		s.per24[k] = p
	}
	if !s.global.Peek(now) || !p.Take(now) {
		return false
	}
	s.global.Take(now)
	return true
}
