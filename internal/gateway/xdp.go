package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/afxdp"
	"github.com/v6xlat/xlat/internal/fib"
	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/netns"
	"github.com/v6xlat/xlat/translate"
)

// AFXDPConfig puts an AF_XDP datapath beside the TUN device: frames for
// the instances' prefixes are taken from these interfaces' drivers,
// translated in place and sent back out of them, without the kernel's
// routing. The TUN device stays, for what the kernel must do (packets to
// a neighbour it has not resolved, packets too big for the way out,
// packets arriving on other interfaces, the gateway's own).
type AFXDPConfig struct {
	// Interfaces are the network interfaces to attach to, by name: one
	// for both families or one a side.
	Interfaces []string `json:"interfaces"`
	// Frames is how many 4 KiB frames each queue's UMEM has (default
	// 4096, 16 MiB, or two rings' worth per interface where that is
	// more).
	Frames int `json:"frames,omitempty"`
}

// xdpRingSize is the entries of each ring of each socket; frames must be
// enough to fill the fill rings and keep the RX and TX rings busy.
const xdpRingSize = 1024

func (c *AFXDPConfig) check() error {
	if len(c.Interfaces) == 0 {
		return fmt.Errorf("af-xdp.interfaces: none")
	}
	seen := map[string]bool{}
	for i, n := range c.Interfaces {
		if n == "" || seen[n] {
			return fmt.Errorf("af-xdp.interfaces[%d]: %q is empty or named twice", i, n)
		}
		seen[n] = true
	}
	minFrames := 2 * xdpRingSize * len(c.Interfaces)
	if c.Frames == 0 {
		c.Frames = max(4096, minFrames)
	}
	if min := minFrames; c.Frames < min || c.Frames > 1<<20 {
		return fmt.Errorf("af-xdp.frames: %d is outside %d..%d (two rings' worth per interface, at most 4 GiB)", c.Frames, min, 1<<20)
	}
	return umemFits(c.Frames, 1)
}

// umemFits refuses frames per queue whose memory, for queues queues, is
// more than half this machine's: the UMEMs are allocated and locked in
// memory up front.
func umemFits(frames, queues int) error {
	ram := physicalMemory()
	need := uint64(frames) * afxdp.FrameSize * uint64(queues)
	if ram > 0 && need > ram/2 {
		return fmt.Errorf("af-xdp.frames: %d frames of %d octets for each of %d receive queues take %s, more than half of this machine's %s", frames, afxdp.FrameSize, queues, gib(need), gib(ram))
	}
	return nil
}

// xdpDatapath is the AF_XDP side of a running gateway: the programs on
// the interfaces, one group of sockets per receive queue, each group
// sharing one UMEM and served by one goroutine, and the kernel's
// forwarding lookup with the watcher of its changes.
//
// Every decision the fast path makes is the kernel's: the programs take
// a frame only where the kernel would route it into the TUN device (see
// afxdp.Guard), and a translated packet leaves by the next hop the
// kernel's own lookup names for it (internal/fib), or goes to the kernel
// through the TUN device.
type xdpDatapath struct {
	claims   *afxdp.Claims
	programs []*afxdp.Program
	groups   []*xdpGroup
	look     *fib.Lookup
	watch    *fib.Watcher
	via      int    // the TUN device's interface index
	netns    string // where the lookups are asked
	h        *netlink.Handle
	// opaque is the first policy rule the lookups cannot evaluate, ""
	// while there is none; with one, the programs pass every frame.
	opaque atomic.Pointer[string]
}

