package siit

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// A configuration in Jool's words reads, writes back and reads again to the
// same value.
func TestConfigJSONRoundTrip(t *testing.T) {
	in := `{
		"pool6": "2001:db8:100::/40",
		"eamt": [{"ipv6": "2001:db8:3::/120", "ipv4": "1.0.0.0/24"}],
		"denylist4": ["192.0.2.0/28"],
		"rfc6791v4-prefix": "203.0.113.8/32",
		"rfc6791v6-prefix": "2001:db8:6791::/64",
		"eam-hairpin-mode": "simple",
		"lowest-ipv6-mtu": 1400,
		"amend-udp-checksum-zero": true,
		"zeroize-traffic-class": true,
		"override-tos": true,
		"tos": 8,
		"mtu-plateaus": [1500, 1280],
		"ipv4-address": "198.51.100.1",
		"ipv6-address": "2001:db8:1c0:2:1::"
	}`
	c, err := ParseConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pool6 != translate.MustParsePrefix("2001:db8:100::/40") || len(c.EAMT) != 1 || c.HairpinMode != HairpinSimple ||
		c.LowestIPv6MTU != 1400 || !c.AmendUDPChecksumZero || c.TOS != 8 || c.Addr4 != netip.MustParseAddr("198.51.100.1") {
		t.Fatalf("parsed %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseConfig(out)
	if err != nil {
		t.Fatalf("re-reading %s: %v", out, err)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", c, c2)
	}
	for _, key := range []string{`"pool6"`, `"eamt"`, `"rfc6791v4-prefix"`, `"lowest-ipv6-mtu"`, `"eam-hairpin-mode"`} {
		if !strings.Contains(string(out), key) {
			t.Errorf("marshalled config lacks %s: %s", key, out)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for in, field := range map[string]string{
		`{"pool6": "2001:db8::/33"}`:                                     `"pool6"`,
		`{"pool6": "64:ff9b::/96", "eam-hairpin-mode": "sideways"}`:      "eam-hairpin-mode",
		`{"pool6": "64:ff9b::/96", "lowest-ipv6-mtu": 1000}`:             "lowest-ipv6-mtu",
		`{"pool6": "64:ff9b::/96", "denylist4": ["2001:db8::/64"]}`:      "denylist4[0]",
		`{"pool6": "64:ff9b::/96", "rfc6791v4-prefix": "2001:db8::/64"}`: "rfc6791v4-prefix",
		`{"eamt": [{"ipv4": "192.0.2.0/24", "ipv6": "2001:db8::/125"}]}`: "eamt[0]",
		`{"pool6": "64:ff9b::/96", "pool4": "192.0.2.0/24"}`:             "pool4",
	} {
		c, err := ParseConfig([]byte(in))
		if err == nil {
			_, err = New(c)
		}
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v does not name %s", in, err, field)
		}
	}
}

// The EAMT and options change under traffic without a stop; run with -race.
func TestLiveUpdate(t *testing.T) {
	x, err := New(Config{Pool6: translate.MustParsePrefix("2001:db8:100::/40"), EAMT: []EAM{eam("192.0.2.0/24", "2001:db8:aaaa::/120")}})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("192.0.2.7")
	pkt := testpkt.IPv4{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, []byte("abcd")))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	seen := make([]map[netip.Addr]bool, 2)
	for g := range seen {
		seen[g] = map[netip.Addr]bool{}
		wg.Add(1)
		go func(m map[netip.Addr]bool) {
			defer wg.Done()
			buf := make([]byte, translate.Headroom+len(pkt))
			for {
				select {
				case <-stop:
					return
				default:
				}
				copy(buf[translate.Headroom:], pkt)
				r := x.To6(buf, translate.Headroom, len(pkt))
				if r.Verdict != translate.Forward {
					t.Errorf("dropped during update: %v", r.Reason)
					return
				}
				m[header.IPv6(r.Packet(buf)).Dst()] = true
			}
		}(seen[g])
	}
	for i := 0; i < 200; i++ {
		prefix := "2001:db8:aaaa::/120"
		if i%2 == 1 {
			prefix = "2001:db8:bbbb::/120"
		}
		if err := x.Update(Config{Pool6: translate.MustParsePrefix("2001:db8:100::/40"), EAMT: []EAM{eam("192.0.2.0/24", prefix)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Update(Config{EAMT: []EAM{eam("192.0.2.0/24", "2001:db8::/127")}}); err == nil {
		t.Error("an invalid update was accepted")
	}
	close(stop)
	wg.Wait()
	for _, m := range seen {
		for a := range m {
			if a != netip.MustParseAddr("2001:db8:aaaa::7") && a != netip.MustParseAddr("2001:db8:bbbb::7") {
				t.Errorf("translated to %v, which no configuration maps to", a)
			}
		}
	}
	if x.EAMT().Entries()[0].IPv6 != netip.MustParsePrefix("2001:db8:bbbb::/120") {
		t.Errorf("last update not in force: %v", x.EAMT().Entries())
	}
}
