package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/sdnotify"
	"github.com/v6xlat/xlat/internal/tunbatch"
	"github.com/v6xlat/xlat/map66"
)

// offset is the headroom wireguard's TUN wants in front of each packet
// (for its virtio header when offloads are on).
const offset = 16

// serve maps packets on the TUN device until ctx ends; each signal on hup
// reloads the configuration (see mapping.reload).
func serve(ctx context.Context, cfg Config, routes bool, log *slog.Logger, hup <-chan os.Signal, load func() (Config, error)) error {
	m := &mapping{cfg: cfg, routes: routes, undo: func() {}, install: installRoutes, localAddrs: interfaceAddrs, ifaceMTU: interfacesMTU}
	live, err := m.prepare(cfg)
	if err != nil {
		return err
	}
	m.live.Store(live)
	dev, err := tun.CreateTUN(cfg.TUN, cfg.MTU)
	if err != nil {
		return fmt.Errorf("creating TUN %s: %w", cfg.TUN, err)
	}
	defer dev.Close()
	name, _ := dev.Name()
	m.dev = name
	if routes {
		undo, err := installRoutes(m.onDevice(cfg))
		if err != nil {
			return err
		}
		m.undo = undo
	}
	// The reloads run here, not in the packet loop; the loop only loads
	// the mapper. Routing is removed once they have stopped.
	ctx, cancel := context.WithCancel(ctx)
	reloads := make(chan struct{})
	defer func() { cancel(); <-reloads; m.undo() }()
	go func() {
		defer close(reloads)
		loopwatch.Reloads(ctx, hup, func() error {
			next, err := load()
			if err == nil {
				err = m.reload(next)
			}
			if err == nil {
				log.Info("reloaded", "rules", len(m.cfg.Rules))
			}
			return err
		}, log)
	}()
	log.Info("mapping", "tun", name, "rules", len(cfg.Rules))
	// Up: the device and its routes; the loop starts below. The watchdog
	// pings while the loop is not stuck in a round (loopwatch).
	sd := sdnotify.FromEnv()
	var watch loopwatch.Loop
	sd.Ready(fmt.Sprintf("mapping: %d rules", len(cfg.Rules)))
	go loopwatch.Watchdog(ctx, sd, watch.Age, log)
	go func() {
		<-ctx.Done()
		sd.Stopping()
		dev.Close()
	}()
	// Bursts, so that Write can coalesce them (see tunbatch).
	rd := tunbatch.NewReader(dev, offset, offset+65535)
	bufs, sizes := rd.Bufs, rd.Sizes
	outBufs := make([][]byte, 0, len(bufs))
	var b burst
	var mapped, passed, dropped uint64
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	mtus := &routeMTUs{lookup: kernelRoutes{h}.mtu, now: time.Now, cache: map[netip.Addr]routeMTU{}}
	err = rd.Serve(ctx, &watch, func(n int) [][]byte {
		b.reset()
		for i := 0; i < n; i++ {
			pkt := bufs[i][offset : offset+sizes[i]]
			if len(pkt) < 40 || pkt[0]>>4 != 6 {
				dropped++
				continue
			}
			b.add(pkt, bufs[i][:offset+sizes[i]])
		}
		outBufs = outBufs[:0]
		live := m.live.Load()
		var byRoute *routeMTUs
		if live.byRoute {
			byRoute = mtus
		}
		for i, why := range b.mapBoth(live.mapper) {
			switch why {
			case map66.ReasonNone:
				mapped++
			case map66.ReasonNotMine, map66.ReasonLocalAddress:
				passed++
			default:
				dropped++
				log.Debug("dropped", "reason", why.String())
				continue
			}
			if live.mss != 0 && why == map66.ReasonNone {
				clampSYN(b.pkts[i], live.mss, byRoute)
			}
			outBufs = append(outBufs, b.bufs[i])
		}
		return outBufs
	}, func(out [][]byte) {
		if _, err := dev.Write(out, offset); err != nil && ctx.Err() == nil {
			log.Warn("writing", "err", err)
		}
	})
	log.Info("stopped", "mapped", mapped, "passed", passed, "dropped", dropped)
	return err
}

// interfaceAddrs lists the IPv6 addresses of the rules' interfaces.
func interfaceAddrs(rules []Rule) []netip.Addr {
	var out []netip.Addr
	for _, r := range rules {
		ifc, err := net.InterfaceByName(r.Interface)
		if err != nil {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && !ip.Is4In6() {
					out = append(out, ip)
				}
			}
		}
	}
	return out
}

// installRoutes sets up the table and policy rules of routeCommands, and
// returns a function that removes them.
func installRoutes(cfg Config) (func(), error) {
	link, err := netlink.LinkByName(cfg.TUN)
	if err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bringing %s up: %w", cfg.TUN, err)
	}
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	_, any6, _ := net.ParseCIDR("::/0")
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: any6, Table: cfg.Table}
	if err := netlink.RouteAdd(route); err != nil {
		return nil, fmt.Errorf("route default dev %s table %d: %w", cfg.TUN, cfg.Table, err)
	}
	undo = append(undo, func() { netlink.RouteDel(route) })
	for i, r := range cfg.Rules {
		p := 1000 + 3*i
		in, ex := ipnet(r.Internal), ipnet(r.External)
		rules := []*netlink.Rule{newRule(p, in, in, "", 254), newRule(p+1, in, nil, "", cfg.Table), newRule(p+2, nil, ex, r.Interface, cfg.Table)}
		for _, nr := range rules {
			if err := netlink.RuleAdd(nr); err != nil {
				cleanup()
				return nil, fmt.Errorf("policy rule %d: %w", nr.Priority, err)
			}
			nr := nr
			undo = append(undo, func() { netlink.RuleDel(nr) })
		}
	}
	return cleanup, nil
}

func newRule(prio int, src, dst *net.IPNet, iif string, table int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V6
	r.Priority = prio
	r.Src, r.Dst = src, dst
	r.IifName = iif
	r.Table = table
	return r
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}
}

// burst is one read's packets on their way through the mapper. One TUN
// carries both directions: a packet is tried outbound (its source
// internal) and, when no rule took it, inbound.
type burst struct {
	pkts, bufs [][]byte // the IPv6 packets, and each with its headroom
	why        []map66.Reason
	in         [][]byte // those left to Inbound
	inAt       []int    // and where each is in pkts
	whyIn      []map66.Reason
}

func (b *burst) reset() { b.pkts, b.bufs = b.pkts[:0], b.bufs[:0] }

func (b *burst) add(pkt, buf []byte) {
	b.pkts, b.bufs = append(b.pkts, pkt), append(b.bufs, buf)
}

// mapBoth maps the burst in place and returns each packet's reason.
func (b *burst) mapBoth(m *map66.Mapper) []map66.Reason {
	b.why = append(b.why[:0], make([]map66.Reason, len(b.pkts))...)
	m.OutboundBatch(b.pkts, b.why)
	b.in, b.inAt = b.in[:0], b.inAt[:0]
	for i, why := range b.why {
		if why == map66.ReasonNotMine {
			b.in, b.inAt = append(b.in, b.pkts[i]), append(b.inAt, i)
		}
	}
	if len(b.in) > 0 {
		b.whyIn = append(b.whyIn[:0], make([]map66.Reason, len(b.in))...)
		m.InboundBatch(b.in, b.whyIn)
		for j, i := range b.inAt {
			b.why[i] = b.whyIn[j]
		}
	}
	return b.why
}
