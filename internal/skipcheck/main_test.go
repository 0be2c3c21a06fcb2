package main

import (
	"strings"
	"testing"
)

// A run passes when every skip is allowed and nothing failed; an unlisted
// skip or a failure fails it, and a failed test's output is shown.
func TestCheck(t *testing.T) {
	allow := []allowed{{"m/a", "TestGated", "needs XLAT_COMPARE"}, {"m/a", "TestRows/vrf*", "no VRF module"}}
	stream := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	for _, tc := range []struct {
		name   string
		in     string
		ok     bool
		output []string
	}{
		{"all passed, allowed skips", stream(
			`{"Action":"run","Package":"m/a","Test":"TestGated"}`,
			`{"Action":"output","Package":"m/a","Test":"TestGated","Output":"    a_test.go:9: set XLAT_COMPARE\n"}`,
			`{"Action":"skip","Package":"m/a","Test":"TestGated"}`,
			`{"Action":"skip","Package":"m/a","Test":"TestRows/vrf_blackhole"}`,
			`{"Action":"pass","Package":"m/a","Test":"TestRows"}`,
			`{"Action":"pass","Package":"m/a"}`,
		), true, []string{"ok  \tm/a", "skipped, as allowed: m/a TestGated (needs XLAT_COMPARE)"}},
		{"an unlisted skip", stream(
			`{"Action":"output","Package":"m/a","Test":"TestNetns","Output":"    x_test.go:3: needs root\n"}`,
			`{"Action":"skip","Package":"m/a","Test":"TestNetns"}`,
			`{"Action":"pass","Package":"m/a"}`,
		), false, []string{"SKIPPED, NOT ALLOWED: m/a TestNetns: x_test.go:3: needs root", "1 tests skipped"}},
		{"a failure", stream(
			`{"Action":"output","Package":"m/a","Test":"TestX","Output":"    x_test.go:5: wrong\n"}`,
			`{"Action":"fail","Package":"m/a","Test":"TestX"}`,
			`{"Action":"fail","Package":"m/a"}`,
		), false, []string{"x_test.go:5: wrong", "FAIL\tm/a"}},
		{"a build error", "# m/a\na.go:1: syntax error\n", false, []string{"a.go:1: syntax error"}},
	} {
		var out strings.Builder
		ok, err := check(strings.NewReader(tc.in), &out, allow)
		if err != nil || ok != tc.ok {
			t.Errorf("%s: ok %v, err %v; want ok %v\n%s", tc.name, ok, err, tc.ok, out.String())
		}
		for _, w := range tc.output {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out.String())
			}
		}
	}
}
