package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/v6xlat/xlat/internal/gateway"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/siit"
	"github.com/v6xlat/xlat/translate"
)

// The admin API is read-only JSON over HTTP on a unix socket:
// /stats, /sessions, /bib, /eamt, /handoff, /sync and /health. "xlatgw show" prints it.

type instanceStats struct {
	Instance string            `json:"instance"`
	Type     string            `json:"type"`
	RX6      uint64            `json:"rx_ipv6"`
	RX4      uint64            `json:"rx_ipv4"`
	TX6      uint64            `json:"tx_ipv6"`
	TX4      uint64            `json:"tx_ipv4"`
	Refused  map[string]uint64 `json:"refused,omitempty"`
	Sessions int               `json:"sessions,omitempty"`
	Bindings int               `json:"bindings,omitempty"`
	EAMT     int               `json:"eamt_entries,omitempty"`
}

type sessionRow struct {
	Instance string `json:"instance"`
	nat64.Session
}

type bibRow struct {
	Instance string `json:"instance"`
	nat64.BIBEntry
}

type handoffRow struct {
	Instance   string `json:"instance"`
	Server     string `json:"server"`
	State      string `json:"state"`
	Entries    int    `json:"cache_entries"`
	Pending    int    `json:"pending_requests"`
	TableEpoch string `json:"table_epoch"`
}

type syncRow struct {
	Instance string `json:"instance"`
	nat64.SyncStats
}

type eamRow struct {
	Instance string `json:"instance"`
	siit.EAM
}

// source is what the admin API and the metrics read: the running
// gateway (a *gateway.Gateway), or a stand-in in tests.
type source interface {
	Current() *gateway.Setup
	Health(now time.Time) []gateway.HealthRow
	Stats() gateway.DatapathStats
}

func adminHandler(g source) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		var out []instanceStats
		for _, in := range g.Current().Instances() {
			c := in.Counters()
			s := instanceStats{Instance: in.Name(), Type: in.Type(), RX6: c.RX6.Load(), RX4: c.RX4.Load(), TX6: c.TX6.Load(), TX4: c.TX4.Load(), Refused: map[string]uint64{}}
			for _, rs := range translate.Reasons() {
				if n := in.Stats().Reason(rs); n > 0 {
					s.Refused[rs.String()] = n
				}
			}
			if x := in.NAT64(); x != nil {
				s.Sessions, s.Bindings = x.Sessions(), x.Bindings()
			}
			if x := in.SIIT(); x != nil {
				s.EAMT = x.EAMT().Len()
			}
			out = append(out, s)
		}
		reply(w, out)
	})
	mux.HandleFunc("/sessions", func(w http.ResponseWriter, r *http.Request) {
		out := []sessionRow{}
		for _, in := range g.Current().Instances() {
			if x := in.NAT64(); x != nil {
				x.RangeSessions(func(s nat64.Session) bool { out = append(out, sessionRow{in.Name(), s}); return true })
			}
		}
		reply(w, out)
	})
	mux.HandleFunc("/bib", func(w http.ResponseWriter, r *http.Request) {
		out := []bibRow{}
		for _, in := range g.Current().Instances() {
			if x := in.NAT64(); x != nil {
				x.RangeBIB(func(e nat64.BIBEntry) bool { out = append(out, bibRow{in.Name(), e}); return true })
			}
		}
		reply(w, out)
	})
	mux.HandleFunc("/handoff", func(w http.ResponseWriter, r *http.Request) {
		out := []handoffRow{}
		for _, in := range g.Current().Instances() {
			if in.Handoff() == nil {
				continue
			}
			for _, p := range in.Handoff().Peers() {
				out = append(out, handoffRow{in.Name(), p.Server.String(), p.State.String(), p.Entries, p.Pending, fmt.Sprintf("%016x", p.TableEpoch)})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Instance+out[i].Server < out[j].Instance+out[j].Server })
		reply(w, out)
	})
	mux.HandleFunc("/sync", func(w http.ResponseWriter, r *http.Request) {
		out := []syncRow{}
		for _, in := range g.Current().Instances() {
			if in.Sync() != nil {
				out = append(out, syncRow{in.Name(), in.Sync().Stats()})
			}
		}
		reply(w, out)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { reply(w, g.Health(time.Now())) })
	mux.HandleFunc("/eamt", func(w http.ResponseWriter, r *http.Request) {
		out := []eamRow{}
		for _, in := range g.Current().Instances() {
			if x := in.SIIT(); x != nil {
				for _, e := range x.EAMT().Entries() {
					out = append(out, eamRow{in.Name(), e})
				}
			}
		}
		reply(w, out)
	})
	return mux
}

// serveAdmin listens on the unix socket path, readable by its owner only.
func serveAdmin(g source, path string) (net.Listener, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o600)
	go newHTTPServer(adminHandler(g)).Serve(l)
	return l, nil
}

// removeStaleSocket removes what a gateway that did not exit cleanly left
// at path, and nothing else: a file that is not a socket, or a socket
// another process still answers on, is refused.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket (%v); not removing it", path, fi.Mode().Type())
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use: another process answers on it", path)
	}
	return os.Remove(path)
}

// HTTP timeouts of the admin and metrics servers: a client that opens a
// connection and sends nothing, or reads nothing, is dropped.
var (
	httpReadHeaderTimeout = 5 * time.Second
	httpTimeout           = 30 * time.Second
)

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpTimeout,
		WriteTimeout:      httpTimeout,
		IdleTimeout:       2 * httpTimeout,
		MaxHeaderBytes:    16 << 10,
	}
}

