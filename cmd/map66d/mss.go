package main

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/v6xlat/xlat/header"
)

// ClampMSS is the configuration's "clamp-mss": the MTU TCP SYNs' MSS
// options are clamped to, as "ip6tables -j TCPMSS --clamp-mss-to-pmtu"
// does for MAP66 users behind a small-MTU tunnel, where path MTU
// discovery breaks. A number is the MTU; "interface" is the smallest MTU
// among the rules' interfaces, read at start and on every reload.
// Absent, nothing is clamped.
type ClampMSS struct {
	MTU       int  // when not FromIface
	FromIface bool // "interface"
}

// UnmarshalJSON reads a number (an MTU, 1280 to 65535) or "interface".
func (c *ClampMSS) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "interface" {
			return fmt.Errorf("%q is neither an MTU nor \"interface\"", s)
		}
		*c = ClampMSS{FromIface: true}
		return nil
	}
	var mtu int
	if err := json.Unmarshal(b, &mtu); err != nil {
		return fmt.Errorf("%s is neither an MTU nor \"interface\"", b)
	}
	if mtu < header.IPv6MinMTU || mtu > 65535 {
		return fmt.Errorf("%d is outside 1280..65535 (RFC 8200 §5)", mtu)
	}
	*c = ClampMSS{MTU: mtu}
	return nil
}

// MarshalJSON writes what UnmarshalJSON reads.
func (c ClampMSS) MarshalJSON() ([]byte, error) {
	if c.FromIface {
		return json.Marshal("interface")
	}
	return json.Marshal(c.MTU)
}

// mssLimit is the largest MSS a SYN may carry under cfg: the MTU less the
// IPv6 and TCP headers; 0 when nothing is clamped.
func (m *mapping) mssLimit(cfg Config) (uint16, error) {
	c := cfg.ClampMSS
	if c == nil {
		return 0, nil
	}
	mtu := c.MTU
	if c.FromIface {
		var err error
		if mtu, err = m.ifaceMTU(cfg.Rules); err != nil {
			return 0, fmt.Errorf("clamp-mss: %w", err)
		}
	}
	return uint16(mtu - header.IPv6Size - header.TCPMinSize), nil
}

// interfacesMTU is the smallest MTU among the rules' interfaces.
func interfacesMTU(rules []Rule) (int, error) {
	mtu := 0
	for _, r := range rules {
		ifc, err := net.InterfaceByName(r.Interface)
		if err != nil {
			return 0, fmt.Errorf("interface %q: %w", r.Interface, err)
		}
		if mtu == 0 || ifc.MTU < mtu {
			mtu = ifc.MTU
		}
	}
	if mtu < header.IPv6MinMTU {
		return 0, fmt.Errorf("an interface MTU of %d is below IPv6's 1280", mtu)
	}
	return mtu, nil
}

// clampSYN lowers the MSS of pkt, an IPv6 packet, to limit if it is a
// TCP SYN whose TCP header follows the IPv6 header (a SYN behind
// extension headers is left alone, as it is rare and its MSS still
// works through PMTUD).
func clampSYN(pkt []byte, limit uint16) bool {
	if len(pkt) < header.IPv6Size+header.TCPMinSize || pkt[6] != header.ProtoTCP {
		return false
	}
	tcp := header.TCP(pkt[header.IPv6Size:])
	if tcp.Flags()&header.TCPFlagSYN == 0 {
		return false
	}
	return tcp.ClampMSS(limit)
}
