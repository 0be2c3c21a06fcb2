package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/internal/gateway"
)

// standIn is a gateway for the admin API and the metrics: its instances
// are real, its health is what the test says.
type standIn struct {
	setup  *gateway.Setup
	health []gateway.HealthRow
}

func (s *standIn) Current() *gateway.Setup              { return s.setup }
func (s *standIn) Health(time.Time) []gateway.HealthRow { return s.health }
func (s *standIn) Stats() gateway.DatapathStats {
	return gateway.DatapathStats{TUNReadDropped: []uint64{0}}
}
func newStandIn(t *testing.T) *standIn {
	t.Helper()
	l, err := parseConfig([]byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
	  "instances": [{"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96", "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]}},
	    {"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:46::/96"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return &standIn{setup: l.setup}
}

// "xlatgw health" prints a line per instance and fails (exit status 1)
// when any instance of any gateway asked has a problem or a gateway does
// not answer; -json carries the same rows.
func TestHealthCommand(t *testing.T) {
	g := newStandIn(t)
	admin := filepath.Join(t.TempDir(), "admin.sock")
	al, err := serveAdmin(g, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	sync := &gateway.SyncHealth{Configured: 1, Peers: []gateway.SyncPeerHealth{{Node: 0xab, LastHeard: 0.2, Up: true}}}
	g.health = []gateway.HealthRow{
		{Instance: "nat64", Type: "nat64", Sessions: 3, MaxSessions: 10, Pool4: []gateway.Pool4Use{{Proto: "UDP", Used: 3, Size: 10}}, Sync: sync,
			Handoff: map[string]int{"CAPABLE": 2}},
		{Instance: "siit", Type: "siit"},
	}
	var out bytes.Buffer
	if err := healthCmd([]string{"-socket", admin}, &out); err != nil {
		t.Fatalf("healthy: %v\n%s", err, out.String())
	}
	want := "nat64 nat64 ok datapath=0.000s sessions=3/10 pool4-udp=3/10 sync=1/1-up(000000ab:0.2s) handoff=2-capable\nsiit siit ok datapath=0.000s\n"
	if out.String() != want {
		t.Errorf("healthy output:\n%s\nwant\n%s", out.String(), want)
	}

	g.health[0].Problems = []string{"datapath stalled for 600ms"}
	out.Reset()
	if err := healthCmd([]string{"-socket", admin}, &out); !errors.Is(err, errUnhealthy) || !strings.Contains(out.String(), "nat64 nat64 FAIL(datapath stalled for 600ms)") {
		t.Errorf("a problem: %v\n%s", err, out.String())
	}
	var js bytes.Buffer
	if err := healthCmd([]string{"-socket", admin, "-json"}, &js); !errors.Is(err, errUnhealthy) || !strings.Contains(js.String(), `"problems":["datapath stalled`) {
		t.Errorf("-json: %v\n%s", err, js.String())
	}

	// Several gateways at once: each headed by its socket, one that does
	// not answer named and failing the check.
	g.health[0].Problems = nil
	missing := filepath.Join(t.TempDir(), "none.sock")
	var several bytes.Buffer
	err = healthCmd([]string{"-socket", admin, "-socket", missing}, &several)
	if err == nil || !strings.Contains(several.String(), "== "+admin+"\nnat64 nat64 ok") || !strings.Contains(several.String(), missing+": no answer") {
		t.Errorf("health of two gateways: %v\n%s", err, several.String())
	}
	several.Reset()
	if err := show([]string{"stats", "-socket", admin, "-socket", admin}, &several); err != nil || strings.Count(several.String(), "== "+admin) != 2 ||
		!strings.Contains(several.String(), "nat64     nat64") {
		t.Errorf("show of two gateways: %v\n%s", err, several.String())
	}
}

// The handoff client's counters reach the metrics by name, those of the
// parse counters it embeds (wire.ParseStats) included.
func TestEachCounterFlattens(t *testing.T) {
	var s client.Stats
	s.MalformedDatagrams, s.Refreshes = 3, 5
	got := map[string]uint64{}
	eachCounter(reflect.ValueOf(s), func(name string, v uint64) { got[name] = v })
	if got["MalformedDatagrams"] != 3 || got["Refreshes"] != 5 || len(got) < 20 {
		t.Errorf("counters %v", got)
	}
}