// adminGet fetches /what from the admin socket.
func adminGet(socket, what string) ([]byte, error) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	resp, err := c.Get("http://xlatgw/" + what)
	if err != nil {
		return nil, fmt.Errorf("%w (is xlatgw running with \"admin\": %q?)", err, socket)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin socket: /%s: %s", what, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// show is "xlatgw show stats|sessions|bib|eamt|handoff|sync [-json]
// [-socket PATH]".
func show(args []string, w io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("show: what? stats, sessions, bib, eamt, handoff or sync")
	}
	what := args[0]
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	var socks sockets
	fs.Var(&socks, "socket", "an admin socket (the configuration's \"admin\"); repeat it for several gateways (default /run/xlatgw.sock)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch what {
	case "stats", "sessions", "bib", "eamt", "handoff", "sync":
	default:
		return fmt.Errorf("show: %q is not stats, sessions, bib, eamt, handoff or sync", what)
	}
	var failed error
	for _, sock := range socks.list() {
		body, err := adminGet(sock, what)
		if err == nil {
			err = socks.emit(w, sock, body, *asJSON, func(w io.Writer) error { return render(what, body, w) })
		}
		if err != nil {
			failed = fmt.Errorf("show: %w", err)
			fmt.Fprintf(w, "%s: %v\n", sock, err)
		}
	}
	return failed
}

// sockets are the -socket flags of show and health: the admin sockets of
// one gateway or of several, which the command asks in turn.
type sockets []string

func (s *sockets) String() string     { return strings.Join(*s, ",") }
func (s *sockets) Set(v string) error { *s = append(*s, v); return nil }

// list is the sockets given, or the default one.
func (s sockets) list() []string {
	if len(s) == 0 {
		return []string{"/run/xlatgw.sock"}
	}
	return s
}

// emit writes one gateway's answer: as it is, or rendered as text; with
// several gateways each is headed by its socket (text) or wrapped with
// it (one JSON object a line).
func (s sockets) emit(w io.Writer, sock string, body []byte, asJSON bool, text func(io.Writer) error) error {
	switch {
	case asJSON && len(s) > 1:
		_, err := fmt.Fprintf(w, "{\"socket\": %q, \"rows\": %s}\n", sock, bytes.TrimSpace(body))
		return err
	case asJSON:
		_, err := w.Write(body)
		return err
	case len(s) > 1:
		fmt.Fprintf(w, "== %s\n", sock)
	}
	return text(w)
}

// render prints the admin socket's answer to /what as a table.
func render(what string, body []byte, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	defer tw.Flush()
	switch what {
	case "stats":
		var rows []instanceStats
		if err := json.Unmarshal(body, &rows); err != nil {
			return err
		}
		fmt.Fprintln(tw, "INSTANCE\tTYPE\tRX6\tRX4\tTX6\tTX4\tSESSIONS\tBINDINGS\tEAMT\tREFUSED")
		for _, s := range rows {
			var refused []string
			for k, v := range s.Refused {
				refused = append(refused, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(refused)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Instance, s.Type, s.RX6, s.RX4, s.TX6, s.TX4, s.Sessions, s.Bindings, s.EAMT, strings.Join(refused, " "))
		}
	case "sessions":
		var rows []sessionRow
		if err := json.Unmarshal(body, &rows); err != nil {
			return err
		}
		fmt.Fprintln(tw, "INSTANCE\tPROTO\tSTATE\tIPV6 SOURCE\tIPV6 DESTINATION\tIPV4 SOURCE\tIPV4 DESTINATION\tEXPIRES IN")
		for _, s := range rows {
			state := s.State
			if state == "" {
				state = "-"
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%v\t%v\t%v\t%v\t%v\n", s.Instance, s.Proto, state, s.IPv6Src, s.IPv6Dst, s.IPv4Src, s.IPv4Dst, time.Until(s.Expires).Round(time.Second))
		}
	case "bib":
		var rows []bibRow
		if err := json.Unmarshal(body, &rows); err != nil {
			return err
		}
		fmt.Fprintln(tw, "INSTANCE\tPROTO\tIPV6\tIPV4\tSTATIC\tSESSIONS")
		for _, b := range rows {
			fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%d\n", b.Instance, b.Proto, b.IPv6, b.IPv4, b.Static, b.Sessions)
		}
	case "handoff":
		var rows []handoffRow
		if err := json.Unmarshal(body, &rows); err != nil {
			return err
		}
		fmt.Fprintln(tw, "INSTANCE\tSERVER\tSTATE\tCACHED\tPENDING\tTABLE EPOCH")
		for _, h := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", h.Instance, h.Server, h.State, h.Entries, h.Pending, h.TableEpoch)
		}
	case "sync":
		var rows []syncRow
		if err := json.Unmarshal(body, &rows); err != nil {
			return err
		}
		fmt.Fprintln(tw, "INSTANCE\tSENT\tRECEIVED\tSESSIONS OUT\tSESSIONS IN\tREFRESHES\tUNAUTH\tREPLAYED\tLOSSES\tRESYNCS OUT\tRESYNCS ASKED")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Instance, r.DatagramsSent, r.DatagramsReceived, r.SessionsSent,
				r.SessionsReceived, r.Refreshes, r.Unauthenticated, r.Replayed, r.LossDetected, r.ResyncsSent, r.ResyncRequests)
		}
	case "eamt":
		var rows []eamRow
		if err := json.Unmarshal(body, &rows); err != nil {
			return err
		}
		fmt.Fprintln(tw, "INSTANCE\tIPV6 PREFIX\tIPV4 PREFIX")
		for _, e := range rows {
			fmt.Fprintf(tw, "%s\t%v\t%v\n", e.Instance, e.IPv6, e.IPv4)
		}
	}
	return nil
}
