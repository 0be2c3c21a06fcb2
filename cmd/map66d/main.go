// Command map66d maps IPv6 prefixes (NPTv6, RFC 6296, and MAP66) on a TUN
// device: packets the kernel routes into the device come back out with
// their internal source (outbound) or external destination (inbound)
// rewritten, checksum neutral, and the kernel routes them on.
//
// Rules come from a JSON file (-config) or from flags in the two-rule form
// of the MAP66 documentation, one pair per mapping:
//
//	map66d -out eth1,fd01:203:405::/48,2001:db8:1::/48 \
//	       -in  eth1,2001:db8:1::/48,fd01:203:405::/48
//
// The interface is the external one. map66d creates the TUN device, a
// routing table whose default route is the device, and policy rules that
// send traffic from the internal prefixes (outbound) and to the external
// prefixes arriving on the external interface (inbound) through it.
// -print-routes prints the equivalent ip(8) commands and exits; -no-routes
// leaves routing to the operator. SIGHUP reloads the rules, all or
// nothing (docs/map66d.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/v6xlat/xlat/internal/strictjson"
	"github.com/v6xlat/xlat/map66"
)

// Config is the configuration file.
type Config struct {
	TUN   string `json:"tun"`
	MTU   int    `json:"mtu"`
	Table int    `json:"table"`
	Rules []Rule `json:"rules"`
	// CheckInterfaceAddresses leaves packets from or to the external
	// interface's own addresses alone (MAP66's default); on unless false.
	CheckInterfaceAddresses *bool `json:"check-interface-addresses,omitempty"`
	// ClampMSS clamps the MSS of TCP SYNs to an MTU (mss.go).
	ClampMSS *ClampMSS `json:"clamp-mss,omitempty"`
}

// Rule is a mapping and the external interface it serves.
type Rule struct {
	Interface string       `json:"interface"`
	Internal  netip.Prefix `json:"internal"`
	External  netip.Prefix `json:"external"`
}

type ruleFlags struct {
	rules []Rule
	in    bool
}

func (r *ruleFlags) String() string { return "" }

func (r *ruleFlags) Set(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return fmt.Errorf("%q: want interface,prefix,prefix", s)
	}
	a, err := netip.ParsePrefix(parts[1])
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	b, err := netip.ParsePrefix(parts[2])
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	rule := Rule{Interface: parts[0], Internal: a, External: b}
	if r.in { // inbound: external first
		rule.Internal, rule.External = b, a
	}
	r.rules = append(r.rules, rule)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "map66d:", err)
		os.Exit(1)
	}
}

// flags are the options that are not configuration.
type flags struct {
	printRoutes, noRoutes bool
}

func run(args []string) error {
	cfg, fl, err := load(args)
	if err != nil {
		return err
	}
	if fl.printRoutes {
		for _, c := range routeCommands(cfg) {
			fmt.Println(c)
		}
		return nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := func() (Config, error) {
		cfg, _, err := load(args)
		return cfg, err
	}
	return serve(ctx, cfg, !fl.noRoutes, log, hup, reload)
}

// load reads the configuration file and the flags over it, as at start;
// a reload calls it again with the same arguments.
func load(args []string) (Config, flags, error) {
	var fl flags
	fs := flag.NewFlagSet("map66d", flag.ContinueOnError)
	configFile := fs.String("config", "", "JSON configuration file (re-read on SIGHUP)")
	tunName := fs.String("tun", "", "TUN device name (default map66)")
	mtu := fs.Int("mtu", 0, "TUN MTU (default 1500)")
	table := fs.Int("table", 0, "routing table for the policy rules (default 66)")
	noCheck := fs.Bool("no-check", false, "map the interface's own addresses too")
	fs.BoolVar(&fl.printRoutes, "print-routes", false, "print the ip(8) commands for the routing and exit")
	fs.BoolVar(&fl.noRoutes, "no-routes", false, "do not touch routing (the operator steers traffic into the device)")
	out := &ruleFlags{}
	in := &ruleFlags{in: true}
	fs.Var(out, "out", "outbound rule: interface,internal-prefix,external-prefix (repeatable)")
	fs.Var(in, "in", "inbound rule: interface,external-prefix,internal-prefix (repeatable)")
	if err := fs.Parse(args); err != nil {
		return Config{}, fl, err
	}
	var cfg Config
	if *configFile != "" {
		data, err := os.ReadFile(*configFile)
		if err != nil {
			return Config{}, fl, err
		}
		if err := strictjson.Decode(data, &cfg, *configFile); err != nil {
			return Config{}, fl, err
		}
	}
	rules, err := pairRules(out.rules, in.rules)
	if err != nil {
		return Config{}, fl, err
	}
	cfg.Rules = append(cfg.Rules, rules...)
	if *tunName != "" {
		cfg.TUN = *tunName
	}
	if *mtu != 0 {
		cfg.MTU = *mtu
	}
	if *table != 0 {
		cfg.Table = *table
	}
	if *noCheck {
		f := false
		cfg.CheckInterfaceAddresses = &f
	}
	if cfg.TUN == "" {
		cfg.TUN = "map66"
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Table == 0 {
		cfg.Table = 66
	}
	if len(cfg.Rules) == 0 {
		return Config{}, fl, errors.New("no rules: give -config or -out/-in")
	}
	return cfg, fl, nil
}

// pairRules joins -out and -in flags: each -out needs the -in that
// reverses it (MAP66's two-rule form); a lone -in is refused too.
func pairRules(out, in []Rule) ([]Rule, error) {
	var rules []Rule
	used := make([]bool, len(in))
	for _, o := range out {
		found := false
		for i, r := range in {
			if !used[i] && r == o {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("-out %s,%s,%s has no matching -in %s,%s,%s", o.Interface, o.Internal, o.External, o.Interface, o.External, o.Internal)
		}
		rules = append(rules, o)
	}
	for i, r := range in {
		if !used[i] {
			return nil, fmt.Errorf("-in %s,%s,%s has no matching -out", r.Interface, r.External, r.Internal)
		}
	}
	return rules, nil
}

func mapperRules(cfg Config) []map66.Rule {
	var rs []map66.Rule
	for _, r := range cfg.Rules {
		rs = append(rs, map66.Rule{Internal: r.Internal, External: r.External})
	}
	return rs
}

// routeCommands are the ip(8) commands equivalent to what serve installs.
func routeCommands(cfg Config) []string {
	cmds := []string{
		fmt.Sprintf("ip -6 route add default dev %s table %d", cfg.TUN, cfg.Table),
	}
	for i, r := range cfg.Rules {
		p := 1000 + 3*i
		cmds = append(cmds,
			fmt.Sprintf("ip -6 rule add from %s to %s lookup main priority %d", r.Internal, r.Internal, p),
			fmt.Sprintf("ip -6 rule add from %s lookup %d priority %d", r.Internal, cfg.Table, p+1),
			fmt.Sprintf("ip -6 rule add to %s iif %s lookup %d priority %d", r.External, r.Interface, cfg.Table, p+2),
		)
	}
	return cmds
}
