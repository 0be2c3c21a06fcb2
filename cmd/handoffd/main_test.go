package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
)

// Every bad flag is refused with a message naming it and the reason.
func TestFlagErrors(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"", `-listen "": required`},
		{"-listen ::1", "-listen \"::1\": need one specific IPv4 address"},
		{"-listen 0.0.0.0:64646", "need one specific IPv4 address"},
		{"-listen 192.0.2.2:0", "port 0"},
		{"-listen 192.0.2.2:x", "want IPv4-address:port"},
		{"-listen 192.0.2.2 -max-tables 0", "-max-tables 0: must be at least 1"},
		{"-listen 192.0.2.2 -quota -1", "-quota -1"},
		{"-listen 192.0.2.2 -quota-prefix 129", "-quota-prefix 129: must be 1-128"},
		{"-listen 192.0.2.2 -create-rate 0", "-create-rate 0"},
		{"-listen 192.0.2.2 -create-burst NaN", "-create-burst NaN"},
		{"-listen 192.0.2.2 -slots 1024-2000", "1024-1027 are the NAT64's control ports"},
		{"-listen 192.0.2.2 -slots 3000-2000", "-slots \"3000-2000\""},
		{"-listen 192.0.2.2 -slots 3000", "want two ports A-B"},
		{"-listen 192.0.2.2 -allow 2001:db8::/32", `-allow "2001:db8::/32": "2001:db8::/32" is not an IPv4 prefix`},
		{"-listen 192.0.2.2 -deny 300.1.1.1", `-deny "300.1.1.1"`},
		{"-listen 192.0.2.2 -state-dir= ", "-state-dir: empty"},
		{"-listen 192.0.2.2 -log-dir=", "-log-dir: empty"},
		{"-listen 192.0.2.2 extra", `unexpected argument "extra"`},
		{"-listen 192.0.2.2 -bogus", "flag provided but not defined: -bogus"},
	} {
		_, err := parseFlags(strings.Fields(c.args), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

func TestFlagDefaults(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/run/x/state:/other")
	o, err := parseFlags([]string{"-listen", "192.0.2.2", "-allow", "192.0.2.0/24, 198.51.100.7", "-deny", "192.0.2.9"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.listen.String() != "192.0.2.2:64646" || o.stateDir != "/run/x/state" || !o.persist || o.maxTables != 64 ||
		o.table.SlotMin != 1028 || o.table.SlotMax != 65535 || o.table.PrefixQuota != 4096 {
		t.Errorf("defaults: %+v", o)
	}
	for a, want := range map[string]bool{"192.0.2.1": true, "198.51.100.7": true, "192.0.2.9": false, "203.0.113.1": false} {
		if o.admit(netip.MustParseAddr(a)) != want {
			t.Errorf("admit(%s) = %v", a, !want)
		}
	}
}
