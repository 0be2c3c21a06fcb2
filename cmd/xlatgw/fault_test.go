package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hardening: faults and bad input that must be refused cleanly. Each test
// name starts with TestFault; docs/faults.md lists them.

// One number must not kill the gateway: table sizes are bounded, checked
// against the machine's memory without allocating, and refused with the
// field named, by check-config as by a (re)load.
func TestFaultTableSizes(t *testing.T) {
	nat64 := func(opts string) string {
		return `{"tun": {"name": "xlat0"}, "instances": [{"name": "n", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
		  "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}], ` + opts + `}}]}`
	}
	saved := physicalMemory
	defer func() { physicalMemory = saved }()
	physicalMemory = func() uint64 { return 1 << 30 } // a 1 GiB machine
	for _, tc := range []struct{ opts, want string }{
		{`"max-sessions": 20000000000`, "max-sessions: 20000000000 is more than the tables index (268435456)"},
		{`"expected-sessions": 20000000000`, "expected-sessions: 20000000000 is more than the tables index"},
		{`"expected-sessions": -1000`, "expected-sessions: -1000 is negative"},
		{`"max-sessions": -1`, "max-sessions: -1 is negative"},
		{`"max-sessions": 50000000`, "nat64.max-sessions (expected-sessions defaults to it): 50000000 sessions would take 1.0 GiB of table memory up front, more than half of this machine's 1.0 GiB"},
		{`"max-sessions": 10000000, "expected-sessions": 1000`, "nat64.max-sessions: 10000000 sessions would take up to 1.9 GiB of table memory, more than this machine's 1.0 GiB"},
	} {
		_, err := parseConfig([]byte(nat64(tc.opts)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", tc.opts, err, tc.want)
		}
	}
	// What fits is taken.
	if _, err := parseConfig([]byte(nat64(`"max-sessions": 1000000`))); err != nil {
		t.Errorf("a million sessions on 1 GiB: %v", err)
	}
	// check-config says the same and does not die.
	path := filepath.Join(t.TempDir(), "big.json")
	os.WriteFile(path, []byte(nat64(`"max-sessions": 20000000000`)), 0o644)
	if err := run([]string{"check-config", path}); err == nil || !strings.Contains(err.Error(), "max-sessions") {
		t.Errorf("check-config: %v", err)
	}
}
