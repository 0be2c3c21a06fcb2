package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/sdnotify"
	"github.com/v6xlat/xlat/internal/ticker"
	"github.com/v6xlat/xlat/internal/tunbatch"
	"github.com/v6xlat/xlat/translate"
)

// tunOffset is the room wireguard's TUN wants in front of a packet; reads
// leave translate.Headroom more so that 4->6 growth fits in place.
const (
	tunOffset  = 16
	readOffset = tunOffset + translate.Headroom
)

// gateway is a running xlatgw.
type gateway struct {
	cur  atomic.Pointer[loaded] // swapped whole by a reload
	mlog *mappingLog
	dev  tun.Device // queue 0, which the timers' packets go to
	log  *slog.Logger
	wmu  sync.Mutex // TUN writes from the datapath and from the timers
	// readers are the queues' readers, for their counters.
	readers []*tunbatch.Reader
	xdp     *xdpDatapath // nil without af-xdp
	routes  *tunRoutes   // nil with manage-routes off
	noRoute *noRoute     // answers what no instance claims
	// loops are the datapath's loops, TUN queues and AF_XDP groups,
	// set before anything may read them.
	loops []*loopwatch.Loop
}

// datapathAge is how long the slowest datapath loop has been on its
// current round (0: all wait for packets).
func (g *gateway) datapathAge() time.Duration { return loopwatch.Oldest(g.loops) }

func serve(ctx context.Context, l *loaded, path string, log *slog.Logger) error {
	// The first loop to fail stops the others, and serve returns only
	// once every loop has: what they use is closed after.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sd := sdnotify.FromEnv()
	queues := l.cfg.TUN.Queues
	if queues == 0 {
		queues = runtime.NumCPU()
	}
	g := &gateway{log: log}
	g.cur.Store(l)
	var err error
	if g.noRoute, err = newNoRoute(l.cfg.TUN); err != nil {
		return fmt.Errorf("tun: %w", err)
	}
	// The datapath (the TUN device, the AF_XDP interfaces' sockets and
	// programs, the routes into the device and the view of the routing
	// tables) is set up in the data namespace when "data-netns" names
	// one, and keeps working there through the descriptors it holds;
	// the admin socket, metrics and sync below stay here.
	var devs []tun.Device
	fatal := make(chan error, 1) // what ends the gateway from outside its loops
	err = inNetns(l.cfg.DataNetns, func() error {
		var err error
		if devs, err = openQueues(l.cfg.TUN.Name, l.cfg.TUN.MTU, queues); err != nil {
			return fmt.Errorf("creating TUN %s: %w", l.cfg.TUN.Name, err)
		}
		name, _ := devs[0].Name()
		if l.cfg.ManageRoutes == nil || *l.cfg.ManageRoutes {
			if g.routes, err = setupRouting(name, l); err != nil {
				return err
			}
		}
		if l.cfg.AFXDP != nil {
			tunLink, err := netlink.LinkByName(name)
			if err != nil {
				return fmt.Errorf("TUN %s: %w", name, err)
			}
			if g.xdp, err = openXDP(l.cfg.AFXDP, claimedPrefixes(l), tunLink.Attrs().Index, l.cfg.DataNetns); err != nil {
				return err
			}
			go g.xdp.follow(ctx, log, func(err error) {
				select {
				case fatal <- err:
				default:
				}
			})
		}
		return nil
	})
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	if g.routes != nil {
		defer g.routes.clear()
	}
	if g.xdp != nil {
		defer g.xdp.close()
	}
	if err != nil {
		return err
	}
	g.dev = devs[0]
	for _, d := range devs {
		// Bursts, so that Write can coalesce them (see tunbatch).
		g.readers = append(g.readers, tunbatch.NewReader(d, readOffset, readOffset+65535+translate.Headroom))
	}
	if l.cfg.MappingLog != "" {
		if g.mlog, err = openMappingLog(l.cfg.MappingLog); err != nil {
			return fmt.Errorf("mapping-log: %w", err)
		}
		defer g.mlog.close()
	}
	// One goroutine per queue; the kernel spreads flows over the queues.
	var running []queue
	for i, d := range devs {
		running = append(running, &tunQueue{dev: d, rd: g.readers[i]})
	}
	if g.xdp != nil {
		for _, grp := range g.xdp.groups {
			running = append(running, grp)
		}
	}
	for _, q := range running {
		g.loops = append(g.loops, q.loop())
	}
	g.attach(l)
	for _, in := range l.insts {
		if err := g.startSync(ctx, in.instance); err != nil {
			return err
		}
	}
	if l.cfg.Metrics != "" {
		ml, err := serveMetrics(g, l.cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer ml.Close()
	}
	if l.cfg.Admin != "" {
		al, err := serveAdmin(g, l.cfg.Admin)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer al.Close()
	}
	log.Info("translating", "tun", l.cfg.TUN.Name, "instances", len(l.insts), "metrics", l.cfg.Metrics, "admin", l.cfg.Admin)
	if g.xdp != nil {
		log.Info("af-xdp", "interfaces", l.cfg.AFXDP.Interfaces, "queues", len(g.xdp.groups), "zero-copy", g.xdp.groups[0].socks[0].ZeroCopy, "generic", g.xdp.programs[0].Generic, "vlan-checked", g.xdp.programs[0].VLANChecked)
	}
	go g.timers(ctx)
	go g.reloads(ctx, path)
	go func() {
		<-ctx.Done()
		sd.Stopping()
		for _, d := range devs {
			d.Close()
		}
	}()
	errs := make(chan error, len(running))
	for _, q := range running {
		go func(q queue) { errs <- q.serve(ctx, g) }(q)
	}
	// Up: the device, its routes, the programs and every loop.
	if err := sd.Ready(fmt.Sprintf("translating: %d instances, %d queues", len(l.insts), len(running))); err != nil {
		log.Warn("telling systemd we are ready", "err", err)
	}
	go loopwatch.Watchdog(ctx, sd, g.datapathAge, g.log)
	var first error
	for left := len(running); left > 0; {
		var err error
		select {
		case err = <-errs:
			left--
		case err = <-fatal:
		}
		if err != nil && first == nil && ctx.Err() == nil {
			first = err
		}
		cancel()
	}
	return first
}

// timers advance the NAT64 tables every second and send what they produce
// (the ICMP errors for unanswered unsolicited SYNs), and run the handoff
// clients' retransmissions and reports every 50 ms (the first
// retransmission is due 200 ms after a request).
func (g *gateway) timers(ctx context.Context) {
	go ticker.Every(ctx, 50*time.Millisecond, func() {
		for _, in := range g.cur.Load().insts {
			if in.handoff != nil {
				in.handoff.Tick()
			}
		}
	})
	ticker.Every(ctx, time.Second, func() {
		for _, in := range g.cur.Load().insts {
			if in.nat64 != nil {
				in.nat64.Tick(g.writePacket)
			}
		}
	})
}

// attach points the instances' handoff clients at this gateway.
func (g *gateway) attach(l *loaded) {
	var s handoffSink = g
	for _, in := range l.insts {
		in.log = g.log
		if in.handoff != nil && in.sink.Load() == nil {
			in.sink.Store(&s)
		}
		g.hooks(in.instance)
	}
}

// reloads re-reads the configuration on SIGHUP and swaps it in: instances
// keep their tables, so no session is lost. A bad file is logged and the
// old configuration stays, whole.
func (g *gateway) reloads(ctx context.Context, path string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if err := g.reload(ctx, path); err != nil {
			g.log.Error("reload refused; the running configuration stays", "err", err)
		}
	}
}

