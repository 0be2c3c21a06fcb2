package gateway

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/header"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	for in, want := range map[string]string{
		`{"instances": []}`: "instances",
		`{"tun": {"mtu": 100}, "instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}]}`:                                              "tun.mtu",
		`{"instances": [{"name": "a", "type": "nat46"}]}`:                                                                                                     "instances[0] (a): type",
		`{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/97"}}]}`:                                                                   "instances[0] (a)",
		`{"instances": [{"name": "a", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96"}}]}`:                                                                 "pool4",
		`{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96", "bogus": 1}}]}`:                                                       "bogus",
		`{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}], "rules": [{"prefix": "0.0.0.0/1", "instance": "b"}]}`:              "rules[0].instance",
		`{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}], "unknown": true}`:                                                  "unknown",
		`{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}, {"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}]}`: "used twice",
	} {
		if _, err := parseConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v does not name %q", in, err, want)
		}
	}
}

// Fault items 13 and 5: a negative count of TUN queues passed
// check-config and then panicked in run; an EAMT entry of 0.0.0.0/0 was
// routed into the TUN device over the host's default route.
func TestFaultConfigRefusals(t *testing.T) {
	for in, want := range map[string]string{
		`{"tun": {"queues": -1}, "instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}]}`:           "tun.queues",
		`{"tun": {"queues": 257}, "instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}]}`:          "tun.queues",
		`{"instances": [{"name": "a", "type": "siit", "siit": {"eamt": [{"ipv4": "0.0.0.0/0", "ipv6": "2001:db8::/96"}]}}]}`: "0.0.0.0/0 would claim every destination",
	} {
		if _, err := parseConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v does not name %q", in, err, want)
		}
	}
}

// Rules split the IPv4 space between instances; packets go to the first
// instance that claims them.
func TestPick(t *testing.T) {
	l, err := parseConfig([]byte(`{"instances": [
	  {"name": "low", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96", "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]}},
	  {"name": "high", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96", "pool4": [{"protocol": "UDP", "prefix": "203.0.113.2/32"}]}},
	  {"name": "dc", "type": "siit", "siit": {"eamt": [{"ipv4": "198.51.100.80/32", "ipv6": "2001:db8::80/128"}]}}],
	  "rules": [{"prefix": "0.0.0.0/1", "instance": "low"}, {"prefix": "128.0.0.0/1", "instance": "high"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	six := func(dst string) []byte {
		p := make([]byte, 40)
		p[0] = 0x60
		a := netip.MustParseAddr(dst).As16()
		copy(p[24:], a[:])
		return p
	}
	four := func(src, dst string) []byte {
		p := make([]byte, 20)
		p[0] = 0x45
		s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
		copy(p[12:], s[:])
		copy(p[16:], d[:])
		return p
	}
	for _, tc := range []struct {
		pkt  []byte
		want string
	}{
		{six("64:ff9b::8.8.8.8"), "low"},
		{six("64:ff9b::200.1.1.1"), "high"},
		{four("8.8.8.8", "203.0.113.1"), "low"},
		{four("200.1.1.1", "203.0.113.2"), "high"},
		{four("200.1.1.1", "203.0.113.1"), "dc"}, // not low's side: left to the SIIT
		{six("2001:db8:1::1"), ""},
	} {
		got := ""
		var m *member
		if tc.pkt[0]>>4 == 6 {
			m, _ = l.pick6(header.IPv6(tc.pkt).Dst())
		} else {
			m = l.pick4(header.IPv4(tc.pkt).Src(), header.IPv4(tc.pkt).Dst())
		}
		if m != nil {
			got = m.name
		}
		if got != tc.want {
			t.Errorf("% x: instance %q, want %q", tc.pkt, got, tc.want)
		}
	}
}

// The handoff client is configured on nat64 instances only, with its
// address in pool4 and the control ports outside every port range; its
// settings cannot change on reload.
func TestHandoffConfig(t *testing.T) {
	const base = `{"instances": [{"name": "a", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
	  "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32", "ports": "1028-65535"}]}, "handoff": %s}]}`
	for h, want := range map[string]string{
		`{"address": "198.51.100.1"}`:  "not a pool4 address",
		`{"servers": ["2001:db8::1"]}`: "server 2001:db8::1",
		`{"control-port": 1030}`:       "control port 1030",
		`{"destinations": ["::/0"]}`:   "destinations[0]",
		`{"cache-max-entries": -1}`:    "handoff.cache-max-entries",
		`{"bogus": 1}`:                 "bogus",
		`{"server-port": "x"}`:         "server-port",
	} {
		if _, err := parseConfig([]byte(strings.Replace(base, "%s", h, 1))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", h, err, want)
		}
	}
	if _, err := parseConfig([]byte(`{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}, "handoff": {}}]}`)); err == nil ||
		!strings.Contains(err.Error(), "only a nat64 instance") {
		t.Errorf("handoff on siit: %v", err)
	}
	wide := `{"instances": [{"name": "a", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
	  "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32"}]}, "handoff": {}}]}`
	if _, err := parseConfig([]byte(wide)); err == nil || !strings.Contains(err.Error(), "handoff control ports") {
		t.Errorf("pool4 over the control ports: %v", err)
	}
	old, err := parseConfig([]byte(strings.Replace(base, "%s", `{"servers": ["192.0.2.2"]}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	same, _ := parseConfig([]byte(strings.Replace(base, "%s", `{"servers": ["192.0.2.2"]}`, 1)))
	if next, err := reload(old, same, nil); err != nil || next.insts[0].Instance != old.insts[0].Instance || next.insts[0].handoff != old.insts[0].handoff {
		t.Errorf("reload with the same handoff settings: %v", err)
	}
	changed, _ := parseConfig([]byte(strings.Replace(base, "%s", `{"servers": ["192.0.2.3"]}`, 1)))
	if _, err := reload(old, changed, nil); err == nil || !strings.Contains(err.Error(), "handoff: changes need a restart") {
		t.Errorf("reload with other handoff settings: %v", err)
	}
}

