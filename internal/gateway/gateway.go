package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/netns"
	"github.com/v6xlat/xlat/internal/ticker"
	"github.com/v6xlat/xlat/internal/tunbatch"
	"github.com/v6xlat/xlat/translate"
)

// Gateway is a running gateway: its instances, the TUN device they
// translate on and, with "af-xdp", the AF_XDP datapath beside it. Open
// makes one, Serve runs it, Reload swaps its configuration; everything
// else reads it.
type Gateway struct {
	cur  atomic.Pointer[Setup] // swapped whole by a reload
	mlog *mappingLog
	dev  tun.Device   // queue 0, which the timers' packets go to
	devs []tun.Device // every queue
	log  *slog.Logger
	wmu  sync.Mutex // TUN writes from the datapath and from the timers
	// readers are the queues' readers, for their counters.
	readers []*tunbatch.Reader
	xdp     *xdpDatapath // nil without af-xdp
	routes  *tunRoutes   // nil with manage-routes off
	noRoute *noRoute     // answers what no instance claims
	// queues are the datapath's loops, TUN queues and AF_XDP groups,
	// set by Open, before anything may read them.
	queues []queue
	loops  []*loopwatch.Loop
	// fatal carries what ends the gateway from outside its loops.
	fatal chan error
	// ctx is Serve's, for what a reload starts (sync).
	ctx       atomic.Pointer[context.Context]
	closeOnce sync.Once
}

// Open sets the gateway of s up: the TUN device and its routes, the
// AF_XDP datapath, the mapping log; in the data namespace when s names
// one (what it opens there keeps working there through the descriptors
// it holds, while sync and the callers' sockets stay in the namespace
// the process runs in). What it opened is closed again when it fails.
func Open(s *Setup, log *slog.Logger) (_ *Gateway, err error) {
	c := s.cfg
	g := &Gateway{log: log, fatal: make(chan error, 1)}
	g.cur.Store(s)
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if g.noRoute, err = newNoRoute(c.TUN); err != nil {
		return nil, fmt.Errorf("tun: %w", err)
	}
	var inside error // f's own, not the namespace's
	err = netns.Do(c.DataNetns, func() error {
		inside = g.openDatapath(s)
		return inside
	})
	if err != nil && inside == nil {
		err = fmt.Errorf("data-netns: %w", err)
	}
	if err != nil {
		return nil, err
	}
	g.dev = g.devs[0]
	if c.MappingLog != "" {
		if g.mlog, err = openMappingLog(c.MappingLog); err != nil {
			return nil, fmt.Errorf("mapping-log: %w", err)
		}
	}
	// One goroutine per queue; the kernel spreads flows over the queues.
	for _, d := range g.devs {
		// Bursts, so that Write can coalesce them (see tunbatch).
		rd := tunbatch.NewReader(d, readOffset, readOffset+65535+translate.Headroom)
		g.readers = append(g.readers, rd)
		g.queues = append(g.queues, &tunQueue{dev: d, rd: rd})
	}
	if g.xdp != nil {
		for _, grp := range g.xdp.groups {
			g.queues = append(g.queues, grp)
		}
	}
	for _, q := range g.queues {
		g.loops = append(g.loops, q.loop())
	}
	g.attach(s)
	if x := g.xdp; x != nil {
		log.Info("af-xdp", "interfaces", c.AFXDP.Interfaces, "queues", len(x.groups), "zero-copy", x.groups[0].socks[0].ZeroCopy,
			"generic", x.programs[0].Generic, "vlan-checked", x.programs[0].VLANChecked)
	}
	return g, nil
}

// Serve runs the gateway until ctx ends or a datapath loop fails, whose
// error it returns; it returns once every loop has stopped, and closes
// the gateway. ready, if not nil, is called once every loop runs.
func (g *Gateway) Serve(ctx context.Context, ready func()) error {
	defer g.Close()
	// The first loop to fail stops the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.ctx.Store(&ctx)
	for _, in := range g.cur.Load().insts {
		if err := g.startSync(ctx, in.Instance); err != nil {
			return err
		}
	}
	if g.xdp != nil {
		go g.xdp.follow(ctx, g.log, func(err error) {
			select {
			case g.fatal <- err:
			default:
			}
		})
	}
	go g.timers(ctx)
	go func() {
		<-ctx.Done()
		for _, d := range g.devs {
			d.Close() // wakes the TUN loops
		}
	}()
	errs := make(chan error, len(g.queues))
	for _, q := range g.queues {
		go func(q queue) { errs <- q.serve(ctx, g) }(q)
	}
	if ready != nil {
		ready()
	}
	var first error
	for left := len(g.queues); left > 0; {
		var err error
		select {
		case err = <-errs:
			left--
		case err = <-g.fatal:
		}
		if err != nil && first == nil && ctx.Err() == nil {
			first = err
		}
		cancel()
	}
	return first
}

