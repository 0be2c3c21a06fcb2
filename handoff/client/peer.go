package client

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/internal/bucket"
	"github.com/v6xlat/xlat/handoff/wire"
)

// peer is one server S as the NAT64 sees it (§8.1, §8.2).
type peer struct {
	addr       netip.Addr
	state      PeerState
	token      uint64
	cookie     uint64
	tableEpoch uint64

	byClient map[netip.AddrPort]*entry
	byPort   map[uint16]*entry

	pending map[pendKey]*pending
	// unsent holds requests waiting for the next datagram; transmit
	// empties it before the call that filled it returns, so outside the
	// lock it is empty and a request in flight is found in inflight.
	unsent   []*pending
	inflight []*pending // sent, awaiting an answer
	holdDown map[netip.AddrPort]time.Time
	adopts   []*entry // UNREACHABLE: LOCAL entries to adopt
	// lastRefresh is the last activity report, resent if a challenge
	// answers it (it is not retransmitted otherwise).
	lastRefresh   []wire.RefreshEntry
	refreshCookie uint64

	challenges   int // in a row
	lastActivity time.Time
	probeAt      time.Time // UNREACHABLE: next probe
	refreshAt    time.Time
	notify       bucket.Bucket
	confirmed    time.Time // last valid reply, for the state file
}

// entry is a cache entry (§8.2): (S, C) <-> p.
type entry struct {
	client   netip.AddrPort
	port     uint16
	gen      uint32 // 0 for LOCAL
	local    bool   // chosen by the NAT64, unconfirmed
	lastUse  time.Time
	used     bool // carried a packet since it was last reported
	adopting bool // an ADOPT is queued or out
}

// pendKey names a pending request: by client (MAP_REQUEST) or by port
// (LOOKUP, ADOPT).
type pendKey struct {
	client netip.AddrPort
	port   uint16
}

// pending is a request and the packets held for it.
type pending struct {
	key     pendKey
	msg     wire.Message // *MapRequest or *Lookup
	packets [][]byte
	to4     bool
	sent    int       // transmissions so far
	due     time.Time // when the current transmission times out
	once    bool      // a later notification: sent once, never retransmitted
	cookie  uint64    // the cookie it last went out with
}

func (c *Client) peer(s netip.Addr, now time.Time) *peer {
	p := c.peers[s]
	if p == nil {
		p = &peer{addr: s, token: handoff.Token(c.kn, s, c.cfg.ServerPort, c.epoch),
			byClient: map[netip.AddrPort]*entry{}, byPort: map[uint16]*entry{},
			pending: map[pendKey]*pending{}, holdDown: map[netip.AddrPort]time.Time{},
			lastActivity: now,
			notify:       bucket.New(NotifyRate, NotifyBurst)}
		c.peers[s] = p
	}
	return p
}

func (c *Client) touch(p *peer, e *entry, now time.Time) {
	e.lastUse, e.used = now, true
	p.lastActivity = now
}

// install puts (C, p) in p's cache, removing entries in the way so that
// the cache stays a bijection per server.
func (c *Client) install(p *peer, client netip.AddrPort, port uint16, gen uint32, local bool, now time.Time) *entry {
	if old := p.byPort[port]; old != nil {
		c.remove(p, old)
	}
	if old := p.byClient[client]; old != nil {
		c.remove(p, old)
	}
	if c.count >= c.cfg.CacheMaxEntries {
		c.evictOne()
	}
	e := &entry{client: client, port: port, gen: gen, local: local, lastUse: now}
	p.byClient[client], p.byPort[port] = e, e
	c.count++
	return e
}

func (c *Client) remove(p *peer, e *entry) {
	if p.byPort[e.port] == e {
		delete(p.byPort, e.port)
	}
	if p.byClient[e.client] == e {
		delete(p.byClient, e.client)
	}
	e.adopting = false
	c.count--
}

// evictOne makes room in a full cache: the least recently used of a
// sample (map order is random), dropped silently (§8.2). An exact LRU
// would cost a list update on every packet of every flow.
func (c *Client) evictOne() {
	var victim *entry
	var vp *peer
	n := 0
	for _, p := range c.peers {
		for _, e := range p.byPort {
			if victim == nil || e.lastUse.Before(victim.lastUse) {
				victim, vp = e, p
			}
			if n++; n == 16 {
				break
			}
		}
		if n == 16 {
			break
		}
	}
	if victim != nil {
		c.remove(vp, victim)
		c.stats.CacheEvicted++
	}
}

// local gives a new client of an UNREACHABLE server a LOCAL entry on a
// random slot port not in the peer's cache, and queues its ADOPT (§8.3).
func (c *Client) local(p *peer, client netip.AddrPort, now time.Time) *entry {
	n := int(c.cfg.SlotMax) - int(c.cfg.SlotMin) + 1
	if len(p.byPort) >= n {
		return nil
	}
	var port uint16
	for {
		port = c.cfg.SlotMin + uint16(c.randN(n))
		if p.byPort[port] == nil {
			break
		}
	}
	e := c.install(p, client, port, 0, true, now)
	c.queueAdopt(p, e, now)
	return e
}

