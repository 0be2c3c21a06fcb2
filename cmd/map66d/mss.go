package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/vishvananda/netlink"
)

// ClampMSS is the configuration's "clamp-mss": the MTU TCP SYNs' MSS
// options are clamped to, as "ip6tables -j TCPMSS --clamp-mss-to-pmtu"
// does for MAP66 users behind a small-MTU tunnel, where path MTU
// discovery breaks. A number is the MTU; "interface" is the smallest MTU
// among the rules' interfaces, read at start and on every reload;
// "route" is, per SYN, the smaller of the MTUs of the routes to its
// destination and back to its source, as the kernel's TCPMSS target
// takes them (the interface MTU when a lookup cannot be made). Absent,
// nothing is clamped.
type ClampMSS struct {
	MTU       int  // when neither of the others
	FromIface bool // "interface"
	FromRoute bool // "route"
}

// UnmarshalJSON reads a number (an MTU, 1280 to 65535), "interface" or
// "route".
func (c *ClampMSS) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "interface":
			*c = ClampMSS{FromIface: true}
		case "route":
			*c = ClampMSS{FromRoute: true}
		default:
			return fmt.Errorf("%q is not an MTU, \"interface\" or \"route\"", s)
		}
		return nil
	}
	var mtu int
	if err := json.Unmarshal(b, &mtu); err != nil {
		return fmt.Errorf("%s is not an MTU, \"interface\" or \"route\"", b)
	}
	if mtu < header.IPv6MinMTU || mtu > 65535 {
		return fmt.Errorf("%d is outside 1280..65535 (RFC 8200 §5)", mtu)
	}
	*c = ClampMSS{MTU: mtu}
	return nil
}

// MarshalJSON writes what UnmarshalJSON reads.
func (c ClampMSS) MarshalJSON() ([]byte, error) {
	switch {
	case c.FromIface:
		return json.Marshal("interface")
	case c.FromRoute:
		return json.Marshal("route")
	}
	return json.Marshal(c.MTU)
}

// mssLimit is the largest MSS a SYN may carry under cfg: the MTU less the
// IPv6 and TCP headers; 0 when nothing is clamped. With "route" it is
// the limit when no route can be looked up: the interfaces'.
func (m *mapping) mssLimit(cfg Config) (uint16, error) {
	c := cfg.ClampMSS
	if c == nil {
		return 0, nil
	}
	mtu := c.MTU
	if c.FromIface || c.FromRoute {
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

// mssFor is the MSS limit for a SYN of src and dst under "route": the
// smaller of the route MTUs known both ways, less the IPv6 and TCP
// headers, at most fallback.
func (r *routeMTUs) mssFor(src, dst netip.Addr, fallback uint16) uint16 {
	mtu := 0
	for _, m := range []int{r.mtu(src), r.mtu(dst)} {
		if m != 0 && (mtu == 0 || m < mtu) { // 0: no route known that way
			mtu = m
		}
	}
	if mtu == 0 {
		return fallback
	}
	return min(fallback, uint16(max(mtu, header.IPv6MinMTU)-header.IPv6Size-header.TCPMinSize))
}

// routeMTUs caches the MTUs of the routes to addresses, for "route":
// a SYN costs two map lookups, and a route lookup only for an address
// not seen for routeMTUTTL. Lookups are limited to routeLookups a
// second, so that a flood of SYNs to new addresses costs the kernel
// little; beyond it a SYN gets the IPv6 minimum MTU, the one limit that
// holds on any route: a flood of random sources must not cost a user
// behind a small-MTU tunnel the clamp, and a smaller MSS than needed
// costs only a little efficiency until the next second. Used by the
// packet loop alone.
type routeMTUs struct {
	lookup func(netip.Addr) (int, error) // the route's MTU, else its device's; 0: none
	now    func() time.Time
	cache  map[netip.Addr]routeMTU
	second time.Time // the second the lookups are counted in
	spent  int
}

type routeMTU struct {
	mtu     int
	expires time.Time
}

const (
	routeMTUTTL     = 10 * time.Second
	routeLookups    = 1000 // per second
	routeMTUEntries = 65536
)

// mtu is the cached or looked-up MTU towards a, 0 when unknown.
func (r *routeMTUs) mtu(a netip.Addr) int {
	now := r.now()
	if e, ok := r.cache[a]; ok && now.Before(e.expires) {
		return e.mtu
	}
	if now.Sub(r.second) >= time.Second {
		r.second, r.spent = now, 0
	}
	if r.spent >= routeLookups {
		return header.IPv6MinMTU
	}
	r.spent++
	mtu, err := r.lookup(a)
	if err != nil {
		mtu = 0
	}
	if len(r.cache) >= routeMTUEntries {
		clear(r.cache) // a burst of new addresses: start afresh rather than scan
	}
	r.cache[a] = routeMTU{mtu, now.Add(routeMTUTTL)}
	return mtu
}

// kernelRoutes asks the kernel for routes over one netlink socket, kept
// for the life of the packet loop: a socket a lookup would cost more
// than the lookup.
type kernelRoutes struct{ h *netlink.Handle }

// mtu asks the kernel for the route to a: its mtu attribute, else its
// device's MTU.
func (k kernelRoutes) mtu(a netip.Addr) (int, error) {
	routes, err := k.h.RouteGet(a.AsSlice())
	if err != nil || len(routes) == 0 {
		return 0, err
	}
	if routes[0].MTU > 0 {
		return routes[0].MTU, nil
	}
	l, err := k.h.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return 0, err
	}
	return l.Attrs().MTU, nil
}

// clampSYN lowers the MSS of pkt, an IPv6 packet, to limit if it is a
// TCP SYN whose TCP header follows the IPv6 header (a SYN behind
// extension headers is left alone, as it is rare and its MSS still
// works through PMTUD).
// With routes, the limit is the routes' (mssFor), at most limit.
func clampSYN(pkt []byte, limit uint16, routes *routeMTUs) bool {
	if len(pkt) < header.IPv6Size+header.TCPMinSize || pkt[6] != header.ProtoTCP {
		return false
	}
	tcp := header.TCP(pkt[header.IPv6Size:])
	if tcp.Flags()&header.TCPFlagSYN == 0 {
		return false
	}
	if routes != nil {
		ip := header.IPv6(pkt)
		limit = routes.mssFor(ip.Src(), ip.Dst(), limit)
	}
	return tcp.ClampMSS(limit)
}