// Close releases what Open set up: the programs first, so that the kernel
// takes the interfaces' traffic back, then the routes and the device.
// Serve closes the gateway when it returns.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		if g.xdp != nil {
			g.xdp.close()
		}
		if g.routes != nil {
			g.routes.clear()
		}
		for _, d := range g.devs {
			d.Close()
		}
		if g.mlog != nil {
			g.mlog.close()
		}
	})
}

// Current is the configuration in force.
func (g *Gateway) Current() *Setup { return g.cur.Load() }

// DatapathAge is how long the slowest datapath loop has been on its
// current round (0: all wait for packets), for a watchdog.
func (g *Gateway) DatapathAge() time.Duration { return loopwatch.Oldest(g.loops) }

// QueueCount is how many datapath loops the gateway runs: TUN queues and
// AF_XDP queue groups.
func (g *Gateway) QueueCount() int { return len(g.queues) }

// timers advance the NAT64 tables every second and send what they produce
// (the ICMP errors for unanswered unsolicited SYNs), and run the handoff
// clients' retransmissions and reports every 50 ms (the first
// retransmission is due 200 ms after a request).
func (g *Gateway) timers(ctx context.Context) {
	go ticker.Every(ctx, 50*time.Millisecond, func() {
		for _, in := range g.cur.Load().insts {
			if in.handoff != nil {
				in.handoff.Tick()
			}
		}
	})
	ticker.Every(ctx, time.Second, func() {
		for _, in := range g.cur.Load().insts {
			in.x.tick(g.writePacket)
		}
	})
}

// attach points the instances of s at this gateway: their logs, their
// handoff clients' output, their table observers.
func (g *Gateway) attach(s *Setup) {
	var sink handoffSink = g
	for _, in := range s.insts {
		in.log = g.log
		if in.handoff != nil && in.sink.Load() == nil {
			in.sink.Store(&sink)
		}
		g.hooks(in.Instance)
	}
}

// Reload swaps next in: instances that keep their name and type keep
// their tables, so no session is lost. The routes into the TUN device and
// the AF_XDP claims for new prefixes are put in place after every check
// and before the instances change, so that a refusal by the kernel
// refuses the reload with nothing changed; those of prefixes given up go
// after. A refused reload changes nothing and says why.
func (g *Gateway) Reload(next *Setup) error {
	prefixes := claimedPrefixes(next)
	cur := g.cur.Load()
	old := claimedPrefixes(cur)
	next, err := reload(cur, next, func() error {
		// The claims first: they refuse more prefixes than the programs
		// hold before changing anything.
		if g.xdp != nil {
			if err := g.xdp.claims.Set(prefixes); err != nil {
				g.xdp.claims.Set(old)
				return fmt.Errorf("af-xdp: %w", err)
			}
		}
		if g.routes != nil {
			if err := g.routes.set(append(old, prefixes...)); err != nil {
				g.routes.set(old)
				if g.xdp != nil {
					g.xdp.claims.Set(old)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if g.routes != nil {
		if err := g.routes.set(prefixes); err != nil {
			g.log.Warn("reload: removing the routes of prefixes given up", "err", err)
		}
	}
	g.attach(next)
	if ctx := g.ctx.Load(); ctx != nil {
		for _, in := range next.insts {
			if err := g.startSync(*ctx, in.Instance); err != nil {
				g.log.Error("starting sync after reload", "err", err)
			}
		}
	}
	g.cur.Store(next)
	return nil
}

// openDatapath opens the TUN device's queues, routes the claimed prefixes
// into it and attaches the AF_XDP datapath: what lives in the data
// namespace.
func (g *Gateway) openDatapath(s *Setup) error {
	c := s.cfg
	queues := c.TUN.Queues
	if queues == 0 {
		queues = runtime.NumCPU()
	}
	var err error
	if g.devs, err = openQueues(c.TUN.Name, c.TUN.MTU, queues); err != nil {
		return fmt.Errorf("creating TUN %s: %w", c.TUN.Name, err)
	}
	name, _ := g.devs[0].Name()
	if c.ManageRoutes == nil || *c.ManageRoutes {
		if g.routes, err = setupRouting(name, s); err != nil {
			return err
		}
	}
	if c.AFXDP != nil {
		tunLink, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("TUN %s: %w", name, err)
		}
		if g.xdp, err = openXDP(c.AFXDP, claimedPrefixes(s), tunLink.Attrs().Index, c.DataNetns); err != nil {
			return err
		}
	}
	return nil
}
