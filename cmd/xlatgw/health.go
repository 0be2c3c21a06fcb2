package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
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

// healthRow is one instance's health: "xlatgw health" prints it, and a
// row with Problems fails the check.
type healthRow struct {
	Instance string `json:"instance"`
	Type     string `json:"type"`
	// DatapathAge is how long the slowest datapath loop has been on its
	// current round (0: all wait for packets). The datapath is shared by
	// the instances; it counts as stalled from 500 ms.
	DatapathAge float64        `json:"datapath_age_seconds"`
	Sessions    int            `json:"sessions,omitempty"`
	MaxSessions int            `json:"max_sessions,omitempty"` // 0: no limit
	Pool4       []pool4Use     `json:"pool4,omitempty"`
	Sync        *syncHealth    `json:"sync,omitempty"`
	Handoff     map[string]int `json:"handoff_servers,omitempty"` // servers by peer state
	Problems    []string       `json:"problems,omitempty"`
}

// pool4Use is how many of pool4's (address, port) pairs a protocol's
// bindings hold.
type pool4Use struct {
	Proto string `json:"proto"`
	Used  int    `json:"used"`
	Size  int    `json:"size"`
}

// syncHealth is what an instance hears of its sync peers.
type syncHealth struct {
	Configured int              `json:"configured_peers,omitempty"` // unicast peers; 0 with multicast
	Peers      []syncPeerHealth `json:"peers"`
}

type syncPeerHealth struct {
	Node      uint32  `json:"node"`
	LastHeard float64 `json:"last_heard_seconds"` // the lag: age of its last datagram
	Up        bool    `json:"up"`
}

// health checks every instance at now.
func (g *gateway) health(now time.Time) []healthRow {
	age := g.datapathAge()
	var out []healthRow
	for _, in := range g.cur.Load().insts {
		h := healthRow{Instance: in.name, Type: "siit", DatapathAge: age.Seconds()}
		if age >= loopwatch.StallAfter {
			h.Problems = append(h.Problems, fmt.Sprintf("datapath stalled for %v", age.Round(time.Millisecond)))
		}
		if x := in.nat64; x != nil {
			h.Type, h.Sessions, h.MaxSessions = "nat64", x.Sessions(), in.nat64Cfg.MaxSessions
			if h.MaxSessions > 0 && float64(h.Sessions) > fullAt*float64(h.MaxSessions) {
				h.Problems = append(h.Problems, fmt.Sprintf("sessions %d of max-sessions %d", h.Sessions, h.MaxSessions))
			}
			for _, p := range []nat64.Protocol{nat64.TCP, nat64.UDP, nat64.ICMP} {
				u := pool4Use{Proto: p.String(), Used: x.BindingsOf(p), Size: x.PoolSize(p)}
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

func (in *instance) syncHealth(now time.Time) *syncHealth {
	s := &syncHealth{Configured: len(in.syncSetup.settings.Peers), Peers: []syncPeerHealth{}}
	down := syncDownAfter * in.sync.KeepaliveInterval()
	for _, p := range in.sync.Peers() {
		lag := now.Sub(p.LastHeard)
		s.Peers = append(s.Peers, syncPeerHealth{Node: p.Node, LastHeard: lag.Seconds(), Up: lag < down})
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
func (s *syncHealth) problems() []string {
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

// errUnhealthy is health's answer when an instance has problems: the
// exit status says so, the lines say what.
var errUnhealthy = fmt.Errorf("health: unhealthy")

// healthCmd is "xlatgw health [-json] [-socket PATH]...": one line per
// instance of every gateway asked, and an exit status a script or a
// BFD/keepalived check can use (0 all healthy, 1 a problem anywhere or a
// gateway that does not answer).
func healthCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	var socks sockets
	fs.Var(&socks, "socket", "an admin socket (the configuration's \"admin\"); repeat it for several gateways (default /run/xlatgw.sock)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var failed error
	for _, sock := range socks.list() {
		body, err := adminGet(sock, "health")
		var rows []healthRow
		if err == nil {
			err = json.Unmarshal(body, &rows)
		}
		if err != nil {
			fmt.Fprintf(w, "%s: no answer: %v\n", sock, err)
			failed = fmt.Errorf("health: %s: %w", sock, err)
			continue
		}
		for _, r := range rows {
			if len(r.Problems) > 0 && failed == nil {
				failed = errUnhealthy
			}
		}
		if err := socks.emit(w, sock, body, *asJSON, func(w io.Writer) error {
			for _, r := range rows {
				fmt.Fprintln(w, r.line())
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return failed
}

// line is a row as one line of text.
func (r healthRow) line() string {
	var b strings.Builder
	status := "ok"
	if len(r.Problems) > 0 {
		status = "FAIL(" + strings.Join(r.Problems, "; ") + ")"
	}
	fmt.Fprintf(&b, "%s %s %s datapath=%.3fs", r.Instance, r.Type, status, r.DatapathAge)
	if r.Type == "nat64" {
		if r.MaxSessions > 0 {
			fmt.Fprintf(&b, " sessions=%d/%d", r.Sessions, r.MaxSessions)
		} else {
			fmt.Fprintf(&b, " sessions=%d", r.Sessions)
		}
		for _, p := range r.Pool4 {
			fmt.Fprintf(&b, " pool4-%s=%d/%d", strings.ToLower(p.Proto), p.Used, p.Size)
		}
	}
	if r.Sync != nil {
		up := 0
		var lags []string
		for _, p := range r.Sync.Peers {
			if p.Up {
				up++
			}
			lags = append(lags, fmt.Sprintf("%08x:%.1fs", p.Node, p.LastHeard))
		}
		n := r.Sync.Configured
		if n == 0 { // multicast: the peers heard of
			n = len(r.Sync.Peers)
		}
		fmt.Fprintf(&b, " sync=%d/%d-up", min(up, n), n)
		if len(lags) > 0 {
			fmt.Fprintf(&b, "(%s)", strings.Join(lags, ","))
		}
	}
	if r.Handoff != nil {
		var st []string
		for _, k := range []string{"CAPABLE", "PROBING", "UNKNOWN", "UNREACHABLE", "NOT_CAPABLE"} {
			if n := r.Handoff[k]; n > 0 {
				st = append(st, fmt.Sprintf("%d-%s", n, strings.ToLower(k)))
			}
		}
		fmt.Fprintf(&b, " handoff=%s", strings.Join(st, ","))
	}
	return b.String()
}
