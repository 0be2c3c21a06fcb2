package siit

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// TestRefusedUpdateChangesNothing: every refused Update, whether siit or
// the engine refuses it, leaves the configuration, the EAMT and the
// translation of a packet exactly as they were.
func TestRefusedUpdateChangesNothing(t *testing.T) {
	good := Config{
		Pool6:       translate.MustParsePrefix("2001:db8:100::/40"),
		EAMT:        []EAM{eam("192.0.2.0/24", "2001:db8:aaaa::/120")},
		HairpinMode: HairpinSimple,
	}
	good.LowestIPv6MTU = 1400
	x, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("192.0.2.7")
	pkt := testpkt.IPv4{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, []byte("abcd")))
	translated := func() []byte {
		buf := make([]byte, translate.Headroom+len(pkt))
		copy(buf[translate.Headroom:], pkt)
		r := x.To6(buf, translate.Headroom, len(pkt))
		if r.Verdict != translate.Forward {
			t.Fatalf("not translated: %v", r.Reason)
		}
		return bytes.Clone(r.Packet(buf))
	}
	before, beforeCfg, beforeEAMT := translated(), x.Config(), x.EAMT().Entries()

	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"an EAM of two sizes", func(c *Config) { c.EAMT = []EAM{eam("192.0.2.0/24", "2001:db8:bbbb::/127")} }, "eamt"},
		{"one IPv4 prefix mapped twice", func(c *Config) {
			c.EAMT = append(c.EAMT, eam("192.0.2.0/24", "2001:db8:cccc::/120"))
		}, "eamt[1]"},
		{"a denylist4 entry that is IPv6", func(c *Config) {
			c.Denylist4 = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
		}, "denylist4[0]"},
		{"no pool6 and no EAMT", func(c *Config) { c.Pool6, c.EAMT = translate.Prefix{}, nil }, "pool6"},
		{"an unknown hairpin mode", func(c *Config) { c.HairpinMode = "sideways" }, "eam-hairpin-mode"},
		{"an engine option out of range", func(c *Config) {
			c.EAMT = []EAM{eam("192.0.2.0/24", "2001:db8:bbbb::/120")}
			c.LowestIPv6MTU = 1000
		}, "lowest-ipv6-mtu"},
		{"a bad ipv4-mtu", func(c *Config) { c.IPv4MTU = 20 }, "ipv4-mtu"},
	} {
		next := good
		next.EAMT = append([]EAM(nil), good.EAMT...)
		tc.edit(&next)
		if err := x.Check(next); err == nil {
			t.Errorf("%s: Check accepted it", tc.name)
		}
		err := x.Update(next)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Update returned %v, want an error naming %s", tc.name, err, tc.field)
		}
		if got := x.Config(); !reflect.DeepEqual(got, beforeCfg) {
			t.Errorf("%s: configuration changed to %+v", tc.name, got)
		}
		if got := x.EAMT().Entries(); !reflect.DeepEqual(got, beforeEAMT) {
			t.Errorf("%s: EAMT changed to %v", tc.name, got)
		}
		if got := x.engine.Config().LowestIPv6MTU; got != 1400 {
			t.Errorf("%s: engine's lowest-ipv6-mtu changed to %d", tc.name, got)
		}
		if got := translated(); !bytes.Equal(got, before) {
			t.Errorf("%s: translation changed:\n got % x\nwant % x", tc.name, got, before)
		}
	}
}
