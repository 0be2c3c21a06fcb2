package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/v6xlat/xlat/internal/gateway"
)

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
		var rows []gateway.HealthRow
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
				fmt.Fprintln(w, line(r))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return failed
}

// line is a row as one line of text.
func line(r gateway.HealthRow) string {
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
