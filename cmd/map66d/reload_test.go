package main

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// routing records what reload installs and removes, in place of netlink.
type routing struct {
	installed [][]Rule // the rule sets in force, in order of installation
	fail      int      // fail the next n installs
}

func (r *routing) install(cfg Config) (func(), error) {
	if r.fail > 0 {
		r.fail--
		return nil, errors.New("RTNETLINK answers: Operation not permitted")
	}
	r.installed = append(r.installed, cfg.Rules)
	n := len(r.installed) - 1
	return func() { r.installed[n] = nil }, nil
}

// inForce is the one rule set installed and not removed.
func (r *routing) inForce(t *testing.T) []Rule {
	t.Helper()
	var live [][]Rule
	for _, rs := range r.installed {
		if rs != nil {
			live = append(live, rs)
		}
	}
	if len(live) != 1 {
		t.Fatalf("%d rule sets installed, want 1: %v", len(live), live)
	}
	return live[0]
}

func newTestMapping(t *testing.T, cfg Config, r *routing) *mapping {
	t.Helper()
	m := &mapping{cfg: cfg, dev: cfg.TUN, routes: true, install: r.install, localAddrs: func([]Rule) []netip.Addr { return nil }}
	live, err := m.prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.live.Store(live)
	if m.undo, err = r.install(cfg); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRefusedReloadChangesNothing: a reload refused for its rules, for a
// field that only a restart may change, or because its routing cannot be
// installed leaves the mapper, the configuration and the routing in force.
func TestRefusedReloadChangesNothing(t *testing.T) {
	rule := Rule{"eth1", mustPrefix("fd01:203:405::/48"), mustPrefix("2001:db8:1::/48")}
	cfg := Config{TUN: "map66", MTU: 1500, Table: 66, Rules: []Rule{rule}}
	r := &routing{}
	m := newTestMapping(t, cfg, r)
	mapper := m.live.Load().mapper

	host := netip.MustParseAddr("fd01:203:405:1::10")
	wantExt, _ := mapper.MapAddr(host, true)
	unchanged := func(what string) {
		t.Helper()
		if m.live.Load().mapper != mapper {
			t.Errorf("%s: the mapper was replaced", what)
		}
		if !reflect.DeepEqual(m.cfg, cfg) {
			t.Errorf("%s: the configuration changed to %+v", what, m.cfg)
		}
		if got := r.inForce(t); !reflect.DeepEqual(got, cfg.Rules) {
			t.Errorf("%s: routing for %v in force, want %v", what, got, cfg.Rules)
		}
		if got, _ := m.live.Load().mapper.MapAddr(host, true); got != wantExt {
			t.Errorf("%s: %v maps to %v, want %v", what, host, got, wantExt)
		}
	}

	other := Rule{"eth1", mustPrefix("fd02::/48"), mustPrefix("2001:db8:1::/48")}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"two rules for one external prefix", func(c *Config) { c.Rules = append(c.Rules, other) }, "map66 rule 1"},
		{"a rule mapping IPv4", func(c *Config) {
			c.Rules = []Rule{{"eth1", mustPrefix("192.0.2.0/24"), mustPrefix("2001:db8:1::/48")}}
		}, "map66 rule 0"},
		{"another device", func(c *Config) { c.TUN = "map67" }, "tun:"},
		{"another MTU", func(c *Config) { c.MTU = 1400 }, "mtu:"},
		{"another table", func(c *Config) { c.Table = 67 }, "table:"},
	} {
		next := cfg
		next.Rules = append([]Rule(nil), cfg.Rules...)
		tc.edit(&next)
		if err := m.reload(next); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: reload returned %v, want an error naming %q", tc.name, err, tc.want)
		}
		unchanged(tc.name)
	}

	// Valid rules whose routing the kernel refuses: the old routing is
	// put back and the old mapper stays.
	moved := Rule{"eth1", mustPrefix("fd01:203:405::/48"), mustPrefix("2001:db8:2::/48")}
	r.fail = 1
	if err := m.reload(Config{TUN: "map66", MTU: 1500, Table: 66, Rules: []Rule{moved}}); err == nil || !strings.Contains(err.Error(), "routing for the new rules") {
		t.Errorf("reload with routing refused: %v", err)
	}
	unchanged("routing refused")

	// And an accepted reload changes all three.
	next := Config{TUN: "map66", MTU: 1500, Table: 66, Rules: []Rule{moved}}
	if err := m.reload(next); err != nil {
		t.Fatal(err)
	}
	if got := r.inForce(t); !reflect.DeepEqual(got, next.Rules) {
		t.Errorf("routing for %v in force after the reload, want %v", got, next.Rules)
	}
	if got, _ := m.live.Load().mapper.MapAddr(host, true); !netip.MustParsePrefix("2001:db8:2::/48").Contains(got) {
		t.Errorf("after the reload %v maps to %v, want it under 2001:db8:2::/48", host, got)
	}
}

// TestReloadReadsTheFile: load re-reads -config, so a SIGHUP sees an
// edited file, and a file that no longer parses is refused.
func TestReloadReadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map66d.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"rules": [{"interface": "eth1", "internal": "fd01::/48", "external": "2001:db8:1::/48"}]}`)
	cfg, _, err := load([]string{"-config", path})
	if err != nil || len(cfg.Rules) != 1 || cfg.TUN != "map66" {
		t.Fatalf("load: %+v, %v", cfg, err)
	}
	write(`{"rules": [{"interface": "eth1", "internal": "fd01::/48", "external": "2001:db8:1::/48", "extra": 1}]}`)
	if _, _, err := load([]string{"-config", path}); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("a file with an unknown field: %v", err)
	}
}
