// Command handoffd is the handoff/1 server: it keeps the authoritative
// table of client bindings for every NAT64 that sends traffic to this IPv4
// host, and logs each binding created and deleted so that the operator
// learns the real IPv6 client behind each NAT64 port (docs/handoff-protocol.md
// §7 and §9; deploying it: docs/handoffd.md).
//
//	handoffd -listen 192.0.2.2:64646
//
// Flags:
//
//	-listen S:HP       the server's IPv4 address and UDP port (required; port default 64646)
//	-state-dir DIR     snapshot and journal ($STATE_DIRECTORY or /var/lib/handoffd)
//	-log-dir DIR       the connection log handoff.log, reopened on SIGHUP; "-" is stdout
//	                   ($LOGS_DIRECTORY or /var/log/handoffd)
//	-persist           keep tables across restarts (default true)
//	-discard-state     start empty when the persisted state is damaged, instead of refusing to start
//	-repair-state      when the journal is damaged, keep the snapshot and every intact record before
//	                   the damage, and drop the rest, instead of refusing to start
//	-max-tables N      NAT64 tables (default 64)
//	-quota N           bindings per client prefix (default 4096)
//	-quota-prefix L    bits of the client address that make its prefix (default 64)
//	-create-rate R     bindings created per second per table (default 500)
//	-create-burst B    (default 5000)
//	-slots A-B         the slot range (default 1028-65535)
//	-allow P,...       only these NAT64 prefixes (IPv4)
//	-deny P,...        never these
//	-metrics ADDR      Prometheus metrics on http://ADDR/metrics
//	-check             check the flags and exit
//
// SIGUSR1 prints the counters to stderr; SIGTERM and SIGINT write a
// snapshot and exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/server"
)

// options are the validated flags.
type options struct {
	listen       netip.AddrPort
	stateDir     string
	logDir       string
	persist      bool
	discardState bool
	repairState  bool
	maxTables    int
	table        server.TableConfig
	allow, deny  []netip.Prefix
	metrics      string
	check        bool
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		// systemd may pass several directories separated by colons.
		return strings.Split(v, ":")[0]
	}
	return def
}

