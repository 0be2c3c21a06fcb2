package gateway

import (
	"fmt"
	"strings"
	"time"

	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/nat64"
)

// fullAt is the share of a limit above which a table counts as full
// enough to fail the health check: new flows are about to be refused.
const fullAt = 0.9

// syncDownAfter is how many of a peer's keepalive intervals may pass
// without a datagram before the peer counts as down.
const syncDownAfter = 3

// HealthRow is one instance's health: "xlatgw health" prints it, and a
// row with Problems fails the check.
type HealthRow struct {
	Instance string `json:"instance"`
	Type     string `json:"type"`
	// DatapathAge is how long the slowest datapath loop has been on its
	// current round (0: all wait for packets). The datapath is shared by
	// the instances; it counts as stalled from 500 ms.
	DatapathAge float64        `json:"datapath_age_seconds"`
	Sessions    int            `json:"sessions,omitempty"`
	MaxSessions int            `json:"max_sessions,omitempty"` // 0: no limit
	Pool4       []Pool4Use     `json:"pool4,omitempty"`
	Sync        *SyncHealth    `json:"sync,omitempty"`
	Handoff     map[string]int `json:"handoff_servers,omitempty"` // servers by peer state
	Problems    []string       `json:"problems,omitempty"`
}

// Pool4Use is how many of pool4's (address, port) pairs a protocol's
// bindings hold.
type Pool4Use struct {
	Proto string `json:"proto"`
	Used  int    `json:"used"`
	Size  int    `json:"size"`
}

// SyncHealth is what an instance hears of its sync peers.
type SyncHealth struct {
	Configured int              `json:"configured_peers,omitempty"` // unicast peers; 0 with multicast
	Peers      []SyncPeerHealth `json:"peers"`
}

// SyncPeerHealth is one sync peer as an instance hears it.
type SyncPeerHealth struct {
	Node      uint32  `json:"node"`
	LastHeard float64 `json:"last_heard_seconds"` // the lag: age of its last datagram
	Up        bool    `json:"up"`
}

// Health checks every instance at now.
func (g *Gateway) Health(now time.Time) []HealthRow {
	age := g.DatapathAge()
	var out []HealthRow
	for _, in := range g.cur.Load().insts {
		h := HealthRow{Instance: in.name, Type: in.Type(), DatapathAge: age.Seconds()}
		if age >= loopwatch.StallAfter {
			h.Problems = append(h.Problems, fmt.Sprintf("datapath stalled for %v", age.Round(time.Millisecond)))
		}
		if x := in.NAT64(); x != nil {
			h.Sessions, h.MaxSessions = x.Sessions(), in.NAT64Config().MaxSessions
			if h.MaxSessions > 0 && float64(h.Sessions) > fullAt*float64(h.MaxSessions) {
				h.Problems = append(h.Problems, fmt.Sprintf("sessions %d of max-sessions %d", h.Sessions, h.MaxSessions))
			}
			for _, p := range []nat64.Protocol{nat64.TCP, nat64.UDP, nat64.ICMP} {
				u := Pool4Use{Proto: p.String(), Used: x.BindingsOf(p), Size: x.PoolSize(p)}
				h.Pool4 = append(h.Pool4, u)
				if u.Size > 0 && float64(u.Used) > fullAt*float64(u.Size) {
					h.Problems = append(h.Problems, fmt.Sprintf("pool4 %s %d of %d", u.Proto, u.Used, u.Size))
				}
			}
		}
		if in.sync != nil {
			h.Sync = in.syncHealth(now)
			h.Problems = append(h.Problems, h.Sync.problems()...)
		}
		if in.handoff != nil {
			h.Handoff = map[string]int{}
			for _, p := range in.handoff.Peers() {
				h.Handoff[p.State.String()]++
			}
		}
		out = append(out, h)
	}
	return out
}

func (in *Instance) syncHealth(now time.Time) *SyncHealth {
	s := &SyncHealth{Configured: len(in.syncSetup.settings.Peers), Peers: []SyncPeerHealth{}}
	down := syncDownAfter * in.sync.KeepaliveInterval()
	for _, p := range in.sync.Peers() {
		lag := now.Sub(p.LastHeard)
		s.Peers = append(s.Peers, SyncPeerHealth{Node: p.Node, LastHeard: lag.Seconds(), Up: lag < down})
	}
	return s
}

// forgetSyncPeer is how long a silent multicast peer is still missed: a
// gateway that restarts with a random node-id comes back as another peer.
const forgetSyncPeer = 10 * time.Minute

// problems says which peers are missing. With unicast peers, fewer up
// than configured (a restarted peer may have left its old node-id
// behind); with multicast, any peer heard within forgetSyncPeer that has
// fallen silent.
func (s *SyncHealth) problems() []string {
	up := 0
	var silent []string
	for _, p := range s.Peers {
		if p.Up {
			up++
		} else if p.LastHeard < forgetSyncPeer.Seconds() {
			silent = append(silent, fmt.Sprintf("%08x silent for %.1fs", p.Node, p.LastHeard))
		}
	}
	switch {
	case s.Configured > 0 && up < s.Configured:
		return []string{fmt.Sprintf("sync: %d of %d peers up (%s)", up, s.Configured, strings.Join(silent, ", "))}
	case s.Configured == 0 && len(silent) > 0:
		return []string{"sync peer " + strings.Join(silent, ", ")}
	}
	return nil
}
