package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// eamtConfig is a gateway with one SIIT instance of n EAMT entries, the
// IPv4 side from base on (198.18.0.0/15: nothing is sent to them).
func eamtConfig(base netip.Addr, n int) string {
	var b strings.Builder
	b.WriteString(`{"tun": {"name": "tv", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"}, "af-xdp": {"interfaces": ["xa"]},
	  "instances": [{"name": "dc", "type": "siit", "siit": {"pool6": "2001:db8:46::/96", "eamt": [`)
	a := base
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		v4 := a.As4()
		fmt.Fprintf(&b, `{"ipv4": "%v/32", "ipv6": "2001:db8:e::%x:%x/128"}`, a, uint16(v4[0])<<8|uint16(v4[1]), uint16(v4[2])<<8|uint16(v4[3]))
		a = a.Next()
	}
	b.WriteString(`]}}]}`)
	return b.String()
}

// Fault items 10 and 11: a reload of 2,100 EAMT entries to 2,100 others
// overflowed the AF_XDP claims after the instances were updated (the log
// said refused, the instance held the new entries, the tries a mix), and
// no reload ever changed the routes into the TUN device. Now the reload
// goes through whole: instance, claims and routes all hold the new set;
// and a refused one leaves all three as they were.
func TestFaultReloadClaimsAndRoutes(t *testing.T) {
	netnstest.InNewNetns(t, "a network namespace, XDP and AF_XDP", func() {
		for _, c := range []string{
			"link add xa type veth peer name xb", "link add tv type veth peer name tw",
			"link set xa up", "link set xb up", "link set tw up",
		} {
			if out, err := exec.Command("ip", strings.Fields(c)...).CombinedOutput(); err != nil {
				t.Errorf("ip %s: %v\n%s", c, err, out)
				return
			}
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "xlatgw.json")
		write := func(s string) {
			if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
				t.Error(err) // a later check fails for it: no t.Fatal off the test's goroutine
			}
		}
		a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.0.1")
		write(eamtConfig(a, 2100))
		l, err := loadConfig(path)
		if err != nil {
			t.Error(err)
			return
		}
		g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		g.cur.Store(l)
		if g.routes, err = setupRouting("tv", l); err != nil {
			t.Error(err)
			return
		}
		defer g.routes.clear()
		tv, _ := netlink.LinkByName("tv")
		if g.xdp, err = openXDP(l.cfg.AFXDP, claimedPrefixes(l), tv.Attrs().Index, ""); err != nil {
			t.Errorf("openXDP: %v", err)
			return
		}
		defer g.xdp.close()

		// holds reports whether instance, claims and routes hold the
		// entry for v4, and says which do.
		holds := func(v4 netip.Addr) (inst, claim, route bool) {
			for _, e := range g.cur.Load().insts[0].SIIT().Config().EAMT {
				inst = inst || e.IPv4.Addr() == v4
			}
			for _, p := range g.xdp.claims.Claimed() {
				claim = claim || p == netip.PrefixFrom(v4, 32)
			}
			out, _ := exec.Command("ip", "route", "show", "dev", "tv", "exact", v4.String()+"/32").Output()
			route = strings.Contains(string(out), v4.String())
			return
		}
		check := func(when string, v4 netip.Addr, want bool) {
			t.Helper()
			if i, c, r := holds(v4); i != want || c != want || r != want {
				t.Errorf("%s: %v in the instance %v, claimed %v, routed %v; want %v for all", when, v4, i, c, r, want)
			}
		}
		check("before", a, true)
		check("before", b, false)

		write(eamtConfig(b, 2100))
		if err := reloadFile(g, path); err != nil {
			t.Errorf("reload to 2,100 other entries: %v", err)
		}
		check("after the reload", a, false)
		check("after the reload", b, true)
		if n := len(g.xdp.claims.Claimed()); n != 2101 { // and pool6
			t.Errorf("%d prefixes claimed, want 2,101", n)
		}
		out, _ := exec.Command("ip", "route", "show", "dev", "tv").Output()
		if n := strings.Count(string(out), "\n"); n != 2100 {
			t.Errorf("%d IPv4 routes into the TUN device, want 2,100", n)
		}

		// Refused (a change that needs a restart): nothing changes.
		write(strings.Replace(eamtConfig(a, 2100), `"tv"`, `"tv2"`, 1))
		if err := reloadFile(g, path); err == nil || !strings.Contains(err.Error(), "restart") {
			t.Errorf("reload with another TUN device: %v, want a refusal", err)
		}
		check("after a refused reload", a, false)
		check("after a refused reload", b, true)
	})
}

// reloadFile reloads g with the configuration at path.
func reloadFile(g *Gateway, path string) error {
	next, err := loadConfig(path)
	if err != nil {
		return err
	}
	return g.Reload(next)
}