func (c *Client) randN(n int) int {
	var b [8]byte
	if _, err := c.cfg.Rand.Read(b[:]); err != nil {
		return rand.IntN(n)
	}
	return int(binary.BigEndian.Uint64(b[:]) % uint64(n))
}

// queueAdopt records that e must be adopted: at once in CAPABLE, with the
// next probe in UNREACHABLE.
func (c *Client) queueAdopt(p *peer, e *entry, now time.Time) {
	if e.adopting {
		return
	}
	e.adopting = true
	k := pendKey{port: e.port}
	if p.state == Capable && p.pending[k] == nil {
		c.request(p, &pending{key: k, msg: &wire.MapRequest{Flags: wire.FlagAdopt, Port: e.port, Client: e.client}}, now)
	} else {
		p.adopts = append(p.adopts, e)
	}
}

// request queues a request for the next datagram to p.
func (c *Client) request(p *peer, q *pending, now time.Time) {
	p.pending[q.key] = q
	p.unsent = append(p.unsent, q)
	if p.state == Unknown {
		p.state = Probing
	}
	c.transmit(p, now)
}

// notify sends SESSION + MAP_REQUEST(A, t, C) + NOTE for a session the
// NAT64 created itself towards a server that is not CAPABLE (§8.4).
func (c *Client) notify(now time.Time, s netip.Addr, client netip.AddrPort, t uint16) {
	if c.peers[s] == nil && len(c.peers) >= MaxPeers {
		c.stats.PeersRefused++
		return
	}
	p := c.peer(s, now)
	p.lastActivity = now
	switch p.state {
	case Capable, Unreachable:
		return
	}
	// What the notification may cost at most, all its transmissions.
	cost := (wire.HeaderSize + len(wire.AppendMessage(nil, &wire.MapRequest{})) + len(wire.AppendMessage(nil, &wire.Note{Text: c.cfg.Note}))) * MaxTransmissions
	if c.credit < cost {
		c.stats.NotifyNoCredit++
		return
	}
	if !p.notify.Take(now) {
		c.stats.NotifySuppressed++
		return
	}
	c.credit -= cost
	c.stats.Notifications++
	q := &pending{key: pendKey{port: t}, msg: &wire.MapRequest{Flags: wire.FlagAdopt, Port: t, Client: client}}
	if p.state != Unknown {
		// Later notifications are sent once (§8.4).
		q.once = true
	}
	if p.pending[q.key] != nil {
		return
	}
	c.request(p, q, now)
}

// transmit sends p's unsent requests, MaxRequestsPerDatagram per datagram.
func (c *Client) transmit(p *peer, now time.Time) {
	for len(p.unsent) > 0 {
		n := min(len(p.unsent), handoff.MaxRequestsPerDatagram)
		batch := p.unsent[:n]
		p.unsent = p.unsent[n:]
		msgs := make([]wire.Message, 0, n+1)
		note := false
		for _, q := range batch {
			msgs = append(msgs, q.msg)
			if r, ok := q.msg.(*wire.MapRequest); ok && r.Flags&wire.FlagAdopt != 0 && c.cfg.Note != "" && (p.state == Probing || p.state == NotCapable) {
				note = true
			}
			if q.sent > 0 {
				c.stats.Retransmissions++
			}
			q.sent++
			q.due = now.Add(RTOInitial << (q.sent - 1))
			q.cookie = p.cookie
			c.stats.RequestsSent++
			// A notification sent once stays in flight until its timeout
			// all the same, so that a challenge resends it.
			p.inflight = append(p.inflight, q)
		}
		if note {
			msgs = append(msgs, &wire.Note{Text: c.cfg.Note})
		}
		c.sendDatagram(p, msgs)
	}
}

// sendDatagram wraps messages in SESSION and an IPv4/UDP header from N:CP
// to S:HP.
func (c *Client) sendDatagram(p *peer, msgs []wire.Message) {
	d := wire.Datagram{Session: wire.Session{Version: wire.ProtocolVersion, NAT64Epoch: c.epoch, TableEpoch: p.tableEpoch,
		Cookie: p.cookie, Token: p.token}, Messages: msgs}
	pkt := make([]byte, udpIPv4Header, udpIPv4Header+MaxControlDatagram)
	pkt = d.Append(pkt)
	encodeUDP4(pkt, netip.AddrPortFrom(c.cfg.NAT64, c.cfg.ControlPort), netip.AddrPortFrom(p.addr, c.cfg.ServerPort))
	c.outbox = append(c.outbox, outItem{pkt: pkt})
}

// deliver releases held packets to be translated.
func (c *Client) deliver(pkts [][]byte, to4 bool) {
	for _, b := range pkts {
		c.outbox = append(c.outbox, outItem{pkt: b, deliver: true, to4: to4})
	}
}

// complete ends a pending request; its packets are delivered if ok,
// dropped otherwise.
func (c *Client) complete(p *peer, k pendKey, ok bool) {
	q := p.pending[k]
	if q == nil {
		return
	}
	delete(p.pending, k)
	for i, r := range p.inflight {
		if r == q {
			p.inflight = append(p.inflight[:i], p.inflight[i+1:]...)
			break
		}
	}
	if ok {
		c.deliver(q.packets, q.to4)
	} else {
		c.stats.HeldDropped += uint64(len(q.packets))
	}
}
