package siit

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/internal/strictjson"
	"github.com/v6xlat/xlat/translate"
)

// HairpinMode selects RFC 7757 §4.2 hairpinning.
type HairpinMode string

// The hairpinning modes of RFC 7757 §4.2 (Jool's eam-hairpin-mode).
const (
	HairpinOff       HairpinMode = "off"
	HairpinSimple    HairpinMode = "simple"    // §4.2.1
	HairpinIntrinsic HairpinMode = "intrinsic" // §4.2.2, Jool's default
)

// Config is an SIIT instance's configuration. JSON names are Jool's where
// Jool has the option, so a Jool SIIT configuration carries over.
type Config struct {
	// Pool6 is the RFC 6052 prefix for addresses without an EAM. Optional
	// when the EAMT covers all traffic.
	Pool6 translate.Prefix `json:"pool6"`
	// EAMT holds the explicit address mappings (RFC 7757).
	EAMT []EAM `json:"eamt,omitempty"`
	// Denylist4 are IPv4 prefixes that pool6 must never represent (Jool
	// denylist4), in addition to the ranges that are always refused.
	Denylist4 []netip.Prefix `json:"denylist4,omitempty"`
	// RFC6791v4 and RFC6791v6 are the pools that source ICMP errors whose
	// original source has no form in the other family (RFC 6791). Unset,
	// the translator's own address is used. An address is drawn at random
	// from the pool for each error (RFC 6791 §5).
	RFC6791v4 netip.Prefix `json:"rfc6791v4-prefix"`
	RFC6791v6 netip.Prefix `json:"rfc6791v6-prefix"`
	// HairpinMode is "off", "simple" or "intrinsic" (default).
	HairpinMode HairpinMode `json:"eam-hairpin-mode,omitempty"`
	// AllowNonGlobalWKP lets pool6 64:ff9b::/96 carry non-global IPv4
	// addresses, which RFC 6052 §3.1 forbids (Jool does not check).
	AllowNonGlobalWKP bool `json:"wkp-allow-non-global,omitempty"`

	// Translation holds the engine options (lowest-ipv6-mtu, mtu-plateaus,
	// amend-udp-checksum-zero, ...), inline in JSON.
	translate.Config
}

// ParseConfig reads a JSON configuration strictly: an unknown field, or a
// value of the wrong form, is an error that names the field.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	err := strictjson.Decode(data, &c, "siit config")
	return c, err
}

// validate checks the fields translate does not.
func (c *Config) validate() error {
	if !c.Pool6.IsValid() && len(c.EAMT) == 0 {
		return fmt.Errorf("pool6: unset and the eamt is empty, so nothing can be translated")
	}
	for i, p := range c.Denylist4 {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("denylist4[%d]: %v is not an IPv4 prefix", i, p)
		}
	}
	if c.RFC6791v4.IsValid() && !c.RFC6791v4.Addr().Is4() {
		return fmt.Errorf("rfc6791v4-prefix: %v is not an IPv4 prefix", c.RFC6791v4)
	}
	if c.RFC6791v6.IsValid() && (!c.RFC6791v6.Addr().Is6() || c.RFC6791v6.Addr().Is4In6()) {
		return fmt.Errorf("rfc6791v6-prefix: %v is not an IPv6 prefix", c.RFC6791v6)
	}
	switch c.HairpinMode {
	case "":
		c.HairpinMode = HairpinIntrinsic
	case HairpinOff, HairpinSimple, HairpinIntrinsic:
	default:
		return fmt.Errorf("eam-hairpin-mode: %q is not off, simple or intrinsic", c.HairpinMode)
	}
	return nil
}
