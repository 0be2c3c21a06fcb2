package jool

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/gateway"
	"github.com/v6xlat/xlat/internal/strictjson"
	"github.com/v6xlat/xlat/nat64"
)

// Jool's atomic configuration files, SIIT and NAT64, laid out as Jool's
// documentation shows them, become one xlatgw configuration that
// check-config accepts, and every option that does not carry over is
// named in a warning.
func TestImportJool(t *testing.T) {
	var out, warnings bytes.Buffer
	if err := Command([]string{"testdata/jool/siit.json", "testdata/jool/nat64.json"}, &out, &warnings); err != nil {
		t.Fatal(err)
	}
	// check-config: the same parse, on a file with the addresses the
	// warning asks for filled in.
	var cfg gateway.Config
	if err := strictjson.Decode(out.Bytes(), &cfg, "config"); err != nil {
		t.Fatalf("output is not the configuration: %v\n%s", err, out.String())
	}
	l, err := gateway.Build(cfg)
	if err != nil {
		t.Fatalf("check-config refuses the import: %v\n%s", err, out.String())
	}
	in := l.Instances()
	if len(in) != 2 || in[0].Name() != "dc-border" || in[0].SIIT() == nil || in[1].Name() != "campus-nat64" || in[1].NAT64() == nil {
		t.Fatalf("instances: %s", out.String())
	}
	// What carried over, as the translators read it.
	s := in[0].SIIT().Config()
	if s.Pool6.String() != "2001:db8:46::/96" || len(s.Denylist4) != 3 || s.Denylist4[0].String() != "192.0.2.0/32" ||
		!s.ZeroizeTrafficClass || s.TOS != 184 || !s.AmendUDPChecksumZero || s.RFC6791v4.String() != "198.51.100.254/32" ||
		len(s.MTUPlateaus) != 4 || s.LowestIPv6MTU != 1280 {
		t.Errorf("siit: %+v", s)
	}
	if e := in[0].SIIT().EAMT().Entries(); len(e) != 3 {
		t.Errorf("eamt: %v", e)
	}
	n := in[1].NAT64Config()
	if n.MaxSimultaneousOpens != 16 || n.SourceICMPv6ErrorsBetter == nil || !*n.SourceICMPv6ErrorsBetter || !n.DropICMPv6Info || len(n.Pool4) != 3 || len(n.StaticBIB) != 2 ||
		n.Pool4[0].Mark != 7 || n.Pool4[2].Protocol != nat64.ICMP {
		t.Errorf("nat64: %+v", n)
	}
	if time.Duration(n.Timeouts.UDP) != 10*time.Minute || time.Duration(n.Timeouts.TCPTrans) != 4*time.Minute ||
		time.Duration(n.Timeouts.TCPEst) != 2*time.Hour || time.Duration(n.Timeouts.ICMP) != time.Minute {
		t.Errorf("timeouts: %+v", n.Timeouts)
	}

	// Every option that does not carry over is named, with its file.
	w := warnings.String()
	for _, want := range []string{
		"siit.json: global.manually-enabled:",
		"siit.json: global.randomize-rfc6791-addresses:",
		"nat64.json: framework: iptables",
		"nat64.json: global.manually-enabled:",
		"nat64.json: global.handle-rst-during-fin-rcv:",
		"nat64.json: global.f-args:",
		"nat64.json: global.logging-bib:",
		"nat64.json: global.logging-session:",
		"nat64.json: global.ss-enabled:",
		"nat64.json: global.ss-flush-asap:",
		"nat64.json: global.ss-flush-deadline:",
		"nat64.json: global.ss-capacity:",
		"nat64.json: global.ss-max-payload:",
		"nat64.json: global.icmp-timeout: 1:00.500",
		"nat64.json: pool4[0].max-iterations:",
		"(all): tun:",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning %q in:\n%s", want, w)
		}
	}
	// And nothing else is warned about: one line per option above.
	if n := strings.Count(w, "\n"); n != 16 {
		t.Errorf("%d warnings, want 16:\n%s", n, w)
	}
}

func TestImportJoolRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		body, flag, want string
	}{
		{`{"instance": "a", "global": {"pool6": "64:ff9b::/96"}}`, "", "give -type"},
		{`{"instance": "a", "global": {"pool6": "64:ff9b::/96"}, "eamt": [], "pool4": []}`, "", "both SIIT options"},
		{`{"instance": "a", "global": {"pool6": "64:ff9b::/96", "udp-timeout": "1:2:3:4"}}`, "", "not [[HH:]MM:]SS"},
		{`{"instance": "a", "eamt": [{"ipv6 prefix": "2001:db8::/120"}]}`, "", `"ipv4 prefix" missing`},
		{`not json`, "", "not a Jool JSON file"},
		{`{"instance": "a"}`, "-type=clat", "siit or nat64"},
	} {
		args := []string{write("f.json", tc.body)}
		if tc.flag != "" {
			args = append([]string{tc.flag}, args...)
		}
		var out, warn bytes.Buffer
		if err := Command(args, &out, &warn); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.flag, tc.body, err, tc.want)
		}
	}
	// -type settles a file with only common options.
	var out, warn bytes.Buffer
	if err := Command([]string{"-type", "siit", write("plain.json", `{"instance": "p", "global": {"pool6": "64:ff9b::/96"}}`)}, &out, &warn); err != nil {
		t.Errorf("-type siit: %v", err)
	}
}

// Timeouts that are not numbers, or too long to count in nanoseconds,
// are refused with the option named, not turned into nonsense.
func TestFaultDurationOverflow(t *testing.T) {
	for _, s := range []string{"NaN", "Inf", "+Inf", "1e300", "1e3", "5124096:00:00", "2562048:0:0", "0:153722868:0", "9223372037", "87601:00:00", "-1"} {
		if d, err := joolDuration(s); err == nil {
			t.Errorf("joolDuration(%q) = %v, want an error", s, d)
		}
		var d nat64.Duration
		if err := d.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("nat64.Duration %q = %v, want an error", s, d)
		}
	}
	for s, want := range map[string]time.Duration{"87600:00:00": nat64.MaxDuration, "1:02:03.5": time.Hour + 2*time.Minute + 3500*time.Millisecond, "90": 90 * time.Second} {
		if d, err := joolDuration(s); err != nil || d != want {
			t.Errorf("joolDuration(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	// As import-jool and check-config meet them.
	dir := t.TempDir()
	f := filepath.Join(dir, "j.json")
	os.WriteFile(f, []byte(`{"instance": "a", "framework": "netfilter", "global": {"pool6": "64:ff9b::/96", "udp-timeout": "NaN"}, "pool4": []}`), 0o644)
	var out, warn bytes.Buffer
	if err := Command([]string{f}, &out, &warn); err == nil || !strings.Contains(err.Error(), "udp-timeout") {
		t.Errorf("import-jool with udp-timeout NaN: %v, want a refusal naming udp-timeout", err)
	}
	_, err := gateway.Build(gateway.Config{Instances: []gateway.InstanceConfig{{Name: "n", Type: "nat64",
		NAT64: []byte(`{"pool6": "64:ff9b::/96", "timeouts": {"udp": "5124096:00:00"}, "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]}`)}}})
	if err == nil || !strings.Contains(err.Error(), "5124096:00:00") {
		t.Errorf("check-config with a udp timeout of 5124096 hours: %v, want a refusal", err)
	}
}
