package siit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/v6xlat/xlat/translate"
)

// The Jool graybox corpus: packet pairs from Jool's own test suite, read
// from XLAT_GRAYBOX_DIR or ../shared/acceptance/jool-graybox beside the
// module root. Everything about the cases comes from its manifest.json.

type manifest struct {
	Profiles map[string]map[string]any `json:"profiles"`
	Cases    []graycase                `json:"cases"`
}

type graycase struct {
	ID          string         `json:"id"`
	Mode        string         `json:"mode"`
	Direction   string         `json:"direction"`
	InjectAt    string         `json:"inject_at"`
	ExpectAt    string         `json:"expect_at"`
	Inputs      []string       `json:"inputs"`
	Expected    []string       `json:"expected"`
	IgnoreBytes []int          `json:"ignore_bytes"`
	Config      grayconfig     `json:"config"`
	Environment map[string]int `json:"environment"`
	OutputKind  string         `json:"output_kind"`
	Purpose     string         `json:"purpose"`
}

type grayconfig struct {
	Profile   string         `json:"profile"`
	Overrides map[string]any `json:"overrides"`
}

func graylocation(t *testing.T) string {
	if d := os.Getenv("XLAT_GRAYBOX_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file)) // the module root
	return filepath.Join(root, "..", "shared", "acceptance", "jool-graybox")
}

func loadManifest(t *testing.T) (string, *manifest) {
	dir := graylocation(t)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Skipf("graybox corpus not available (%v); set XLAT_GRAYBOX_DIR to its directory", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return dir, &m
}

// siitConfig merges a profile and a case's overrides into a Config, the way
// an operator would write it.
func siitConfig(profile, overrides map[string]any, env map[string]int) (Config, error) {
	merged := map[string]any{}
	for k, v := range profile {
		merged[k] = v
	}
	for k, v := range overrides {
		if k == "eamt_add" {
			list, _ := merged["eamt"].([]any)
			add, _ := v.([]any)
			merged["eamt"] = append(append([]any{}, list...), add...)
			continue
		}
		merged[k] = v
	}
	var c Config
	keys := map[string]bool{}
	for k, v := range merged {
		if v == nil {
			continue
		}
		switch k {
		case "translator_addresses":
			addrs := v.(map[string]any)
			for fam, s := range addrs {
				p, err := netip.ParsePrefix(s.(string))
				if err != nil {
					return c, err
				}
				if fam == "ipv4" {
					c.Addr4 = p.Addr()
				} else {
					c.Addr6 = p.Addr()
				}
			}
		case "pool6", "eamt", "denylist4", "rfc6791v4-prefix", "rfc6791v6-prefix", "lowest-ipv6-mtu",
			"amend-udp-checksum-zero", "eam-hairpin-mode", "zeroize-traffic-class", "override-tos", "tos", "mtu-plateaus":
			keys[k] = true
		}
	}
	sub := map[string]any{}
	for k := range keys {
		sub[k] = merged[k]
	}
	js, _ := json.Marshal(sub)
	parsed, err := ParseConfig(js)
	if err != nil {
		return c, err
	}
	parsed.Addr4, parsed.Addr6 = c.Addr4, c.Addr6
	if m := env["translator_ipv6_egress_mtu"]; m != 0 {
		parsed.IPv6MTU = m
	}
	if m := env["translator_ipv4_egress_mtu"]; m != 0 {
		parsed.IPv4MTU = m
	}
	if m := env["translator_ipv4_ingress_mtu"]; m != 0 && parsed.IPv4MTU == 0 {
		parsed.IPv4MTU = 1500
	}
	return parsed, nil
}

// runCase feeds a case's inputs through a fresh translator and returns what
// comes out, fragments split.
func runSIIT(x *Translator, dir string, c graycase) ([][]byte, error) {
	var outs [][]byte
	for _, in := range c.Inputs {
		pkt, err := os.ReadFile(filepath.Join(dir, in))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, translate.Headroom+len(pkt)+2048)
		copy(buf[translate.Headroom:], pkt)
		var r translate.Result
		if pkt[0]>>4 == 6 {
			r = x.To4(buf, translate.Headroom, len(pkt))
		} else {
			r = x.To6(buf, translate.Headroom, len(pkt))
		}
		switch r.Verdict {
		case translate.Drop:
			return outs, fmt.Errorf("dropped: %v", r.Reason)
		case translate.Forward, translate.Reply:
			outs = append(outs, append([]byte(nil), r.Packet(buf)...))
		case translate.Fragment:
			frags := make([][]byte, 64)
			for i := range frags {
				frags[i] = make([]byte, r.MTU)
			}
			p := r.Packet(buf)
			var n int
			if p[0]>>4 == 6 {
				n = translate.SplitIPv6(frags, p, r.MTU)
			} else {
				n = translate.SplitIPv4(frags, p, r.MTU)
			}
			if n == 0 {
				return outs, fmt.Errorf("could not split a %d-byte packet to MTU %d", len(p), r.MTU)
			}
			outs = append(outs, frags[:n]...)
		}
	}
	return outs, nil
}

func compare(got, want []byte, ignore map[int]bool) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d\n got  %x\n want %x", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] && !ignore[i] {
			return fmt.Errorf("byte %d is %#02x, want %#02x\n got  %x\n want %x", i, got[i], want[i], got, want)
		}
	}
	return nil
}

func TestJoolGrayboxSIIT(t *testing.T) {
	dir, m := loadManifest(t)
	passed, failed := 0, 0
	for _, c := range m.Cases {
		if c.Mode != "siit" {
			continue
		}
		ok := t.Run(c.ID, func(t *testing.T) {
			profile, found := m.Profiles[c.Config.Profile]
			if !found {
				t.Fatalf("profile %q not in the manifest", c.Config.Profile)
			}
			cfg, err := siitConfig(profile, c.Config.Overrides, c.Environment)
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			x, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			outs, err := runSIIT(x, dir, c)
			if err != nil {
				t.Fatalf("%s: %v", c.Purpose, err)
			}
			if len(outs) != len(c.Expected) {
				t.Fatalf("%s: %d packets out, want %d", c.Purpose, len(outs), len(c.Expected))
			}
			ignore := map[int]bool{}
			for _, b := range c.IgnoreBytes {
				ignore[b] = true
			}
			for i, e := range c.Expected {
				want, err := os.ReadFile(filepath.Join(dir, e))
				if err != nil {
					t.Fatal(err)
				}
				if err := compare(outs[i], want, ignore); err != nil {
					t.Errorf("%s: packet %d (%s): %v", c.Purpose, i, e, err)
				}
			}
		})
		if ok {
			passed++
		} else {
			failed++
		}
	}
	fmt.Printf("graybox SIIT: %d passed, %d failed\n", passed, failed)
	if passed+failed == 0 {
		t.Fatal("the manifest has no SIIT cases")
	}
}
