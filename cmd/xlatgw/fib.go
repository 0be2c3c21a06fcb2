package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fib is what the AF_XDP datapath needs of the kernel's routing and
// neighbour tables to send a translated packet itself: the route to its
// destination, the next hop's link-layer address and the outgoing
// interface's address and MTU. It is a snapshot, rebuilt whenever the
// kernel announces a change, so that the operator configures routes and
// addresses the usual way and the gateway reads them; the datapath loads
// the current snapshot once a burst.
type fib struct {
	routes []fibRoute // longest prefix first
	neigh  map[neighKey][6]byte
	links  map[int]fibLink
	local  map[netip.Addr]bool // the gateway's own addresses
}

type fibRoute struct {
	dst     netip.Prefix
	ifindex int
	gw      netip.Addr // invalid: on link
}

type neighKey struct {
	ifindex int
	addr    netip.Addr
}

type fibLink struct {
	mac [6]byte
	mtu int
}

// nextHop is where a packet to dst goes: out of interface ifindex, to the
// link-layer address dmac from smac. ok is false when the fast path cannot
// send it itself: no route, a route out of an interface without a
// link-layer address (the TUN device), a destination of the gateway's own,
// or a next hop whose address the kernel has not resolved. Those packets
// go to the kernel, which does what it always does (resolving the
// neighbour, answering with ICMP).
func (f *fib) nextHop(dst netip.Addr) (ifindex int, dmac, smac [6]byte, mtu int, ok bool) {
	if f == nil || f.local[dst] {
		return 0, dmac, smac, 0, false
	}
	for i := range f.routes {
		r := &f.routes[i]
		if !r.dst.Contains(dst) {
			continue
		}
		l, ok := f.links[r.ifindex]
		if !ok {
			return 0, dmac, smac, 0, false
		}
		hop := dst
		if r.gw.IsValid() {
			hop = r.gw
		}
		d, ok := f.neigh[neighKey{r.ifindex, hop}]
		return r.ifindex, d, l.mac, l.mtu, ok
	}
	return 0, dmac, smac, 0, false
}

// usableNeigh are the neighbour states whose address can be used
// (include/uapi/linux/neighbour.h): resolved, or being reconfirmed.
const usableNeigh = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT

// loadFIB reads the main routing table, the neighbours and the links of
// both families.
func loadFIB(h *netlink.Handle) (*fib, error) {
	f := &fib{neigh: map[neighKey][6]byte{}, links: map[int]fibLink{}, local: map[netip.Addr]bool{}}
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		a := l.Attrs()
		if len(a.HardwareAddr) == 6 && a.Flags&net.FlagUp != 0 { // up, with an Ethernet address
			var mac [6]byte
			copy(mac[:], a.HardwareAddr)
			f.links[a.Index] = fibLink{mac: mac, mtu: a.MTU}
		}
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, err
		}
		for _, r := range routes {
			if r.Type != unix.RTN_UNICAST || len(r.MultiPath) > 0 {
				continue // blackholes, unreachables, multipath: the kernel's
			}
			fr := fibRoute{ifindex: r.LinkIndex}
			if r.Dst != nil {
				a, _ := netip.AddrFromSlice(r.Dst.IP)
				ones, _ := r.Dst.Mask.Size()
				fr.dst = netip.PrefixFrom(a.Unmap(), ones)
			} else if family == netlink.FAMILY_V4 {
				fr.dst = netip.MustParsePrefix("0.0.0.0/0")
			} else {
				fr.dst = netip.MustParsePrefix("::/0")
			}
			if r.Gw != nil {
				fr.gw, _ = netip.AddrFromSlice(r.Gw)
				fr.gw = fr.gw.Unmap()
			}
			f.routes = append(f.routes, fr)
		}
		neighs, err := h.NeighList(0, family)
		if err != nil {
			return nil, err
		}
		for _, n := range neighs {
			if n.State&usableNeigh == 0 || len(n.HardwareAddr) != 6 {
				continue
			}
			a, _ := netip.AddrFromSlice(n.IP)
			var mac [6]byte
			copy(mac[:], n.HardwareAddr)
			f.neigh[neighKey{n.LinkIndex, a.Unmap()}] = mac
		}
		addrs, err := h.AddrList(nil, family)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			f.local[ip.Unmap()] = true
		}
	}
	sort.SliceStable(f.routes, func(i, j int) bool { return f.routes[i].dst.Bits() > f.routes[j].dst.Bits() })
	return f, nil
}

// watchFIB keeps cur up to date: it subscribes to the kernel's route,
// neighbour, address and link announcements and rebuilds the snapshot
// after each (at most every 20 ms), and every two seconds besides, in
// case an announcement was lost to a full socket buffer.
func watchFIB(ctx context.Context, cur *atomic.Pointer[fib], log *slog.Logger) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	f, err := loadFIB(h)
	if err != nil {
		h.Close()
		return err
	}
	cur.Store(f)
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	done := ctx.Done()
	routes, neighs, addrs, links := make(chan netlink.RouteUpdate, 64), make(chan netlink.NeighUpdate, 64), make(chan netlink.AddrUpdate, 64), make(chan netlink.LinkUpdate, 64)
	subscribed := netlink.RouteSubscribe(routes, done) == nil &&
		netlink.NeighSubscribe(neighs, done) == nil &&
		netlink.AddrSubscribe(addrs, done) == nil &&
		netlink.LinkSubscribe(links, done) == nil
	if !subscribed {
		log.Warn("af-xdp: cannot follow the kernel's routing announcements; rereading the tables every 2 s")
	}
	go func() {
		for {
			select {
			case <-done:
				return
			case <-routes:
			case <-neighs:
			case <-addrs:
			case <-links:
			}
			poke()
		}
	}()
	go func() {
		defer h.Close()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-changed:
				time.Sleep(20 * time.Millisecond) // let a burst of changes settle
			case <-t.C:
			}
			if f, err := loadFIB(h); err == nil {
				cur.Store(f)
			} else {
				log.Warn("af-xdp: reading the routing tables", "err", err)
			}
		}
	}()
	return nil
}
