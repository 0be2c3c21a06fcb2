package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
)

// claimedPrefixes are the destinations the instances translate: their
// pool6, pool4, standby pool4, and EAMT IPv4 prefixes. They are routed
// into the TUN device, and the AF_XDP programs claim them.
func claimedPrefixes(l *Setup) []netip.Prefix {
	var prefixes []netip.Prefix
	for _, in := range l.insts {
		prefixes = append(prefixes, in.x.prefixes()...)
	}
	return prefixes
}

// tunRoutes are the routes into the TUN device for the instances'
// prefixes, kept in step with the configuration across reloads; they
// live in the data namespace.
type tunRoutes struct {
	h    *netlink.Handle
	link netlink.Link
	cur  map[netip.Prefix]*netlink.Route
}

// setupRouting brings the device up, enables forwarding and routes every
// instance's prefixes into it.
func setupRouting(name string, l *Setup) (*tunRoutes, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	link, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		return nil, err
	}
	if err := h.LinkSetUp(link); err != nil {
		h.Close()
		return nil, fmt.Errorf("bringing %s up: %w", name, err)
	}
	r := &tunRoutes{h: h, link: link, cur: map[netip.Prefix]*netlink.Route{}}
	if err := r.set(claimedPrefixes(l)); err != nil {
		r.clear()
		return nil, err
	}
	for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
			r.clear()
			return nil, fmt.Errorf("enabling forwarding: %w", err)
		}
	}
	return r, nil
}

// set makes prefixes the routed ones: new routes first, then the routes
// of prefixes no longer claimed go.
func (r *tunRoutes) set(prefixes []netip.Prefix) error {
	want := map[netip.Prefix]bool{}
	for _, p := range prefixes {
		p = p.Masked()
		want[p] = true
		if r.cur[p] != nil {
			continue
		}
		rt := &netlink.Route{LinkIndex: r.link.Attrs().Index, Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := r.h.RouteReplace(rt); err != nil {
			return fmt.Errorf("route %v dev %s: %w", p, r.link.Attrs().Name, err)
		}
		r.cur[p] = rt
	}
	for p, rt := range r.cur {
		if !want[p] {
			if err := r.h.RouteDel(rt); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("removing route %v dev %s: %w", p, r.link.Attrs().Name, err)
			}
			delete(r.cur, p)
		}
	}
	return nil
}

// clear removes the routes.
func (r *tunRoutes) clear() {
	for _, rt := range r.cur {
		r.h.RouteDel(rt)
	}
	r.cur = nil
	r.h.Close()
}
