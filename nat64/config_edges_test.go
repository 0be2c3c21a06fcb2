package nat64

import (
	"net/netip"
	"testing"
	"time"
)

// The ends of each configurable range are accepted, one past them
// refused.
func TestConfigEdges(t *testing.T) {
	var r PortRange
	if err := r.UnmarshalText([]byte("5-5")); err != nil || r != (PortRange{5, 5}) {
		t.Errorf("5-5: %v %v", r, err)
	}
	if err := r.UnmarshalText([]byte("6-5")); err == nil {
		t.Error("6-5 accepted")
	}
	for s, want := range map[string]time.Duration{
		"1:02:03": time.Hour + 2*time.Minute + 3*time.Second, "87600:00:00": MaxDuration,
		"0:5256000:00": MaxDuration, "0:00:315360000": MaxDuration, "0:00:315360001": -1, "87600:00:01": -1, "87601:00:00": -1,
	} {
		var d Duration
		err := d.UnmarshalText([]byte(s))
		if want < 0 && err == nil || want >= 0 && (err != nil || time.Duration(d) != want) {
			t.Errorf("%s: %v %v, want %v", s, time.Duration(d), err, want)
		}
	}
	clock := newClock()
	for _, c := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"a /16 pool4", func(c *Config) { c.Pool4[0].Prefix = netip.MustParsePrefix("198.51.0.0/16") }, true},
		{"a /15 pool4", func(c *Config) { c.Pool4[0].Prefix = netip.MustParsePrefix("198.50.0.0/15") }, false},
		{"max-sessions at the index's size", func(c *Config) { c.MaxSessions = MaxTableSessions }, true},
		{"max-sessions past it", func(c *Config) { c.MaxSessions = MaxTableSessions + 1 }, false},
	} {
		cfg := testConfig(clock)
		c.edit(&cfg)
		if _, err := New(cfg, fixedRandom()); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Ports left out: 1024-65535 for TCP and UDP (Jool's default keeps
	// the well-known ports out), 1-65535 for ICMP identifiers.
	cfg := testConfig(clock)
	for i := range cfg.Pool4 {
		cfg.Pool4[i].Ports = PortRange{}
	}
	x := newTest(t, cfg)
	for p, want := range map[Protocol]int{TCP: 65535 - 1024 + 1, UDP: 65535 - 1024 + 1, ICMP: 65535} {
		if got := x.PoolSize(p); got != want {
			t.Errorf("%v: pool of %d, want %d", p, got, want)
		}
	}
}
