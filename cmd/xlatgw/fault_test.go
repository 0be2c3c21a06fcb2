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

// A sync key is a secret and must be one: a key file others can read is
// refused as ssh refuses such a private key, and so are short keys and
// one octet repeated (the all-zero placeholder among them).
func TestFaultSyncKeys(t *testing.T) {
	dir := t.TempDir()
	config := func(sync string) []byte {
		return []byte(`{"tun": {"name": "xlat0"}, "instances": [{"name": "n", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
		  "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]},
		  "sync": {"listen": "198.51.100.1:6464", "peers": ["198.51.100.2:6464"], ` + sync + `}}]}`)
	}
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode) // past the umask
		return p
	}
	good := "6b2f8e1c9a7d4e3b5f0a1c2d3e4f5a6b5a1f0e9d8c7b6a5948372615f4e3d2c1"
	for _, tc := range []struct{ sync, want string }{
		{`"key-file": "` + file("world", good, 0o644) + `"`, "readable or writable by group or others (mode 0644); chmod 600 it"},
		{`"key-file": "` + file("group", good, 0o640) + `"`, "(mode 0640)"},
		{`"key-file": "` + file("short", "00112233445566778899aabbccddeeff", 0o600) + `"`, "16 octets, want at least 32"},
		{`"key-file": "` + file("zero", strings.Repeat("00", 32), 0o600) + `"`, "every octet is 0x00: not a key"},
		{`"key": "` + strings.Repeat("41", 40) + `"`, "every octet is 0x41: not a key"},
		{`"key": "00112233445566778899aabbccddeeff"`, "16 octets, want at least 32"},
	} {
		if _, err := parseConfig(config(tc.sync)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", tc.sync, err, tc.want)
		}
	}
	if _, err := parseConfig(config(`"key-file": "` + file("ok", good+"\n", 0o600) + `"`)); err != nil {
		t.Errorf("a 0600 file with a 32-octet key: %v", err)
	}
}
