package translate_test

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/graybox"
	"github.com/v6xlat/xlat/translate"
)

// The Jool graybox SIIT cases the engine can run alone, with pool6 as a
// PrefixPolicy: those whose packets (and the packets their ICMP errors
// quote) use only addresses pool6 translates, none of the EAMT's or RFC
// 6791's, which are siit's (its TestJoolGrayboxSIIT runs them all). The
// engine's own tests then hold its ICMP error translation, fragments and
// MTU handling to Jool's bytes.
func TestJoolGrayboxPool6(t *testing.T) {
	corpus := graybox.Load(t)
	ran := 0
	for _, c := range corpus.Cases {
		if c.Mode != "siit" {
			continue
		}
		settings, err := corpus.Settings(c)
		if err != nil {
			t.Fatal(err)
		}
		pool6, ok := settings["pool6"].(string)
		if !ok {
			continue
		}
		prefix, err := translate.ParsePrefix(pool6)
		if err != nil {
			t.Fatal(err)
		}
		var eam4 []netip.Prefix
		eamt, _ := settings["eamt"].([]any)
		for _, e := range eamt {
			m, _ := e.(map[string]any)
			s, _ := m["ipv4"].(string)
			eam4 = append(eam4, netip.MustParsePrefix(s))
		}
		var inputs [][]byte
		pool6Only := true
		for _, in := range c.Inputs {
			pkt, err := corpus.Packet(in)
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, pkt)
			for _, a := range packetAddrs(pkt) {
				if a.Is6() && !prefix.Contains(a) || a.Is4() && inAny(eam4, a) {
					pool6Only = false
				}
			}
		}
		if !pool6Only {
			continue
		}
		ran++
		t.Run(c.ID, func(t *testing.T) {
			a, err := graybox.Adapt(settings, c.Environment, engineOptions)
			if err != nil {
				t.Fatal(err)
			}
			var cfg translate.Config
			if err := json.Unmarshal(a.JSON, &cfg); err != nil {
				t.Fatal(err)
			}
			a.Apply(&cfg)
			x, err := translate.New(cfg, &translate.PrefixPolicy{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			var outs [][]byte
			for _, pkt := range inputs {
				o, err := graybox.Outputs(graybox.Translate(x, pkt))
				if err != nil {
					t.Fatalf("%s: %v", c.Purpose, err)
				}
				outs = append(outs, o...)
			}
			corpus.Expect(t, c, outs, "")
		})
	}
	if ran < 40 {
		t.Errorf("only %d cases use pool6 alone; the corpus had more", ran)
	}
}

// engineOptions are the Jool options the engine's Config takes.
var engineOptions = map[string]string{
	"lowest-ipv6-mtu": "", "amend-udp-checksum-zero": "", "zeroize-traffic-class": "", "override-tos": "", "tos": "", "mtu-plateaus": "",
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// packetAddrs returns the addresses of an IP packet and, when it is an
// ICMP error, those of the packet it quotes.
func packetAddrs(p []byte) []netip.Addr {
	var out []netip.Addr
	for depth := 0; depth < 2 && len(p) > 0; depth++ {
		var next []byte
		switch p[0] >> 4 {
		case 4:
			ip := header.IPv4(p)
			if len(p) < header.IPv4MinSize || ip.HeaderLen() > len(p) {
				return out
			}
			out = append(out, ip.Src(), ip.Dst())
			if l4 := p[ip.HeaderLen():]; ip.Protocol() == header.ProtoICMPv4 && len(l4) >= 8 && (l4[0] == 3 || l4[0] == 11 || l4[0] == 12) {
				next = l4[8:]
			}
		case 6:
			if len(p) < header.IPv6Size {
				return out
			}
			ip := header.IPv6(p)
			out = append(out, ip.Src(), ip.Dst())
			if l4 := p[header.IPv6Size:]; ip.NextHeader() == header.ProtoICMPv6 && len(l4) >= 8 && l4[0] < 128 {
				next = l4[8:]
			}
		}
		p = next
	}
	return out
}
