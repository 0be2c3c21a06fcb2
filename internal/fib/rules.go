package fib

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// OpaqueRule describes the first policy rule, of either family, that
// selects packets on what a lookup cannot see, or returns "" when there is
// none: a firewall mark (set by netfilter or tc after XDP has run), an IP
// protocol or port range (a cached answer is shared by every flow of an
// address pair), a TOS (likewise), a tunnel ID. Rules by source,
// destination, input interface and VRF are the lookup's own.
func OpaqueRule(h *netlink.Handle) (string, error) {
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := h.RuleList(family)
		if err != nil {
			return "", err
		}
		for _, r := range rules {
			if why := opaque(r); why != "" {
				return fmt.Sprintf("priority %d: %s", r.Priority, why), nil
			}
		}
	}
	return "", nil
}

func opaque(r netlink.Rule) string {
	switch {
	case r.Mark != 0 || (r.Mask != nil && *r.Mask != 0):
		return "fwmark"
	case r.IPProto != 0:
		return "ipproto"
	case r.Sport != nil || r.Dport != nil:
		return "port range"
	case r.Tos != 0:
		return "tos"
	case r.TunID != 0:
		return "tun_id"
	}
	return ""
}
