package client

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/v6xlat/xlat/handoff"

	"github.com/v6xlat/xlat/handoff/wire"

	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

// PeerState is what a NAT64 knows of a server (§8.1).
type PeerState uint8

const (
	Unknown     PeerState = iota // nothing known
	Probing                      // the first datagram is out
	Capable                      // the server answers
	Unreachable                  // answered before, silent now
	NotCapable                   // no handoff server there
)

// String returns the state's name (§8.1).
func (s PeerState) String() string {
	switch s {
	case Unknown:
		return "UNKNOWN"
	case Probing:
		return "PROBING"
	case Capable:
		return "CAPABLE"
	case Unreachable:
		return "UNREACHABLE"
	case NotCapable:
		return "NOT_CAPABLE"
	}
	return fmt.Sprintf("PeerState(%d)", uint8(s))
}

// ReservedPorts implements nat64.Broker: the control ports of N, which
// carry the exchange with the servers (§3).
func (c *Client) ReservedPorts() (first, last uint16) {
	return handoff.ControlPortMin, handoff.ControlPortMax
}

// Config configures the NAT64 side (§8).
type Config struct {
	NAT64       netip.Addr       // N: the pool4 address handoff bindings use
	Pool6       translate.Prefix // Pref64, to find S in an IPv6 packet
	ControlPort uint16           // CP; DefaultControlPort when 0
	ServerPort  uint16           // HP; DefaultServerPort when 0
	// Destinations are the IPv4 prefixes handoff is enabled for; empty
	// means every destination (§8).
	Destinations []netip.Prefix
	// Servers begin CAPABLE at start (§8.5), as do those in StateFile
	// confirmed within CapableRecordTTL.
	Servers   []netip.Addr
	StateFile string // the capability state file; "" keeps none
	Note      string // text of the NOTE in notifications

	CacheMaxEntries  int           // CacheMaxEntries when 0
	CacheIdleTimeout time.Duration // CacheIdleTimeout when 0
	SlotMin, SlotMax uint16        // the slot range; §11 defaults when 0

	// Send transmits a control datagram: a whole IPv4/UDP packet from
	// N:CP to S:HP. Deliver hands back a held or echoed packet (IPv6 when
	// to4, else IPv4) to be translated as if just received. Both are
	// called without the client's lock held and must not block for long.
	Send    func(pkt []byte)
	Deliver func(pkt []byte, to4 bool)
	// LiveBindings lists the NAT64's own bindings (client -> BIB port)
	// with a live session towards server, for adoption when the server
	// becomes CAPABLE (§8.4). May be nil.
	LiveBindings func(server netip.Addr) []LocalBinding

	Rand io.Reader        // crypto/rand when nil
	Now  func() time.Time // time.Now when nil; tests inject a clock
	// Errorf, if set, receives diagnostics (unknown ERROR codes, state
	// file trouble).
	Errorf func(format string, args ...any)
}

// LocalBinding is a binding the NAT64 chose itself.
type LocalBinding struct {
	Client netip.AddrPort
	Port   uint16
}

// Stats are the NAT64-side counters of §11, and what the client
// does.
type Stats struct {
	wire.ParseStats
	BadToken         uint64
	EchoMismatch     uint64
	Challenges       uint64
	RequestsSent     uint64
	Retransmissions  uint64
	Failures         uint64 // requests whose transmissions ran out
	Refused          uint64
	Notifications    uint64
	NotifySuppressed uint64
	NotifyNoCredit   uint64 // notifications left out: the data traffic had not paid for them
	PeersRefused     uint64 // servers not tracked: MaxPeers reached
	Refreshes        uint64
	Hits, Misses     uint64
	HeldDropped      uint64 // held packets dropped (buffer full, refusal, failure)
	CacheEvicted     uint64
	EpochChanges     uint64
	ServerErrors     uint64
}

// Client is the NAT64 side of handoff/1 (§8): per-server peer states and
// caches, the requests with their retransmission, fallback to local ports
// when a server falls silent, notifications, activity reports and the
// capability state file. It performs no I/O of its own: the gateway feeds
// it packets (Out, In, Park, Receive), calls Tick a few times a second, and
// gets control datagrams and released packets through Send and Deliver.
//
// Safe for concurrent use.
type Client struct {
	cfg   Config
	kn    [32]byte // Kn, for tokens
	epoch uint64   // nat64_epoch

	mu     sync.Mutex
	peers  map[netip.Addr]*peer
	count  int // cache entries, all peers
	credit int // octets of notification the data traffic has paid for
	stats  Stats
	// The work a call produced, sent and delivered after the lock is let
	// go.
	outbox []outItem
}

type outItem struct {
	pkt     []byte
	deliver bool
	to4     bool
}

