package siit

import (
	"net/netip"

	"github.com/v6xlat/xlat/translate"
)

// CLAT returns the configuration of an RFC 6877 customer-side translator:
// the host's IPv4 address (typically from 192.0.0.0/29) maps to one IPv6
// address the CLAT claims, and every other IPv4 address is embedded in the
// provider's NAT64 prefix (the PLAT's). RFC 7757 Appendix A.1 describes the
// EAM entry. Hairpinning is off: a CLAT has one IPv4 host and nothing to
// hairpin, and simple mode's first rule would stop its source from mapping.
func CLAT(host4, clat6 netip.Addr, plat translate.Prefix) Config {
	return Config{
		Pool6:       plat,
		EAMT:        []EAM{{IPv4: netip.PrefixFrom(host4, 32), IPv6: netip.PrefixFrom(clat6, 128)}},
		HairpinMode: HairpinOff,
	}
}