// openXDP attaches to the configured interfaces, whose traffic for the
// claimed prefixes the kernel routes into the TUN device via, and opens
// their sockets. It runs in the data namespace, netns. What it opened is
// closed again when it fails.
func openXDP(c *AFXDPConfig, claimed []netip.Prefix, via int, netns string) (_ *xdpDatapath, err error) {
	x := &xdpDatapath{via: via, netns: netns}
	defer func() {
		if err != nil {
			x.close()
		}
	}()
	var links []netlink.Link
	queues := 0
	for _, name := range c.Interfaces {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("af-xdp: interface %s: %w", name, err)
		}
		if err := afxdp.CheckFree(l); err != nil {
			return nil, fmt.Errorf("af-xdp: %w", err)
		}
		if l.Attrs().EncapType != "ether" {
			return nil, fmt.Errorf("af-xdp: interface %s is %s, not Ethernet", name, l.Attrs().EncapType)
		}
		if mtu, most := l.Attrs().MTU, afxdp.FrameSize-afxdp.Headroom-header.EthernetSize-translate.Headroom; mtu > most {
			return nil, fmt.Errorf("af-xdp: interface %s has MTU %d; frames of %d octets hold at most %d", name, mtu, afxdp.FrameSize, most)
		}
		n := afxdp.RxQueues(name)
		if queues == 0 || n < queues {
			queues = n
		}
		links = append(links, l)
	}
	if err := umemFits(c.Frames, queues); err != nil {
		return nil, err
	}
	if x.h, err = netlink.NewHandle(); err != nil {
		return nil, fmt.Errorf("af-xdp: netlink: %w", err)
	}
	if x.claims, err = afxdp.NewClaims(); err != nil {
		return nil, fmt.Errorf("af-xdp: %w", err)
	}
	if err := x.claims.Set(claimed); err != nil {
		return nil, fmt.Errorf("af-xdp: %w", err)
	}
	if x.look, err = fib.NewLookup(); err != nil {
		return nil, fmt.Errorf("af-xdp: %w", err)
	}
	if x.watch, err = fib.NewWatcher(); err != nil {
		return nil, fmt.Errorf("af-xdp: %w", err)
	}
	for q := 0; q < queues; q++ {
		u, err := afxdp.NewUMEM(c.Frames, xdpRingSize)
		if err != nil {
			return nil, fmt.Errorf("af-xdp: queue %d: %w", q, err)
		}
		grp := &xdpGroup{queue: q, umem: u, descs: make([]unix.XDPDesc, 64), x: x, routes: fib.NewCache(x.look, x.watch, via)}
		x.groups = append(x.groups, grp)
		for _, l := range links {
			s, err := afxdp.Open(u, l.Attrs().Index, q)
			if err != nil {
				return nil, fmt.Errorf("af-xdp: %s queue %d: %w", l.Attrs().Name, q, err)
			}
			grp.socks = append(grp.socks, s)
		}
	}
	// The programs last: frames are only redirected once every socket
	// can take them.
	opaque, err := fib.OpaqueRule(x.h)
	if err != nil {
		return nil, fmt.Errorf("af-xdp: reading the policy rules: %w", err)
	}
	x.opaque.Store(&opaque)
	for _, l := range links {
		p, err := afxdp.Attach(x.claims, l.Attrs().Index, max(l.Attrs().NumRxQueues, afxdp.RxQueues(l.Attrs().Name)), x.guard(l))
		if err != nil {
			return nil, fmt.Errorf("af-xdp: %w", err)
		}
		x.programs = append(x.programs, p)
		for _, grp := range x.groups {
			for _, s := range grp.socks {
				if s.Ifindex == p.Ifindex {
					if err := p.Register(s); err != nil {
						return nil, fmt.Errorf("af-xdp: %s: %w", l.Attrs().Name, err)
					}
				}
			}
		}
	}
	return x, nil
}

// guard is what the program on l holds frames to.
func (x *xdpDatapath) guard(l netlink.Link) afxdp.Guard {
	g := afxdp.Guard{Via: x.via, Off: *x.opaque.Load() != ""}
	copy(g.MAC[:], l.Attrs().HardwareAddr)
	return g
}

