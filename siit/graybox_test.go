package siit

import (
	"testing"

	"github.com/v6xlat/xlat/internal/graybox"
)

// siitConfig turns a case's settings, which use Jool's option names, into a
// Config the way an operator would write one.
func siitConfig(settings map[string]any, env map[string]int) (Config, error) {
	a, err := graybox.Adapt(settings, env, siitOptions)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(a.JSON)
	a.Apply(&c.Config)
	return c, err
}

// siitOptions are the Jool options an SIIT Config takes, all under
// Jool's names.
var siitOptions = map[string]string{
	"pool6": "", "eamt": "", "denylist4": "", "rfc6791v4-prefix": "", "rfc6791v6-prefix": "", "lowest-ipv6-mtu": "",
	"amend-udp-checksum-zero": "", "eam-hairpin-mode": "", "zeroize-traffic-class": "", "override-tos": "", "tos": "", "mtu-plateaus": "",
}

// Every SIIT case of the Jool graybox corpus, each on a fresh translator.
func TestJoolGrayboxSIIT(t *testing.T) {
	corpus := graybox.Load(t)
	var tally graybox.Tally
	for _, c := range corpus.Cases {
		if c.Mode != "siit" {
			continue
		}
		tally.Add(t.Run(c.ID, func(t *testing.T) {
			settings, err := corpus.Settings(c)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := siitConfig(settings, c.Environment)
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			x, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var outs [][]byte
			for _, in := range c.Inputs {
				pkt, err := corpus.Packet(in)
				if err != nil {
					t.Fatal(err)
				}
				o, err := graybox.Outputs(graybox.Translate(x, pkt))
				if err != nil {
					t.Fatalf("%s: %v", c.Purpose, err)
				}
				outs = append(outs, o...)
			}
			corpus.Expect(t, c, outs, "")
		}))
	}
	tally.Print("siit")
	if tally.Passed+tally.Failed == 0 {
		t.Fatal("the manifest has no SIIT cases")
	}
}