// New returns a client with a new nat64_epoch and Kn (§8.5).
func New(cfg Config) (*Client, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	now := cfg.Now()
	if !cfg.NAT64.Is4() {
		return nil, fmt.Errorf("handoff: client NAT64 %v: must be an IPv4 address", cfg.NAT64)
	}
	if cfg.Send == nil || cfg.Deliver == nil {
		return nil, errors.New("handoff: client needs Send and Deliver")
	}
	if cfg.ControlPort == 0 {
		cfg.ControlPort = handoff.DefaultControlPort
	}
	if cfg.ControlPort < handoff.ControlPortMin || cfg.ControlPort > handoff.ControlPortMax {
		return nil, fmt.Errorf("handoff: control port %d: must be %d-%d", cfg.ControlPort, handoff.ControlPortMin, handoff.ControlPortMax)
	}
	if cfg.ServerPort == 0 {
		cfg.ServerPort = handoff.DefaultServerPort
	}
	if cfg.SlotMin == 0 {
		cfg.SlotMin = handoff.SlotPortMin
	}
	if cfg.SlotMax == 0 {
		cfg.SlotMax = handoff.SlotPortMax
	}
	if cfg.SlotMin < handoff.SlotPortMin || cfg.SlotMin > cfg.SlotMax {
		return nil, fmt.Errorf("handoff: slot range %d-%d: must lie within %d-%d", cfg.SlotMin, cfg.SlotMax, handoff.SlotPortMin, handoff.SlotPortMax)
	}
	if cfg.CacheMaxEntries == 0 {
		cfg.CacheMaxEntries = CacheMaxEntries
	}
	if cfg.CacheIdleTimeout == 0 {
		cfg.CacheIdleTimeout = CacheIdleTimeout
	}
	for i, p := range cfg.Destinations {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("handoff: destinations[%d] %v: not an IPv4 prefix", i, p)
		}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	c := &Client{cfg: cfg, peers: map[netip.Addr]*peer{}, credit: NotifyCreditMax}
	var e [8]byte
	for c.epoch == 0 {
		if _, err := io.ReadFull(cfg.Rand, c.kn[:]); err != nil {
			return nil, fmt.Errorf("handoff: Kn: %w", err)
		}
		if _, err := io.ReadFull(cfg.Rand, e[:]); err != nil {
			return nil, fmt.Errorf("handoff: nat64_epoch: %w", err)
		}
		c.epoch = binary.BigEndian.Uint64(e[:])
	}
	for _, s := range cfg.Servers {
		if !s.Is4() {
			return nil, fmt.Errorf("handoff: server %v: must be an IPv4 address", s)
		}
		c.peer(s, now).state = Capable
	}
	c.loadState(now)
	return c, nil
}

// Addr returns N, the address the client's ports belong to.
func (c *Client) Addr() netip.Addr { return c.cfg.NAT64 }

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// PeerInfo describes one server for show commands and metrics.
type PeerInfo struct {
	Server     netip.Addr
	State      PeerState
	Entries    int
	Pending    int
	TableEpoch uint64
}

// Peers lists the known servers.
func (c *Client) Peers() []PeerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PeerInfo, 0, len(c.peers))
	for _, p := range c.peers {
		out = append(out, PeerInfo{p.addr, p.state, len(p.byPort), len(p.pending), p.tableEpoch})
	}
	return out
}

// lookup returns the cached binding of client towards server, for tests
// and show commands; it does not touch the entry.
func (c *Client) lookup(server netip.Addr, client netip.AddrPort) (port uint16, gen uint32, local bool, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[server]; p != nil {
		if e := p.byClient[client]; e != nil {
			return e.port, e.gen, e.local, true
		}
	}
	return 0, 0, false, false
}

// enabled reports whether handoff applies to destination s (§8).
func (c *Client) enabled(s netip.Addr) bool {
	if !s.Is4() {
		return false
	}
	if len(c.cfg.Destinations) == 0 {
		return true
	}
	for _, p := range c.cfg.Destinations {
		if p.Contains(s) {
			return true
		}
	}
	return false
}

func (c *Client) inSlots(port uint16) bool { return port >= c.cfg.SlotMin && port <= c.cfg.SlotMax }

// Out maps an outbound flow from client towards server (§8.2): the port
// on N to use, or what to do instead. peek (a packet quoted in an ICMP
// error) only reads the cache.
func (c *Client) Out(server netip.Addr, client netip.AddrPort, peek bool) (uint16, nat64.Claim) {
	if !c.enabled(server) {
		return 0, nat64.NotClaimed
	}
	now := c.cfg.Now()
	c.mu.Lock()
	port, claim := c.out(now, server, client, peek)
	c.unlockAndFlush()
	return port, claim
}

