package graybox

import (
	"encoding/json"

	"github.com/v6xlat/xlat/translate"
)

// Adapted is a case's settings as an operator would write them for an
// xlat translator: the options it takes, as JSON for its ParseConfig, and
// what the corpus says outside the options (the translator's addresses,
// its egress MTUs).
type Adapted struct {
	// JSON holds the options named in Adapt's keep, under xlat's names.
	JSON []byte
	// engine carries Addr4, Addr6, IPv4MTU and IPv6MTU.
	engine translate.Config
}

// Adapt picks from settings the options of keep (Jool's name to xlat's,
// the same when the value is ""), and the translator's addresses and the
// environment's translator_ipv4/ipv6_egress_mtu.
func Adapt(settings map[string]any, env map[string]int, keep map[string]string) (Adapted, error) {
	var a Adapted
	var err error
	if a.engine.Addr4, a.engine.Addr6, err = TranslatorAddresses(settings); err != nil {
		return a, err
	}
	a.engine.IPv6MTU = env["translator_ipv6_egress_mtu"]
	a.engine.IPv4MTU = env["translator_ipv4_egress_mtu"]
	sub := map[string]any{}
	for k, v := range settings {
		if name, ok := keep[k]; ok {
			if name == "" {
				name = k
			}
			sub[name] = v
		}
	}
	a.JSON, err = json.Marshal(sub)
	return a, err
}

// Apply sets the translator's addresses, and the egress MTUs the
// environment gives, in the engine options c.
func (a Adapted) Apply(c *translate.Config) {
	c.Addr4, c.Addr6 = a.engine.Addr4, a.engine.Addr6
	if a.engine.IPv6MTU != 0 {
		c.IPv6MTU = a.engine.IPv6MTU
	}
	if a.engine.IPv4MTU != 0 {
		c.IPv4MTU = a.engine.IPv4MTU
	}
}
