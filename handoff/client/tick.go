package client

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/wire"
)

// Tick runs the client's timers: retransmissions and their failure
// (§8.3), probes of UNREACHABLE servers, activity reports (§8.4) and the
// expiry of idle cache entries and peers. Call it every 50-100 ms; the
// RTO starts at 200 ms.
func (c *Client) Tick() {
	now := c.cfg.Now()
	c.mu.Lock()
	for s, p := range c.peers {
		c.retransmit(p, now)
		switch p.state {
		case Unreachable:
			if !now.Before(p.probeAt) {
				c.probe(p, now)
			}
		case Capable:
			if !now.Before(p.refreshAt) {
				c.refresh(p, now)
			}
		}
		for _, e := range p.byPort {
			if now.Sub(e.lastUse) > c.cfg.CacheIdleTimeout {
				c.remove(p, e)
			}
		}
		if len(p.byPort) == 0 && len(p.pending) == 0 && len(p.adopts) == 0 &&
			now.Sub(p.lastActivity) > PeerIdleTimeout && !c.static(s) {
			delete(c.peers, s)
		}
	}
	c.unlockAndFlush()
}

func (c *Client) static(s netip.Addr) bool {
	for _, a := range c.cfg.Servers {
		if a == s {
			return true
		}
	}
	return false
}

// retransmit resends requests whose timeout passed, doubling it, and
// fails those whose transmissions ran out (§8.3).
func (c *Client) retransmit(p *peer, now time.Time) {
	failed := false
	keep := p.inflight[:0]
	for _, q := range p.inflight {
		switch {
		case now.Before(q.due):
			keep = append(keep, q)
		case q.once:
			delete(p.pending, q.key) // never retransmitted, and no failure
		case q.sent < MaxTransmissions:
			p.unsent = append(p.unsent, q)
		default:
			failed = true
			keep = append(keep, q) // failAll handles it
		}
	}
	p.inflight = keep
	if failed {
		c.stats.Failures++
		c.failAll(p, now)
		return
	}
	c.transmit(p, now)
}

// failAll: a request's transmissions ran out. CAPABLE becomes UNREACHABLE
// (held outbound packets get local ports, held inbound ones are dropped);
// PROBING becomes NOT_CAPABLE (outbound packets take the RFC 6146 path).
func (c *Client) failAll(p *peer, now time.Time) {
	switch p.state {
	case Probing:
		c.setNotCapable(p)
		return
	case Capable:
		p.state = Unreachable
		p.probeAt = now.Add(UnreachableProbeInterval)
	}
	pend := append(p.inflight, p.unsent...)
	p.inflight, p.unsent = nil, nil
	for _, q := range pend {
		delete(p.pending, q.key)
		r, isReq := q.msg.(*wire.MapRequest)
		switch {
		case isReq && r.Flags&wire.FlagAdopt != 0:
			if e := p.byPort[r.Port]; e != nil && e.local {
				e.adopting = false
				c.queueAdopt(p, e, now)
			}
		case isReq && p.state == Unreachable:
			if e := c.local(p, r.Client, now); e != nil {
				c.deliver(q.packets, true)
				continue
			}
			c.stats.HeldDropped += uint64(len(q.packets))
		default:
			c.stats.HeldDropped += uint64(len(q.packets))
		}
	}
}

// probe sends one datagram to an UNREACHABLE server, not retransmitted:
// SESSION and up to 16 queued ADOPTs (§8.3).
func (c *Client) probe(p *peer, now time.Time) {
	p.probeAt = now.Add(UnreachableProbeInterval)
	live := p.adopts[:0]
	for _, e := range p.adopts {
		if p.byPort[e.port] == e && e.local {
			live = append(live, e)
		}
	}
	p.adopts = live
	var msgs []wire.Message
	for _, e := range p.adopts[:min(len(p.adopts), handoff.MaxRequestsPerDatagram)] {
		msgs = append(msgs, &wire.MapRequest{Flags: wire.FlagAdopt, Port: e.port, Client: e.client})
	}
	c.sendDatagram(p, msgs)
}

// refresh reports the SERVER entries that carried traffic since their
// last report (§8.4), never retransmitted.
func (c *Client) refresh(p *peer, now time.Time) {
	p.refreshAt = now.Add(c.refreshInterval())
	var entries []wire.RefreshEntry
	for _, e := range p.byPort {
		if e.used && !e.local {
			e.used = false
			entries = append(entries, wire.RefreshEntry{Port: e.port, Generation: e.gen})
		}
	}
	p.lastRefresh, p.refreshCookie = nil, p.cookie
	for len(entries) > 0 {
		n := min(len(entries), MaxRefreshEntries)
		c.sendDatagram(p, []wire.Message{&wire.Refresh{Entries: entries[:n]}})
		c.stats.Refreshes++
		if len(p.lastRefresh) == 0 {
			p.lastRefresh = entries[:n] // the first report, for a challenge
		}
		entries = entries[n:]
	}
}

// refreshInterval is RefreshInterval ± RefreshJitter, so that the reports
// of many NAT64s do not synchronise.
func (c *Client) refreshInterval() time.Duration {
	j := float64(RefreshInterval) * RefreshJitter
	return RefreshInterval - time.Duration(j) + time.Duration(c.randN(int(2*j)+1))
}

// loadState reads the capability state file (§8.5): servers confirmed
// within CapableRecordTTL begin CAPABLE. Lines are "S HP unix-seconds".
func (c *Client) loadState(now time.Time) {
	if c.cfg.StateFile == "" {
		return
	}
	b, err := os.ReadFile(c.cfg.StateFile)
	if err != nil {
		if !os.IsNotExist(err) {
			c.logf("handoff: capability state file: %v", err)
		}
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var s netip.Addr
		var hp, at uint64
		if len(f) == 3 {
			s, err = netip.ParseAddr(f[0])
			if err == nil {
				hp, err = strconv.ParseUint(f[1], 10, 16)
			}
			if err == nil {
				at, err = strconv.ParseUint(f[2], 10, 63)
			}
		}
		if len(f) != 3 || err != nil || !s.Is4() {
			c.logf("handoff: capability state file %s line %d: want \"S HP unix-seconds\"", c.cfg.StateFile, line)
			continue
		}
		when := time.Unix(int64(at), 0)
		if uint16(hp) != c.cfg.ServerPort || now.Sub(when) > CapableRecordTTL {
			continue
		}
		p := c.peer(s, now)
		p.state, p.confirmed = Capable, when
	}
}

// saveState rewrites the capability state file when the set of servers
// that answered changed (§8.5).
func (c *Client) saveState(now time.Time) {
	if c.cfg.StateFile == "" {
		return
	}
	var b strings.Builder
	b.WriteString("# handoff/1 capability state: server, port, last confirmation (unix seconds)\n")
	for _, p := range c.peers {
		if p.state == Capable || p.state == Unreachable {
			at := p.confirmed
			if at.IsZero() {
				at = now
			}
			fmt.Fprintf(&b, "%v %d %d\n", p.addr, c.cfg.ServerPort, at.Unix())
		}
	}
	tmp := c.cfg.StateFile + ".tmp"
	err := os.WriteFile(tmp, []byte(b.String()), 0o644)
	if err == nil {
		err = os.Rename(tmp, c.cfg.StateFile)
	}
	if err != nil {
		c.logf("handoff: capability state file %s: %v", filepath.Clean(c.cfg.StateFile), err)
	}
}
