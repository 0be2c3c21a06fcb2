// Package graybox reads the Jool graybox packet corpus for acceptance
// tests: its manifest of cases and profiles, its packet files, and the
// comparison rule (same length, equal bytes outside ignore_bytes).
//
// The corpus directory is XLAT_GRAYBOX_DIR, or ../shared/acceptance/
// jool-graybox beside the module root. Nothing about the cases is coded
// here: another corpus in the same format runs the same way.
package graybox

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

// Manifest is manifest.json.
type Manifest struct {
	Profiles map[string]map[string]any `json:"profiles"`
	Cases    []Case                    `json:"cases"`
}

// Case is one entry of the manifest.
type Case struct {
	ID          string         `json:"id"`
	Mode        string         `json:"mode"`
	Direction   string         `json:"direction"`
	InjectAt    string         `json:"inject_at"`
	ExpectAt    string         `json:"expect_at"`
	Inputs      []string       `json:"inputs"`
	Expected    []string       `json:"expected"`
	IgnoreBytes []int          `json:"ignore_bytes"`
	Config      CaseConfig     `json:"config"`
	Environment map[string]int `json:"environment"`
	OutputKind  string         `json:"output_kind"`
	DependsOn   []string       `json:"depends_on"`
	Purpose     string         `json:"purpose"`
	Wait        float64        `json:"wait_before_compare_s"`
}

// CaseConfig names a profile and the options that differ from it.
type CaseConfig struct {
	Profile   string         `json:"profile"`
	Overrides map[string]any `json:"overrides"`
}

// Corpus is a loaded corpus.
type Corpus struct {
	Dir string
	*Manifest
}

// Dir returns the corpus directory.
func Dir() string {
	if d := os.Getenv("XLAT_GRAYBOX_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..") // the module root
	return filepath.Join(root, "..", "shared", "acceptance", "jool-graybox")
}

// Load reads the manifest, or skips the test when the corpus is absent;
// when XLAT_GRAYBOX_DIR names the corpus (as .ci/run does wherever the
// project's shared folder is) an absent one fails the test: a green run
// must have run it.
func Load(t testing.TB) *Corpus {
	dir := Dir()
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		if os.Getenv("XLAT_GRAYBOX_DIR") != "" {
			t.Fatalf("graybox corpus not available (%v), though XLAT_GRAYBOX_DIR names it", err)
		}
		t.Skipf("graybox corpus not available (%v); set XLAT_GRAYBOX_DIR to its directory", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("graybox manifest.json: %v", err)
	}
	return &Corpus{Dir: dir, Manifest: &m}
}

// Settings returns the case's profile with its overrides applied: null
// unsets a key, eamt_add appends EAM entries.
func (c *Corpus) Settings(k Case) (map[string]any, error) {
	profile, ok := c.Profiles[k.Config.Profile]
	if !ok {
		return nil, fmt.Errorf("profile %q is not in the manifest", k.Config.Profile)
	}
	merged := map[string]any{}
	for key, v := range profile {
		merged[key] = v
	}
	for key, v := range k.Config.Overrides {
		if key == "eamt_add" {
			list, _ := merged["eamt"].([]any)
			add, _ := v.([]any)
			merged["eamt"] = append(append([]any{}, list...), add...)
			continue
		}
		if v == nil {
			delete(merged, key)
			continue
		}
		merged[key] = v
	}
	return merged, nil
}

// TranslatorAddresses returns the translator's own addresses from a
// profile's translator_addresses ({"ipv4": "a/len", "ipv6": "a/len"}).
func TranslatorAddresses(settings map[string]any) (v4, v6 netip.Addr, err error) {
	m, _ := settings["translator_addresses"].(map[string]any)
	for fam, s := range m {
		str, _ := s.(string)
		p, err := netip.ParsePrefix(str)
		if err != nil {
			return v4, v6, fmt.Errorf("translator_addresses.%s: %w", fam, err)
		}
		if fam == "ipv4" {
			v4 = p.Addr()
		} else {
			v6 = p.Addr()
		}
	}
	return v4, v6, nil
}

// Packet reads a packet file of the corpus.
func (c *Corpus) Packet(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.Dir, rel))
}

// Compare applies the manifest's rule: the same length, and equal bytes
// except at the ignored offsets.
func Compare(got, want []byte, ignore []int) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d\n got  %x\n want %x", len(got), len(want), got, want)
	}
	skip := map[int]bool{}
	for _, i := range ignore {
		skip[i] = true
	}
	for i := range want {
		if got[i] != want[i] && !skip[i] {
			return fmt.Errorf("byte %d is %#02x, want %#02x\n got  %x\n want %x", i, got[i], want[i], got, want)
		}
	}
	return nil
}

// Tally counts results and prints the closing line the acceptance tests
// promise.
type Tally struct{ Passed, Failed int }

func (t *Tally) Add(ok bool) {
	if ok {
		t.Passed++
	} else {
		t.Failed++
	}
}

func (t *Tally) Print(what string) {
	fmt.Printf("graybox-%s: %d passed, %d failed\n", what, t.Passed, t.Failed)
}

// Outputs returns what a translation result puts on the wire: nothing for
// a drop, the packet, or its fragments.
func Outputs(r translate.Result, buf []byte) ([][]byte, error) {
	switch r.Verdict {
	case translate.Drop:
		return nil, fmt.Errorf("dropped: %v", r.Reason)
	case translate.Fragment:
		frags := make([][]byte, 64)
		for i := range frags {
			frags[i] = make([]byte, r.MTU)
		}
		p := r.Packet(buf)
		n := translate.Split(frags, p, r.MTU)
		if n == 0 {
			return nil, fmt.Errorf("could not split a %d-byte packet to MTU %d", len(p), r.MTU)
		}
		return frags[:n], nil
	}
	return [][]byte{append([]byte(nil), r.Packet(buf)...)}, nil
}

// Translator is what the siit and nat64 translators have in common.
type Translator interface {
	Translate(buf []byte, off, n int) translate.Result
}

// Translate runs pkt through x in the direction its IP version says, in a
// buffer with the headroom and tailroom translation may need, and returns
// the result and that buffer.
func Translate(x Translator, pkt []byte) (translate.Result, []byte) {
	buf := make([]byte, translate.Headroom+len(pkt)+2048)
	copy(buf[translate.Headroom:], pkt)
	return x.Translate(buf, translate.Headroom, len(pkt)), buf
}

// Expect checks the packets a case produced against its expected ones:
// the same number (detail says more when not), each equal but for the
// ignored bytes.
func (c *Corpus) Expect(t testing.TB, k Case, got [][]byte, detail string) {
	t.Helper()
	if len(got) != len(k.Expected) {
		t.Fatalf("%s: %d packets out, want %d%s", k.Purpose, len(got), len(k.Expected), detail)
	}
	for i, e := range k.Expected {
		want, err := c.Packet(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := Compare(got[i], want, k.IgnoreBytes); err != nil {
			t.Errorf("%s: packet %d (%s): %v", k.Purpose, i, e, err)
		}
	}
}