func (c *Client) out(now time.Time, server netip.Addr, client netip.AddrPort, peek bool) (uint16, nat64.Claim) {
	if !peek && c.credit < NotifyCreditMax {
		c.credit = min(c.credit+NotifyCreditPerPacket, NotifyCreditMax)
	}
	p := c.peers[server]
	if p != nil {
		if e := p.byClient[client]; e != nil {
			if !peek {
				c.touch(p, e, now)
			}
			c.stats.Hits++
			return e.port, nat64.Claimed
		}
	}
	if peek {
		if p != nil && (p.state == Capable || p.state == Unreachable) {
			return 0, nat64.Refused
		}
		return 0, nat64.NotClaimed
	}
	if p == nil || p.state == Unknown || p.state == Probing || p.state == NotCapable {
		return 0, nat64.NotClaimed
	}
	c.stats.Misses++
	p.lastActivity = now
	if p.state == Unreachable {
		// §8.3 fallback: a local port, an ADOPT queued.
		e := c.local(p, client, now)
		if e == nil {
			return 0, nat64.Refused
		}
		return e.port, nat64.Claimed
	}
	k := pendKey{client: client}
	if q := p.pending[k]; q != nil {
		return 0, nat64.Await
	}
	if until, ok := p.holdDown[client]; ok {
		if now.Before(until) {
			return 0, nat64.Refused
		}
		delete(p.holdDown, client)
	}
	if len(p.pending) >= MaxPendingPerPeer {
		return 0, nat64.Refused
	}
	c.request(p, &pending{key: k, msg: &wire.MapRequest{Client: client}}, now)
	return 0, nat64.Await
}

// In maps an inbound packet from server to port on N (§8.2): the client
// to deliver it to, or what to do instead.
func (c *Client) In(server netip.Addr, port uint16, peek bool) (netip.AddrPort, nat64.Claim) {
	if !c.inSlots(port) || !c.enabled(server) {
		return netip.AddrPort{}, nat64.NotClaimed
	}
	now := c.cfg.Now()
	c.mu.Lock()
	client, claim := c.in(now, server, port, peek)
	c.unlockAndFlush()
	return client, claim
}

func (c *Client) in(now time.Time, server netip.Addr, port uint16, peek bool) (netip.AddrPort, nat64.Claim) {
	p := c.peers[server]
	if p == nil {
		return netip.AddrPort{}, nat64.NotClaimed
	}
	if e := p.byPort[port]; e != nil {
		if !peek {
			c.touch(p, e, now)
		}
		c.stats.Hits++
		return e.client, nat64.Claimed
	}
	switch {
	case p.state != Capable && p.state != Unreachable:
		return netip.AddrPort{}, nat64.NotClaimed
	case peek || p.state == Unreachable:
		return netip.AddrPort{}, nat64.Refused
	}
	c.stats.Misses++
	p.lastActivity = now
	k := pendKey{port: port}
	if p.pending[k] != nil {
		return netip.AddrPort{}, nat64.Await
	}
	if len(p.pending) >= MaxPendingPerPeer {
		return netip.AddrPort{}, nat64.Refused
	}
	c.request(p, &pending{key: k, msg: &wire.Lookup{Port: port}}, now)
	return netip.AddrPort{}, nat64.Await
}

// Park keeps a packet that drew nat64.Await until its request is answered
// (PendingBufferPackets per request, the oldest dropped). to4: pkt is the
// IPv6 packet from the client; otherwise the IPv4 packet from the server.
// The packet is copied.
func (c *Client) Park(pkt []byte, to4 bool) {
	f, ok := c.flowOf(pkt, to4)
	c.mu.Lock()
	defer c.mu.Unlock()
	var q *pending
	if ok {
		if p := c.peers[f.server]; p != nil {
			if to4 {
				q = p.pending[pendKey{client: f.client}]
			} else {
				q = p.pending[pendKey{port: f.port}]
			}
		}
	}
	if q == nil { // answered meanwhile, or unparseable: the sender retries
		c.stats.HeldDropped++
		return
	}
	if len(q.packets) == PendingBufferPackets {
		q.packets = q.packets[1:]
		c.stats.HeldDropped++
	}
	q.packets = append(q.packets, append([]byte(nil), pkt...))
	q.to4 = to4
}

// SessionCreated tells the client that the NAT64's own RFC 6146 processing
// created a session from client towards server on BIB port t (§8.4): a
// notification goes out if the server is not (yet) CAPABLE.
func (c *Client) SessionCreated(server netip.Addr, client netip.AddrPort, t uint16) {
	if !c.inSlots(t) || !c.enabled(server) {
		return
	}
	now := c.cfg.Now()
	c.mu.Lock()
	c.notify(now, server, client, t)
	c.unlockAndFlush()
}

// unlockAndFlush lets go of the lock and then sends and delivers what the
// call produced: Send and Deliver may call back into the client. A hit
// produces nothing and costs no second lock.
func (c *Client) unlockAndFlush() {
	items := c.outbox
	c.outbox = nil
	c.mu.Unlock()
	for _, it := range items {
		if it.deliver {
			c.cfg.Deliver(it.pkt, it.to4)
		} else {
			c.cfg.Send(it.pkt)
		}
	}
}
