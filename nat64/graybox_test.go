package nat64

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/graybox"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// nat64Config turns a case's settings (Jool's option names) into a Config.
func nat64Config(settings map[string]any, env map[string]int, now func() time.Time) (Config, error) {
	a, err := graybox.Adapt(settings, env, nat64Options)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(a.JSON)
	if err != nil {
		return c, err
	}
	a.Apply(&c.Config)
	// Jool does not apply RFC 6052 §3.1 to pool6, and the corpus puts
	// documentation addresses behind 64:ff9b::/96.
	c.AllowNonGlobalWKP = true
	c.Now = now
	return c, nil
}

// nat64Options are the Jool options a NAT64 Config takes: the static
// BIB is "bib" in xlat, the others keep Jool's names.
var nat64Options = map[string]string{
	"static_bib": "bib",
	"pool6":      "", "pool4": "", "lowest-ipv6-mtu": "", "zeroize-traffic-class": "", "override-tos": "", "tos": "",
	"address-dependent-filtering": "", "drop-externally-initiated-tcp": "", "drop-icmpv6-info": "",
	"source-icmpv6-errors-better": "", "maximum-simultaneous-opens": "", "timeouts": "", "mtu-plateaus": "", "amend-udp-checksum-zero": "",
}

// peerRouterError emulates the IPv4 peer of a translated-peer-error case:
// a Linux router that cannot route the packet answers Destination
// Unreachable, net unreachable, with TOS 0xc0 and TTL 64.
func peerRouterError(peer netip.Addr, pkt []byte) []byte {
	m := testpkt.ICMPError(peer, header.IPv4(pkt).Src(), header.ICMPv4DstUnreachable, 0, 0, pkt[:min(len(pkt), 576-28)])
	out := make([]byte, 20+len(m))
	header.IPv4(out).Encode(&header.IPv4Fields{TOS: 0xc0, TotalLength: uint16(len(out)), TTL: 64,
		Protocol: header.ProtoICMPv4, Src: peer.As4(), Dst: header.IPv4(pkt).Src().As4()})
	copy(out[20:], m)
	return out
}

// Every NAT64 case of the Jool graybox corpus, in manifest order, on one
// instance whose configuration follows each case.
func TestJoolGrayboxNAT64(t *testing.T) {
	corpus := graybox.Load(t)
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	var x *Translator
	var tally graybox.Tally
	for _, c := range corpus.Cases {
		if c.Mode != "nat64" {
			continue
		}
		tally.Add(t.Run(c.ID, func(t *testing.T) {
			settings, err := corpus.Settings(c)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := nat64Config(settings, c.Environment, clock)
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if x == nil {
				if x, err = New(cfg, Collaborators{}); err != nil {
					t.Fatalf("New: %v", err)
				}
			} else if err := x.Update(cfg); err != nil {
				t.Fatalf("Update: %v", err)
			}
			var emitted [][]byte
			emit := func(p []byte) { emitted = append(emitted, append([]byte(nil), p...)) }
			x.Tick(emit)
			var outs [][]byte
			for _, in := range c.Inputs {
				pkt, err := corpus.Packet(in)
				if err != nil {
					t.Fatal(err)
				}
				outs = append(outs, translateOne(t, x, pkt)...)
			}
			if c.OutputKind == "translated-peer-error" {
				n4, _ := settings["hosts"].(map[string]any)["n4"].(map[string]any)["ipv4"].(string)
				peer := netip.MustParseAddr(n4)
				var back [][]byte
				for _, o := range outs {
					if o[0]>>4 == 4 {
						back = append(back, translateOne(t, x, peerRouterError(peer, o))...)
					}
				}
				outs = back
			}
			if c.Wait > 0 {
				now = now.Add(time.Duration(c.Wait * float64(time.Second)))
				x.Tick(emit)
				outs = append(outs, emitted...)
			}
			// Keep what leaves on the side the case watches.
			wantVersion := byte(4)
			if c.ExpectAt == "ipv6-side" {
				wantVersion = 6
			}
			var seen [][]byte
			for _, o := range outs {
				if o[0]>>4 == wantVersion {
					seen = append(seen, o)
				}
			}
			corpus.Expect(t, c, seen, fmt.Sprintf(" (reasons: %v)", lastReasons(x)))
		}))
	}
	tally.Print("nat64")
	if tally.Passed+tally.Failed == 0 {
		t.Fatal("the manifest has no NAT64 cases")
	}
}

func translateOne(t *testing.T, x *Translator, pkt []byte) [][]byte {
	r, buf := graybox.Translate(x, pkt)
	if r.Verdict == translate.Drop {
		t.Logf("input dropped: %v", r.Reason)
		return nil
	}
	o, err := graybox.Outputs(r, buf)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func lastReasons(x *Translator) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range translate.Reasons() {
		if n := x.Stats().Reason(r); n > 0 {
			m[r.String()] = n
		}
	}
	return m
}