// Sync settings are checked when the file is read, each error naming its
// field.
func TestSyncConfig(t *testing.T) {
	const base = `{"instances": [{"name": "a", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
	  "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32"}] %s}, "sync": %s}]}`
	key := `"key": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"`
	peers := `"listen": "198.51.100.1:6464", "peers": ["198.51.100.2:6464"]`
	for _, c := range []struct{ nat, sync, want string }{
		{"", `{` + peers + `}`, "key or key-file required"},
		{"", `{"key": "0011", ` + peers + `}`, "2 octets"},
		{"", `{"key": "zz", ` + peers + `}`, "sync.key: not hex"},
		{"", `{` + key + `}`, "nobody to sync with"},
		{"", `{` + key + `, ` + peers + `, "group": "[ff02::1:2]:6464"}`, "choose unicast peers or a multicast group"},
		{"", `{` + key + `, "group": "198.51.100.9:6464", "interface": "eth0"}`, "not a multicast address"},
		{"", `{` + key + `, ` + peers + `, "role": "hot"}`, `sync.role: "hot"`},
		{"", `{` + key + `, ` + peers + `, "role": "active-active"}`, "needs the peer's pool4"},
		{`, "standby-pool4": ["203.0.113.2/32"]`, `{` + key + `, ` + peers + `}`, "active-passive, but standby-pool4"},
		{"", `{` + key + `, "key-file": "/x", ` + peers + `}`, "give one"},
		{"", `{` + key + `, ` + peers + `, "bogus": 1}`, "bogus"},
	} {
		in := strings.Replace(strings.Replace(base, "%s", c.nat, 1), "%s", c.sync, 1)
		if _, err := parseConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.sync, err, c.want)
		}
	}
	ok := strings.Replace(strings.Replace(base, "%s", `, "standby-pool4": ["203.0.113.2/32"]`, 1), "%s", `{`+key+`, `+peers+`, "role": "active-active"}`, 1)
	if _, err := parseConfig([]byte(ok)); err != nil {
		t.Errorf("active-active: %v", err)
	}
}
