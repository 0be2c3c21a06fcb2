package main

import (
	"net/netip"
	"strings"
	"testing"
)

func TestFlagsPairAndPrint(t *testing.T) {
	if err := run([]string{"-out", "eth1,fd01::/48,2001:db8:1::/48", "-in", "eth1,2001:db8:1::/48,fd01::/48", "-print-routes"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", "eth1,fd01::/48,2001:db8:1::/48"}, "no matching -in"},
		{[]string{"-in", "eth1,2001:db8:1::/48,fd01::/48"}, "no matching -out"},
		{[]string{"-out", "eth1,fd01::/48"}, "interface,prefix,prefix"},
		{[]string{"-out", "eth1,fd01::/480,2001:db8::/48"}, "fd01::/480"},
		{[]string{}, "no rules"},
	} {
		if err := run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	out, _ := pairRules([]Rule{{"eth1", mustPrefix("fd01::/48"), mustPrefix("2001:db8:1::/48")}}, []Rule{{"eth1", mustPrefix("fd01::/48"), mustPrefix("2001:db8:1::/48")}})
	cmds := routeCommands(Config{TUN: "map66", Table: 66, Rules: out})
	if len(cmds) != 4 || !strings.Contains(cmds[3], "to 2001:db8:1::/48 iif eth1 lookup 66") {
		t.Errorf("route commands: %q", cmds)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