// parseFlags reads the command line; every error names the flag and says
// what was expected.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("handoffd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "the server's IPv4 address S and UDP port HP, as S:HP or S (port "+strconv.Itoa(handoff.DefaultServerPort)+")")
	o := &options{}
	fs.StringVar(&o.stateDir, "state-dir", envOr("STATE_DIRECTORY", "/var/lib/handoffd"), "directory for the snapshot and journal")
	fs.StringVar(&o.logDir, "log-dir", envOr("LOGS_DIRECTORY", "/var/log/handoffd"), "directory for the connection log handoff.log, or - for stdout")
	fs.BoolVar(&o.persist, "persist", true, "keep tables across restarts (snapshot and journal)")
	fs.BoolVar(&o.discardState, "discard-state", false, "start empty when the persisted state is damaged")
	fs.BoolVar(&o.repairState, "repair-state", false, "keep the snapshot and the intact journal records before damage, drop the rest")
	fs.IntVar(&o.maxTables, "max-tables", server.MaxTables, "NAT64 tables this server keeps")
	fs.IntVar(&o.table.PrefixQuota, "quota", server.PrefixQuota, "bindings per client prefix")
	fs.IntVar(&o.table.QuotaPrefixLen, "quota-prefix", server.QuotaPrefixLen, "bits of a client address that make its prefix for -quota")
	fs.Float64Var(&o.table.CreateRate, "create-rate", server.CreateRate, "bindings created per second per table")
	fs.Float64Var(&o.table.CreateBurst, "create-burst", server.CreateBurst, "burst of the creation rate")
	slots := fs.String("slots", fmt.Sprintf("%d-%d", handoff.SlotPortMin, handoff.SlotPortMax), "the slot (port) range A-B")
	allow := fs.String("allow", "", "comma-separated IPv4 prefixes of the NAT64s admitted (default all)")
	deny := fs.String("deny", "", "comma-separated IPv4 prefixes of NAT64s refused")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on this address (host:port)")
	fs.BoolVar(&o.check, "check", false, "check the flags and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: handoffd takes flags only", fs.Arg(0))
	}
	var err error
	if o.listen, err = parseListen(*listen); err != nil {
		return nil, fmt.Errorf("-listen %q: %v", *listen, err)
	}
	if o.stateDir == "" && o.persist {
		return nil, errors.New("-state-dir: empty; give a directory or -persist=false")
	}
	if o.logDir == "" {
		return nil, errors.New(`-log-dir: empty; give a directory or "-" for stdout`)
	}
	switch {
	case o.maxTables < 1:
		return nil, fmt.Errorf("-max-tables %d: must be at least 1", o.maxTables)
	case o.table.PrefixQuota < 1:
		return nil, fmt.Errorf("-quota %d: must be at least 1", o.table.PrefixQuota)
	case o.table.QuotaPrefixLen < 1 || o.table.QuotaPrefixLen > 128:
		return nil, fmt.Errorf("-quota-prefix %d: must be 1-128", o.table.QuotaPrefixLen)
	case !(o.table.CreateRate > 0) || math.IsInf(o.table.CreateRate, 0):
		return nil, fmt.Errorf("-create-rate %v: must be a positive number", o.table.CreateRate)
	case !(o.table.CreateBurst >= 1) || math.IsInf(o.table.CreateBurst, 0):
		return nil, fmt.Errorf("-create-burst %v: must be at least 1", o.table.CreateBurst)
	}
	if o.table.SlotMin, o.table.SlotMax, err = parseSlots(*slots); err != nil {
		return nil, fmt.Errorf("-slots %q: %v", *slots, err)
	}
	if o.allow, err = parsePrefixes(*allow); err != nil {
		return nil, fmt.Errorf("-allow %q: %v", *allow, err)
	}
	if o.deny, err = parsePrefixes(*deny); err != nil {
		return nil, fmt.Errorf("-deny %q: %v", *deny, err)
	}
	return o, nil
}

func parseListen(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("required: the IPv4 address this server answers from (S), e.g. 192.0.2.2:64646")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		s = netip.AddrPortFrom(a, handoff.DefaultServerPort).String()
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, errors.New("want IPv4-address:port")
	}
	if !ap.Addr().Is4() || ap.Addr().IsUnspecified() {
		// §3: handoffd serves one address S and sends only from S:HP; the
		// NAT64 checks replies come from there.
		return ap, errors.New("need one specific IPv4 address (handoff/1 runs over IPv4 and replies must come from S)")
	}
	if ap.Port() == 0 {
		return ap, errors.New("port 0")
	}
	return ap, nil
}

func parseSlots(s string) (uint16, uint16, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.ParseUint(a, 10, 16)
	hi, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, errors.New("want two ports A-B")
	}
	if lo < handoff.SlotPortMin || lo > hi {
		return 0, 0, fmt.Errorf("want %d <= A <= B <= %d (1024-1027 are the NAT64's control ports)", handoff.SlotPortMin, handoff.SlotPortMax)
	}
	return uint16(lo), uint16(hi), nil
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			f += "/32"
		}
		p, err := netip.ParsePrefix(f)
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("%q is not an IPv4 prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// admit applies -allow and -deny (§7.1).
func (o *options) admit(n netip.Addr) bool {
	for _, p := range o.deny {
		if p.Contains(n) {
			return false
		}
	}
	if len(o.allow) == 0 {
		return true
	}
	for _, p := range o.allow {
		if p.Contains(n) {
			return true
		}
	}
	return false
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "handoffd:", err)
		os.Exit(2)
	}
	if o.check {
		fmt.Println("handoffd: flags ok")
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("handoffd stopped", "err", err)
		os.Exit(1)
	}
}