// reload reads the configuration at path and swaps it in. The routes
// into the TUN device and the AF_XDP claims for new prefixes are put in
// place after every check and before the instances change, so that a
// refusal by the kernel refuses the reload with nothing changed; those of
// prefixes given up go after.
func (g *gateway) reload(ctx context.Context, path string) error {
	next, err := loadConfig(path)
	if err != nil {
		return err
	}
	prefixes := claimedPrefixes(next)
	cur := g.cur.Load()
	old := claimedPrefixes(cur)
	next, err = reload(cur, next, func() error {
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
	for _, in := range next.insts {
		if err := g.startSync(ctx, in.instance); err != nil {
			g.log.Error("starting sync after reload", "err", err)
		}
	}
	g.cur.Store(next)
	g.log.Info("reloaded", "instances", len(next.insts), "rules", len(next.cfg.Rules))
	return nil
}

// A queue is one receive queue of a datapath, served by a goroutine of
// its own: it reads a burst, has the gateway translate each packet in
// place (translatePacket), and writes what comes out. The instances do not
// know which datapath a packet came from: a TUN queue and an AF_XDP queue
// group (xdp.go) are both queues.
//
// A queue's loop says when it works and when it waits (loopwatch), so that
// the watchdog and "xlatgw health" tell a stalled datapath from an idle one.
type queue interface {
	serve(ctx context.Context, g *gateway) error
	loop() *loopwatch.Loop
}

// tunQueue is one queue of the TUN device.
type tunQueue struct {
	dev   tun.Device
	rd    *tunbatch.Reader
	watch loopwatch.Loop
}

func (q *tunQueue) loop() *loopwatch.Loop { return &q.watch }

// serve reads batches from the TUN queue, translates each packet in place
// and writes the batch back.
func (q *tunQueue) serve(ctx context.Context, g *gateway) error {
	dev, rd := q.dev, q.rd
	bufs, sizes := rd.Bufs, rd.Sizes
	out := make([][]byte, 0, 2*len(bufs))
	var rs results
	for {
		q.watch.Waiting()
		n, err := rd.Read()
		q.watch.Working()
		if err != nil {
			if errors.Is(err, tun.ErrTooManySegments) {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrClosed) {
				// Not closed by us: the device was deleted under us
				// (EBADFD). A gateway without it is no gateway; the
				// service manager restarts it.
				name, _ := dev.Name()
				return fmt.Errorf("the TUN device %s is gone (deleted under the gateway)", name)
			}
			return fmt.Errorf("reading the TUN device: %w", err)
		}
		out = g.translateBurst(bufs[:n], sizes, out[:0], &rs)
		if len(out) == 0 {
			continue
		}
		if dev == g.dev {
			g.wmu.Lock() // the timers write to queue 0 too
		}
		_, err = dev.Write(out, tunOffset)
		if dev == g.dev {
			g.wmu.Unlock()
		}
		if err != nil && ctx.Err() == nil {
			g.log.Warn("writing to the TUN device", "err", err)
		}
	}
}

// translateBurst translates the packets bufs[i][readOffset:][:sizes[i]]
// in place, each by the instance that claims it, and appends what is to be
// written to out; control datagrams for the handoff clients are taken
// aside. Nothing is allocated per packet (TestBurstAllocs).
func (g *gateway) translateBurst(bufs [][]byte, sizes []int, out [][]byte, rs *results) [][]byte {
	rs.used = 0
	insts := g.cur.Load().insts
	for i, buf := range bufs {
		if r, ok := g.translatePacket(insts, buf, readOffset, sizes[i]); ok {
			out = rs.add(out, buf, r)
		}
	}
	return out
}

// translatePacket is what every datapath does with a packet it read,
// buf[off:off+n]: a handoff server's control datagram goes to its client
// (ok false: nothing to send), anything else to the instance that claims
// it, which translates it in place; a packet no instance claims is
// answered as a router without a route answers it (noRoute).
func (g *gateway) translatePacket(insts []*member, buf []byte, off, n int) (r translate.Result, ok bool) {
	if g.control(insts, buf[off:off+n]) {
		return r, false
	}
	if in := pick(insts, buf[off:off+n]); in != nil {
		return in.translate(buf, off, n), true
	}
	if g.noRoute != nil {
		return g.noRoute.answer(buf, off, n), true
	}
	return r, true
}

// results turns translation results into packets to write, each with
// tunOffset bytes of room in front for the TUN's virtio header; fragments
// go into buffers of its own, reused batch after batch.
type results struct {
	frags [][]byte
	used  int
}

func (rs *results) add(out [][]byte, buf []byte, r translate.Result) [][]byte {
	switch r.Verdict {
	case translate.Forward, translate.Reply:
		if r.Start < tunOffset {
			return out // cannot happen with readOffset's headroom
		}
		return append(out, buf[r.Start-tunOffset:r.End])
	case translate.Fragment:
		if rs.frags == nil {
			rs.frags = make([][]byte, 64)
			for i := range rs.frags {
				rs.frags[i] = make([]byte, tunOffset+65535)
			}
		}
		p := buf[r.Start:r.End]
		dst := make([][]byte, len(rs.frags)-rs.used)
		for j := range dst {
			dst[j] = rs.frags[rs.used+j][tunOffset:]
		}
		k := translate.Split(dst, p, r.MTU)
		for j := 0; j < k; j++ {
			out = append(out, rs.frags[rs.used+j][:tunOffset+len(dst[j])])
		}
		rs.used += k
	}
	return out
}

// control hands a handoff server's datagram to its client.
func (g *gateway) control(insts []*member, pkt []byte) bool {
	if len(pkt) < header.IPv4MinSize+header.UDPSize || pkt[0]>>4 != header.IPv4Version || header.IPv4(pkt).Protocol() != header.ProtoUDP {
		return false
	}
	for _, in := range insts {
		if in.handoff != nil && in.handoff.Receive(pkt) {
			return true
		}
	}
	return false
}

// claimedPrefixes are the destinations the instances translate: their
// pool6, pool4, standby pool4, and EAMT IPv4 prefixes. They are routed
// into the TUN device, and the AF_XDP programs claim them.
func claimedPrefixes(l *loaded) []netip.Prefix {
	var prefixes []netip.Prefix
	for _, in := range l.insts {
		if in.nat64 != nil {
			prefixes = append(prefixes, in.nat64.Pool6().Prefix())
			for _, p := range in.nat64.Pool4() {
				prefixes = append(prefixes, p.Prefix.Masked())
			}
			for _, p := range in.nat64.StandbyPool4() {
				prefixes = append(prefixes, p.Masked())
			}
			continue
		}
		c := in.siit.Config()
		if c.Pool6.IsValid() {
			prefixes = append(prefixes, c.Pool6.Prefix())
		}
		for _, e := range c.EAMT {
			prefixes = append(prefixes, e.IPv4)
		}
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
func setupRouting(name string, l *loaded) (*tunRoutes, error) {
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