// follow keeps the programs' guards and the lookups' caches in step with
// the kernel until ctx ends: every announcement empties the caches (the
// watcher's generation), a rule change looks at the rules again, and a
// link change at the interfaces' addresses. An interface of the datapath
// that goes away ends the gateway through fail: its sockets are dead, and
// a restart by the service manager attaches to it again once it is back.
func (x *xdpDatapath) follow(ctx context.Context, log *slog.Logger, fail func(error)) {
	// Route and neighbour announcements need nothing here (the watcher's
	// generation has emptied the caches already), so a route storm costs
	// this loop nothing; the others wake it, once for however many.
	wake := make(chan struct{}, 1)
	const looks = fib.RuleChange | fib.LinkChange | fib.AddrChange | fib.Lost
	var lastLook time.Time
	go func() {
		if err := x.watch.Run(ctx, func(c fib.Change) {
			if c&looks == 0 {
				return
			}
			select {
			case wake <- struct{}{}:
			default: // a look is due already
			}
		}); err != nil {
			log.Error("af-xdp: following the kernel's routing changes failed; handing every frame to the kernel", "err", err)
			x.opaque.Store(&followFailed)
			x.setGuards(log)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		// Once every lookInterval at most: a storm of overflows (each
		// a Lost) asks the rules and links once for many.
		if wait := lookInterval - time.Since(lastLook); wait > 0 {
			time.Sleep(wait)
		}
		lastLook = time.Now()
		was := *x.opaque.Load()
		if was == followFailed {
			continue
		}
		opaque, err := fib.OpaqueRule(x.h)
		if err != nil {
			log.Warn("af-xdp: reading the policy rules; handing every frame to the kernel", "err", err)
			opaque = "the rules could not be read"
		}
		if opaque != was {
			if opaque != "" {
				log.Warn("af-xdp: a policy rule selects on what the fast path cannot see; the kernel forwards every frame until it goes", "rule", opaque)
			} else {
				log.Info("af-xdp: the policy rules are all the fast path's to follow again")
			}
		}
		x.opaque.Store(&opaque)
		if err := x.setGuards(log); err != nil {
			fail(err)
			return
		}
	}
}

// lookInterval is the shortest time between two looks at the rules and
// links.
const lookInterval = 100 * time.Millisecond

// followFailed is the opaque rule of a datapath that lost the watcher.
var followFailed = "the watcher of the kernel's announcements failed"

// setGuards gives each program its interface's current address and the
// current rule verdict. It returns an error naming an interface that is
// gone.
func (x *xdpDatapath) setGuards(log *slog.Logger) error {
	for _, p := range x.programs {
		l, err := x.h.LinkByIndex(p.Ifindex)
		var gone netlink.LinkNotFoundError
		if errors.As(err, &gone) {
			return fmt.Errorf("af-xdp: interface %d, %s, is gone", p.Ifindex, p.Name)
		}
		if err != nil {
			log.Warn("af-xdp: reading the interface of a program", "ifindex", p.Ifindex, "err", err)
			continue
		}
		if err := p.SetGuard(x.guard(l)); err != nil {
			log.Warn("af-xdp: updating the program's guard", "ifindex", p.Ifindex, "err", err)
		}
	}
	return nil
}

// close detaches the programs first, so that the kernel takes the
// interfaces' traffic back before the sockets go.
func (x *xdpDatapath) close() {
	for _, p := range x.programs {
		p.Close()
	}
	if x.watch != nil {
		x.watch.Close()
	}
	if x.look != nil {
		x.look.Close()
	}
	if x.h != nil {
		x.h.Close()
	}
	for _, grp := range x.groups {
		for _, s := range grp.socks {
			s.Close()
		}
		grp.umem.Close()
	}
	if x.claims != nil {
		x.claims.Close()
	}
}

// xdpGroup is the sockets of one receive queue number, one an interface,
// sharing a UMEM, so that a frame received on one interface can leave by
// another. One goroutine runs it.
type xdpGroup struct {
	queue int
	umem  *afxdp.UMEM
	socks []*afxdp.Socket
	descs []unix.XDPDesc
	x     *xdpDatapath
	// routes are the kernel's answers for this group's translated
	// packets, as if they arrived from the TUN device.
	routes *fib.Cache
	punt   [][]byte // packets for the kernel, through the TUN device
	pollf  []unix.PollFd
	watch  loopwatch.Loop

	lastWarn time.Time

	// Counters, read by the metrics collector.
	rx, tx, dropped, punted, txFull, sendErrors atomic.Uint64
}

// spinRounds is how many empty rounds a group spins through before it
// sleeps in poll: waking from poll costs more than a burst's worth of
// time at high rates, and a ring left unserved meanwhile overflows.
const spinRounds = 2000

// loop is the group's loop, for the watchdog and health.
func (grp *xdpGroup) loop() *loopwatch.Loop { return &grp.watch }

// serve runs the group until ctx ends: a queue of the AF_XDP datapath.
func (grp *xdpGroup) serve(ctx context.Context, g *Gateway) error {
	// The lookups are the data namespace's: this thread moves there
	// and ends with the goroutine.
	if err := netns.LockIn(grp.x.netns); err != nil {
		return fmt.Errorf("af-xdp: queue %d: %w", grp.queue, err)
	}
	for _, s := range grp.socks {
		grp.pollf = append(grp.pollf, unix.PollFd{Fd: int32(s.FD()), Events: unix.POLLIN})
	}
	idle := 0
	for ctx.Err() == nil {
		grp.watch.Working()
		for _, s := range grp.socks {
			s.Complete()
		}
		for _, s := range grp.socks {
			s.Fill()
			s.WakeRX()
		}
		got := 0
		cur := g.cur.Load()
		grp.routes.Sync()
		for _, s := range grp.socks {
			n := s.Receive(grp.descs)
			for i := 0; i < n; i++ {
				grp.handle(g, cur, grp.descs[i])
			}
			s.Release(n)
			got += n
		}
		for _, s := range grp.socks {
			if err := s.Flush(); err != nil && ctx.Err() == nil {
				grp.sendErrors.Add(1)
				// Once a second at most: a failing interface fails
				// every burst.
				if now := time.Now(); now.Sub(grp.lastWarn) >= time.Second {
					grp.lastWarn = now
					g.log.Warn("af-xdp: sending", "queue", grp.queue, "ifindex", s.Ifindex, "err", err, "failed-sends", grp.sendErrors.Load())
				}
			}
		}
		if len(grp.punt) > 0 {
			g.writePackets(grp.punt)
			grp.punt = grp.punt[:0]
		}
		if got > 0 {
			idle = 0
			continue
		}
		if idle++; idle < spinRounds {
			continue
		}
		idle = 0
		// Nothing for a while: sleep until a frame arrives, waking now
		// and then to reap completions and notice ctx.
		grp.watch.Waiting()
		if _, err := unix.Poll(grp.pollf, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("af-xdp: poll: %w", err)
		}
	}
	return nil
}

// handle translates one received frame in place and sends it on, or
// hands it to the kernel, or drops it; the frame goes back to the UMEM in
// every case but a send, whose completion returns it.
func (grp *xdpGroup) handle(g *Gateway, s *Setup, d unix.XDPDesc) {
	grp.rx.Add(1)
	frame := grp.umem.Frame(d.Addr)
	base := d.Addr &^ (afxdp.FrameSize - 1)
	off := int(d.Addr - base)
	if d.Len <= header.EthernetSize || off+int(d.Len) > len(frame) {
		grp.dropped.Add(1)
		grp.umem.Free(d.Addr)
		return
	}
	r, ok := g.translatePacket(s, frame, off+header.EthernetSize, int(d.Len)-header.EthernetSize)
	if !ok {
		grp.umem.Free(d.Addr)
		return
	}
	switch r.Verdict {
	case translate.Forward, translate.Reply:
		if !grp.send(base, frame, r.Start, r.End) {
			grp.umem.Free(d.Addr)
		}
	case translate.Fragment:
		grp.fragment(frame[r.Start:r.End], r.MTU)
		grp.umem.Free(d.Addr)
	default:
		grp.dropped.Add(1)
		grp.umem.Free(d.Addr)
	}
}

// send puts an Ethernet header in front of the packet frame[start:end]
// and queues it on the socket of the interface the kernel's lookup names
// for it, or hands a copy to the kernel where the kernel would not
// forward it from here (a blackhole, no route, a prohibit route, the
// host's own address, a next hop it has yet to resolve, a packet larger
// than the path MTU, an interface without a socket of this group); it
// reports whether the frame was queued.
func (grp *xdpGroup) send(base uint64, frame []byte, start, end int) bool {
	pkt := frame[start:end]
	var src, dst netip.Addr
	if pkt[0]>>4 == header.IPv4Version {
		ip := header.IPv4(pkt)
		src, dst = ip.Src(), ip.Dst()
	} else {
		ip := header.IPv6(pkt)
		src, dst = ip.Src(), ip.Dst()
	}
	r, ok := grp.routes.Route(src, dst)
	if !ok || r.Verdict != fib.Forward || len(pkt) > r.MTU || start < header.EthernetSize {
		grp.puntCopy(pkt)
		return false
	}
	var s *afxdp.Socket
	for _, c := range grp.socks {
		if c.Ifindex == r.Ifindex {
			s = c
		}
	}
	if s == nil {
		grp.puntCopy(pkt)
		return false
	}
	header.Ethernet(frame[start-header.EthernetSize:]).Encode(r.DstMAC, r.SrcMAC, header.EtherType(pkt[0]>>4))
	if !s.Send(base+uint64(start-header.EthernetSize), end-start+header.EthernetSize) {
		grp.txFull.Add(1)
		return false
	}
	grp.tx.Add(1)
	return true
}

// fragment splits an oversized translated packet into frames of its own
// and sends each.
func (grp *xdpGroup) fragment(p []byte, mtu int) {
	var dst [64][]byte
	var addrs [64]uint64
	n := 0
	for n < len(dst) {
		a, ok := grp.umem.Alloc()
		if !ok {
			break
		}
		addrs[n] = a
		dst[n] = grp.umem.Frame(a)[afxdp.Headroom:]
		n++
	}
	k := translate.Split(dst[:n], p, mtu)
	for i := 0; i < n; i++ {
		if i >= k || !grp.send(addrs[i], grp.umem.Frame(addrs[i]), afxdp.Headroom, afxdp.Headroom+len(dst[i])) {
			grp.umem.Free(addrs[i])
		}
	}
	if k == 0 {
		grp.dropped.Add(1)
	}
}

// puntCopy queues a copy of pkt for the kernel, which routes it as if it
// had come from the TUN device.
func (grp *xdpGroup) puntCopy(pkt []byte) {
	buf := make([]byte, tunOffset+len(pkt))
	copy(buf[tunOffset:], pkt)
	grp.punt = append(grp.punt, buf)
	grp.punted.Add(1)
}
