package nat64

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SyncConfig configures session synchronisation between gateways.
type SyncConfig struct {
	// Key authenticates every datagram (HMAC-SHA256); all peers share it.
	// At least MinSyncKey octets, not one octet repeated (CheckSyncKey).
	Key []byte
	// NodeID tells the peers apart; random when 0.
	NodeID uint32
	// FlushInterval bounds how long an update waits to be batched
	// (default 20 ms).
	FlushInterval time.Duration
	// SweepInterval is how often the table is walked for sessions whose
	// lifetime on the peers is running out (default 5 s); RefreshMargin
	// is how much lifetime left on a peer triggers a refresh (default
	// 30 s, below the shortest timeout of 60 s).
	SweepInterval time.Duration
	RefreshMargin time.Duration
	// ReorderWait is how long a gap in a peer's sequence may stay open
	// (reordering) before it counts as loss and a resync is asked for
	// (default 200 ms).
	ReorderWait time.Duration
	// MaxDatagramsPerTick paces the sending (default 256 per
	// FlushInterval, 12,800 datagrams or 448,000 sessions a second): a
	// full-table resync of a large table goes out over several ticks
	// instead of overflowing the peer's socket buffer, which would look
	// like loss and ask for the table again.
	MaxDatagramsPerTick int
	// KeepaliveInterval is how long a Sync stays silent at most: with
	// nothing to send for that long it sends an empty datagram, so that
	// its peers can tell an idle gateway from a dead one (default 1 s;
	// see Peers).
	KeepaliveInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// SyncStats count what a Sync did.
type SyncStats struct {
	DatagramsSent     uint64
	DatagramsReceived uint64 // authenticated and in sequence
	BytesSent         uint64
	SessionsSent      uint64 // records sent
	SessionsReceived  uint64 // records applied
	Coalesced         uint64 // updates merged into one not yet sent
	Refreshes         uint64 // records sent because a peer's copy was about to expire
	Unauthenticated   uint64 // dropped: the MAC did not verify (wrong key, damage)
	Replayed          uint64 // dropped: seen before, too old, or an old epoch
	Malformed         uint64 // dropped: authentic but unreadable
	LossDetected      uint64 // gaps in a peer's sequence that did not close
	ResyncRequests    uint64 // HELLOs sent (start, loss)
	ResyncsSent       uint64 // full tables sent to a peer that asked
	ApplyErrors       uint64 // records the table refused: a conflicting binding, or malformed
	ApplyNotOurs      uint64 // records refused: an address in neither pool4 nor standby-pool4
	ApplyAtLimit      uint64 // records refused: max-sessions, per source, per /64, or a full shard
	Oversized         uint64 // datagrams dropped unread: larger than a sender makes
	UnknownSource     uint64 // datagrams dropped unread: not from a configured peer
}

// Sync replicates a Translator's sessions to peer gateways and applies
// theirs (the transport of issue "High availability"): updates are
// coalesced per session and batched into authenticated, sequence-numbered
// datagrams; a receiver that sees a gap that reordering does not close,
// or a peer that restarts, gets the whole table again.
//
// Only creations and state changes are sent at once. Lifetimes are
// refreshed only when a peer's copy would otherwise expire, and deletions
// are never sent: each gateway expires sessions by its own timers, so
// traffic stays bounded by the rate of new flows, not of packets.
//
// Sync does no I/O itself: send transmits a datagram to every peer (see
// SyncConn for UDP unicast and multicast), and the transport calls
// Receive. Install Hook as the Translator's Hooks.Session and call Tick
// every FlushInterval.
type Sync struct {
	x    *Translator
	cfg  SyncConfig
	send func([]byte)

	mu   sync.Mutex
	mac  *syncMAC // sealing, under mu
	rmac *syncMAC // verifying, Receive's own

	// What Receive drops before it takes mu, counted without it.
	oversized, unauthenticated, malformed, unknownSource atomic.Uint64
	node                                                 uint32
	epoch                                                uint64
	seq                                                  uint64
	pending                                              map[key4]syncRecord
	known                                                map[key4]knownExpiry
	gen                                                  uint32 // sweep generation
	peers                                                map[uint32]*peerSeq
	stats                                                SyncStats
	hello                                                bool // a HELLO is due
	dump                                                 bool // a full table is due
	dumpAt                                               time.Time
	sweptAt                                              time.Time
	sentAt                                               time.Time // the last datagram sent
	recs                                                 []syncRecord
}

// knownExpiry is the lifetime a peer holds for a session, in the
// Translator's ticks, and the sweep that last saw the session.
type knownExpiry struct {
	exp   uint32
	sweep uint32
}

// MinSyncKey is the shortest sync key accepted: 256 bits, HMAC-SHA256's
// block of security (RFC 2104 §3 recommends at least the hash's length).
const MinSyncKey = 32

// CheckSyncKey refuses keys that authenticate nothing: shorter than
// MinSyncKey octets, or one octet repeated (all zeros included), which is
// what a placeholder or a failed generator leaves.
func CheckSyncKey(key []byte) error {
	if len(key) < MinSyncKey {
		return fmt.Errorf("%d octets, want at least %d (head -c %d /dev/urandom makes one)", len(key), MinSyncKey, MinSyncKey)
	}
	for _, b := range key[1:] {
		if b != key[0] {
			return nil
		}
	}
	return fmt.Errorf("every octet is %#02x: not a key", key[0])
}

// NewSync returns a Sync for x; send transmits one datagram to all peers.
func NewSync(x *Translator, cfg SyncConfig, send func([]byte)) (*Sync, error) {
	if err := CheckSyncKey(cfg.Key); err != nil {
		return nil, fmt.Errorf("sync: key: %w", err)
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 20 * time.Millisecond
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = 5 * time.Second
	}
	if cfg.RefreshMargin == 0 {
		cfg.RefreshMargin = 30 * time.Second
	}
	if cfg.ReorderWait == 0 {
		cfg.ReorderWait = 200 * time.Millisecond
	}
	if cfg.MaxDatagramsPerTick == 0 {
		cfg.MaxDatagramsPerTick = 256
	}
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = time.Second
	}
	if cfg.KeepaliveInterval < 0 || cfg.MaxDatagramsPerTick < 0 || cfg.FlushInterval < 0 || cfg.SweepInterval < 0 || cfg.RefreshMargin < 0 || cfg.ReorderWait < 0 {
		return nil, errors.New("sync: intervals must be positive")
	}
	if cfg.RefreshMargin <= cfg.SweepInterval {
		return nil, fmt.Errorf("sync: refresh margin %v must exceed the sweep interval %v", cfg.RefreshMargin, cfg.SweepInterval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeID == 0 {
		var b [4]byte
		for cfg.NodeID == 0 {
			if _, err := rand.Read(b[:]); err != nil {
				return nil, err
			}
			cfg.NodeID = binary.BigEndian.Uint32(b[:])
		}
	}
	s := &Sync{x: x, cfg: cfg, send: send, mac: newSyncMAC(cfg.Key), rmac: newSyncMAC(cfg.Key), node: cfg.NodeID,
		epoch:   uint64(cfg.Now().UnixNano()),
		pending: map[key4]syncRecord{}, known: map[key4]knownExpiry{}, peers: map[uint32]*peerSeq{},
		hello: true, gen: 1}
	return s, nil
}

// A SyncPeer is a peer gateway as a Sync knows it.
type SyncPeer struct {
	Node      uint32    // the peer's NodeID
	LastHeard time.Time // its last authentic datagram in sequence
}

// Peers returns the peers heard from since the Sync began, by NodeID. A
// live peer is heard at least every KeepaliveInterval (its own, the same
// by default), so one silent for several of them is down or cut off.
func (s *Sync) Peers() []SyncPeer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SyncPeer, 0, len(s.peers))
	for n, p := range s.peers {
		out = append(out, SyncPeer{Node: n, LastHeard: p.heard})
	}
	slices.SortFunc(out, func(a, b SyncPeer) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// KeepaliveInterval is the interval the Sync sends at least once in.
func (s *Sync) KeepaliveInterval() time.Duration { return s.cfg.KeepaliveInterval }

// Stats returns a copy of the counters.
func (s *Sync) Stats() SyncStats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	st.Oversized = s.oversized.Load()
	st.Unauthenticated = s.unauthenticated.Load()
	st.Malformed = s.malformed.Load()
	st.UnknownSource = s.unknownSource.Load()
	return st
}

// Hook is the Translator's Hooks.Session while syncing: it queues
// creations and state changes, and forgets deleted sessions. It runs on
// the datapath and only touches a map.
func (s *Sync) Hook(ev SessionEvent) {
	k := sessionKey(&ev.Session)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Kind == SessionDeleted {
		delete(s.pending, k)
		delete(s.known, k)
		return
	}
	if ev.Session.Unbound {
		return // a held unsolicited SYN has no IPv6 side yet
	}
	s.queue(k, &ev.Session)
}

func sessionKey(ss *Session) key4 {
	return key4{t4: v4u(ss.IPv4Src.Addr()), tp: ss.IPv4Src.Port(), z4: v4u(ss.IPv4Dst.Addr()), zp: ss.IPv4Dst.Port(), proto: uint8(ss.Proto)}
}

// queue puts a session's current form in the next datagram. The lock is
// held.
func (s *Sync) queue(k key4, ss *Session) {
	if _, ok := s.pending[k]; ok {
		s.stats.Coalesced++
	}
	s.pending[k] = syncRecord{proto: uint8(ss.Proto), state: ss.tcp, x6: ss.IPv6Src, t4: ss.IPv4Src, z4: ss.IPv4Dst,
		remain: ss.expireTick}
}

// Tick sends what is queued, asks for a resync where a gap did not close,
// answers resync requests, and sweeps for refreshes when one is due.
func (s *Sync) Tick() {
	now := s.cfg.Now()
	if now.Sub(s.sweptAt) >= s.cfg.SweepInterval {
		s.sweptAt = now
		s.sweep()
	}
	s.mu.Lock()
	for _, p := range s.peers {
		if p.overdue(now, s.cfg.ReorderWait) {
			s.stats.LossDetected++
			s.hello = true
		}
	}
	dump := s.dump && now.Sub(s.dumpAt) >= time.Second
	if dump {
		s.dump, s.dumpAt = false, now
		s.stats.ResyncsSent++
	}
	s.mu.Unlock()
	if dump {
		s.x.RangeSessions(func(ss Session) bool {
			if !ss.Unbound {
				s.mu.Lock()
				s.queue(sessionKey(&ss), &ss)
				s.mu.Unlock()
			}
			return true
		})
	}
	s.flush()
}

// sweep walks the table: a session whose lifetime on the peers runs out
// within RefreshMargin, and is longer here, is sent again; sessions the
// peers never heard of (made before syncing began) are sent too.
func (s *Sync) sweep() {
	now := s.x.now32()
	margin := uint32(s.cfg.RefreshMargin / time.Second)
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	s.x.RangeSessions(func(ss Session) bool {
		if ss.Unbound {
			return true
		}
		k := sessionKey(&ss)
		s.mu.Lock()
		kn, ok := s.known[k]
		switch {
		case !ok:
			s.queue(k, &ss)
		case int32(ss.expireTick-kn.exp) > 0 && int32(kn.exp-now) < int32(margin):
			s.queue(k, &ss)
			s.stats.Refreshes++
		}
		kn.sweep = gen
		if ok {
			s.known[k] = kn
		}
		s.mu.Unlock()
		return true
	})
	s.mu.Lock()
	for k, kn := range s.known {
		if kn.sweep != gen {
			delete(s.known, k) // gone from the table
		}
	}
	s.mu.Unlock()
}

// flush turns the queue into datagrams and sends them.
func (s *Sync) flush() {
	var out [][]byte
	s.mu.Lock()
	if s.hello {
		s.hello = false
		s.stats.ResyncRequests++
		out = append(out, s.datagram(syncHello, nil))
	}
	if len(s.pending) > 0 {
		now := s.x.now32()
		batch := make([]syncRecord, 0, syncPerDatagram)
		for k, r := range s.pending {
			if len(out) >= s.cfg.MaxDatagramsPerTick {
				break // the rest goes with the next ticks
			}
			delete(s.pending, k)
			exp := r.remain
			if int32(exp-now) <= 0 {
				continue // expired meanwhile
			}
			r.remain = exp - now
			s.known[k] = knownExpiry{exp: exp, sweep: s.gen}
			if batch = append(batch, r); len(batch) == syncPerDatagram {
				out = append(out, s.datagram(syncSessions, batch))
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			out = append(out, s.datagram(syncSessions, batch))
		}
	}
	now := s.cfg.Now()
	if len(out) == 0 && now.Sub(s.sentAt) >= s.cfg.KeepaliveInterval {
		out = append(out, s.datagram(syncSessions, nil)) // keepalive: no records
	}
	if len(out) > 0 {
		s.sentAt = now
	}
	s.mu.Unlock()
	for _, d := range out {
		s.send(d)
	}
}

// datagram builds one sealed datagram; the lock is held.
func (s *Sync) datagram(typ uint8, recs []syncRecord) []byte {
	s.seq++
	b := make([]byte, 0, syncHeaderLen+len(recs)*syncRecordLen+syncMACLen)
	b = appendSyncHeader(b, syncHeader{typ: typ, node: s.node, epoch: s.epoch, seq: s.seq, count: uint16(len(recs))})
	for i := range recs {
		b = appendSyncRecord(b, &recs[i])
	}
	b = s.mac.seal(b)
	s.stats.DatagramsSent++
	s.stats.BytesSent += uint64(len(b))
	s.stats.SessionsSent += uint64(len(recs))
	return b
}

// Receive handles a datagram from a peer: authenticated, not replayed,
// its sessions applied.
func (s *Sync) Receive(b []byte) {
	now := s.cfg.Now()
	// Size first, then the MAC, then parsing, all without the lock the
	// datapath's Hook takes: a flood of forged datagrams costs their
	// receiver alone. Receive is called from one goroutine at a time, and
	// rmac and recs are its own.
	if len(b) > SyncMaxDatagram {
		s.oversized.Add(1)
		return
	}
	if !s.rmac.valid(b) {
		s.unauthenticated.Add(1)
		return
	}
	h, recs, err := parseSync(b, s.recs[:0])
	s.recs = recs
	if err != nil {
		s.malformed.Add(1)
		return
	}
	s.mu.Lock()
	if h.node == s.node {
		s.mu.Unlock()
		return // our own, looped back by multicast
	}
	p := s.peers[h.node]
	if p == nil {
		p = &peerSeq{}
		s.peers[h.node] = p
	}
	ok, lost := p.accept(h.epoch, h.seq, now)
	if !ok {
		s.stats.Replayed++
		s.mu.Unlock()
		return
	}
	p.heard = now
	s.stats.DatagramsReceived++
	if lost {
		s.stats.LossDetected++
		s.hello = true
	}
	if h.typ == syncHello {
		s.dump = true // answered by the next Tick
	}
	recs = append([]syncRecord(nil), recs...)
	s.mu.Unlock()

	// Apply outside the lock: it takes the table's locks, which the
	// datapath holds while it calls Hook.
	for i := range recs {
		r := &recs[i]
		exp := now.Add(time.Duration(r.remain) * time.Second)
		err := s.x.Apply(SessionEvent{Kind: SessionChanged, Session: Session{Proto: Protocol(r.proto), IPv6Src: r.x6,
			IPv4Src: r.t4, IPv4Dst: r.z4, Expires: exp, tcp: r.state}})
		s.mu.Lock()
		switch {
		case errors.Is(err, ErrApplyAddress):
			s.stats.ApplyNotOurs++
		case errors.Is(err, ErrApplyLimit):
			s.stats.ApplyAtLimit++
		case err != nil:
			s.stats.ApplyErrors++
		default:
			s.stats.SessionsReceived++
			// The peer knows this lifetime: no echo unless traffic here
			// extends it.
			s.known[r.key()] = knownExpiry{exp: s.x.now32() + r.remain, sweep: s.gen}
		}
		s.mu.Unlock()
	}
}

// peerSeq tracks one peer's sequence: a 64-datagram window against
// replays, and holes that reordering may still fill.
type peerSeq struct {
	heard              time.Time // its last authentic datagram in sequence
	epoch, first, high uint64
	win                uint64 // bit i: high-i received
	holeAt             time.Time
}

func (p *peerSeq) valid() uint64 {
	if n := p.high - p.first; n < 63 {
		return 1<<(n+1) - 1
	}
	return ^uint64(0)
}

// accept reports whether the datagram (epoch, seq) is new, and whether
// accepting it pushed an unfilled hole out of the window (a loss).
func (p *peerSeq) accept(epoch, seq uint64, now time.Time) (ok, lost bool) {
	switch {
	case epoch < p.epoch:
		return false, false // an old incarnation's datagram: replayed
	case epoch > p.epoch:
		// A new peer, or a restarted one: its HELLO asks for our table.
		*p = peerSeq{epoch: epoch, first: seq, high: seq, win: 1}
		return true, false
	}
	if seq > p.high {
		shift := seq - p.high
		if shift > 64 {
			// Numbers between the old window and the new one were
			// never seen and now never can be.
			lost = true
			p.win = 1
		} else {
			// A hole pushed out of the window is a loss; the numbers
			// skipped stay inside it, waiting for reordering (a shift
			// of 64 pushes the whole window out: in Go, win<<64 is 0).
			lost = ^p.win&p.valid()&(^uint64(0)<<(64-shift)) != 0
			p.win = p.win<<shift | 1
		}
		p.high = seq
	} else {
		d := p.high - seq
		if d >= 64 || seq < p.first || p.win&(1<<d) != 0 {
			return false, false
		}
		p.win |= 1 << d
	}
	if ^p.win&p.valid() == 0 {
		p.holeAt = time.Time{}
	} else if p.holeAt.IsZero() {
		p.holeAt = now
	}
	return true, lost
}

// overdue reports a hole older than wait, and forgets it: the resync
// replaces what it held.
func (p *peerSeq) overdue(now time.Time, wait time.Duration) bool {
	if p.holeAt.IsZero() || now.Sub(p.holeAt) <= wait {
		return false
	}
	p.win |= p.valid()
	p.holeAt = time.Time{}
	return true
}
