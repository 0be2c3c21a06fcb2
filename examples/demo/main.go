// Command demo shows xlat at work in a small world it builds and removes
// itself: an IPv6-only client, a NAT64 gateway, and an IPv4-only web
// server, each in its own network namespace, linked by veth pairs and
// numbered from the documentation ranges.
//
//	sudo go run ./examples/demo
//
//	client 2001:db8:1::10 ── 2001:db8:1::1  gateway  192.0.2.1 ── 192.0.2.80 server
//	                                    (nat64: 64:ff9b::/96, pool4 203.0.113.1)
//
// The gateway is this process: a TUN device in the gateway's namespace
// and a loop that runs every packet through the nat64 package. The client
// fetches the server's page at http://[64:ff9b::192.0.2.80]/ and pings
// it; the transcript shows each packet as it crossed the translator, then
// the counters. Everything it made is removed on exit, on Ctrl-C and on
// failure. It needs root (network namespaces, a TUN device); without root
// it says so and exits with status 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

const page = "<h1>Hello from an IPv4-only server</h1>\n"

func main() {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root to create network namespaces and a TUN device (and ip(8) from iproute2); run: sudo go run ./examples/demo")
		os.Exit(2)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		fmt.Fprintln(os.Stderr, "demo: needs ip(8) from iproute2 (apt-get install iproute2)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// world is the three namespaces, named uniquely so that two demos (or a
// test beside a demo) do not collide.
type world struct {
	client, gw, server string
	out                io.Writer
}

func (w *world) ip(args ...string) error {
	fmt.Fprintf(w.out, "  $ ip %s\n", strings.Join(args, " "))
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// build makes the namespaces, links and addresses; remove undoes it.
func (w *world) build() error {
	steps := [][]string{
		{"netns", "add", w.client}, {"netns", "add", w.gw}, {"netns", "add", w.server},
		{"link", "add", "c0", "netns", w.client, "type", "veth", "peer", "name", "g0", "netns", w.gw},
		{"link", "add", "g1", "netns", w.gw, "type", "veth", "peer", "name", "s0", "netns", w.server},
		{"-n", w.client, "addr", "add", "2001:db8:1::10/64", "dev", "c0", "nodad"},
		{"-n", w.client, "link", "set", "c0", "up"},
		{"-n", w.client, "-6", "route", "add", "default", "via", "2001:db8:1::1"},
		{"-n", w.gw, "addr", "add", "2001:db8:1::1/64", "dev", "g0", "nodad"},
		{"-n", w.gw, "addr", "add", "192.0.2.1/24", "dev", "g1"},
		{"-n", w.gw, "link", "set", "g0", "up"},
		{"-n", w.gw, "link", "set", "g1", "up"},
		{"-n", w.server, "addr", "add", "192.0.2.80/24", "dev", "s0"},
		{"-n", w.server, "link", "set", "s0", "up"},
		{"-n", w.server, "link", "set", "lo", "up"},
		{"-n", w.server, "route", "add", "203.0.113.0/24", "via", "192.0.2.1"},
	}
	for _, s := range steps {
		if err := w.ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) remove() {
	for _, ns := range []string{w.client, w.gw, w.server} {
		exec.Command("ip", "netns", "del", ns).Run() // its veths go with it
	}
}

// inNS runs fn with the calling goroutine's thread in namespace ns:
// sockets and devices fn creates belong to it.
func inNS(ns string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return err // the thread stays locked and dies with its goroutine
	}
	runtime.UnlockOSThread()
	return ferr
}

func run(ctx context.Context, w0 io.Writer) error {
	// The gateway's goroutine prints too: one lock for every line.
	out := &lockedWriter{w: w0}
	id := fmt.Sprint(os.Getpid())
	w := &world{client: "xlat-demo-client-" + id, gw: "xlat-demo-gw-" + id, server: "xlat-demo-server-" + id, out: out}
	fmt.Fprintln(out, "== building the world: three namespaces, two links")
	defer func() {
		w.remove()
		fmt.Fprintln(out, "== removed the namespaces")
	}()
	if err := w.build(); err != nil {
		return err
	}

	fmt.Fprintln(out, "== the gateway: a TUN device in "+w.gw+", every packet through the nat64 package")
	pool, addr := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("192.0.2.1")
	x, err := nat64.New(nat64.Config{
		Pool6:             translate.WellKnownPrefix,
		AllowNonGlobalWKP: true, // 192.0.2.80 is a documentation address
		Pool4: []nat64.Pool4Entry{
			{Protocol: nat64.TCP, Prefix: netip.PrefixFrom(pool, 32)},
			{Protocol: nat64.UDP, Prefix: netip.PrefixFrom(pool, 32)},
			{Protocol: nat64.ICMP, Prefix: netip.PrefixFrom(pool, 32)},
		},
		Config: translate.Config{Addr4: addr, Addr6: netip.MustParseAddr("2001:db8:1::1")},
	}, nat64.Collaborators{})
	if err != nil {
		return err
	}
	var tun *os.File
	if err := inNS(w.gw, func() (err error) { tun, err = openTUN("nat64"); return err }); err != nil {
		return fmt.Errorf("TUN: %w", err)
	}
	defer tun.Close()
	for _, s := range [][]string{
		// No link-local address: the TUN carries only what is routed into
		// it, not the kernel's own neighbour discovery.
		{"-n", w.gw, "link", "set", "nat64", "addrgenmode", "none"},
		{"-n", w.gw, "link", "set", "nat64", "up"},
		{"-n", w.gw, "-6", "route", "add", "64:ff9b::/96", "dev", "nat64"},
		{"-n", w.gw, "route", "add", "203.0.113.1/32", "dev", "nat64"},
	} {
		if err := w.ip(s...); err != nil {
			return err
		}
	}
	// The gateway namespace forwards (what sysctl would do there).
	fmt.Fprintln(out, "  # net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 in "+w.gw)
	if err := inNS(w.gw, func() error {
		for _, f := range []string{"/proc/sys/net/ipv6/conf/all/forwarding", "/proc/sys/net/ipv4/ip_forward"} {
			if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("forwarding: %w", err)
	}
	log := &transcript{out: out, max: 12}
	go gateway(x, tun, log)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	go func() {
		for range tick.C {
			x.Tick(func(p []byte) { tun.Write(p) })
		}
	}()

	fmt.Fprintln(out, "== the server: HTTP on 192.0.2.80:80 in "+w.server)
	var ln net.Listener
	if err := inNS(w.server, func() (err error) { ln, err = net.Listen("tcp4", "192.0.2.80:80"); return err }); err != nil {
		return err
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(log, "   server: %s %s from %s (the NAT64's pool4 address)\n", r.Method, r.URL, r.RemoteAddr)
		io.WriteString(rw, page)
	}))

	fmt.Fprintln(out, "== the client ("+w.client+", IPv6 only): GET http://[64:ff9b::192.0.2.80]/")
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (c net.Conn, err error) {
			err = inNS(w.client, func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		}}}
	if err := wait(ctx, 500*time.Millisecond); err != nil { // let the links come up
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://[64:ff9b::192.0.2.80]/", nil)
	resp, err := cl.Do(req) // Ctrl-C ends it, and the deferred cleanup runs
	if err != nil {
		return fmt.Errorf("fetching the page: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cl.CloseIdleConnections() // FIN both ways, translated too
	if err := wait(ctx, 200*time.Millisecond); err != nil {
		return err
	}
	log.flush()
	fmt.Fprintf(out, "   client: %s, %q\n", resp.Status, body)
	if string(body) != page {
		return errors.New("the page came back different")
	}

	fmt.Fprintln(out, "== the client pings 64:ff9b::192.0.2.80")
	log.reset(6)
	if err := ping(ctx, w.client, netip.MustParseAddr("64:ff9b::c000:250"), 3, out); err != nil {
		return err
	}
	log.flush()

	st := x.Stats()
	fmt.Fprintln(out, "== counters")
	fmt.Fprintf(out, "   sessions: %d, bindings: %d\n", x.Sessions(), x.Bindings())
	for _, r := range translate.Reasons() {
		if n := st.Reason(r); n > 0 {
			fmt.Fprintf(out, "   %s: %d\n", r, n)
		}
	}
	fmt.Fprintf(out, "   translated: %d IPv6->IPv4, %d IPv4->IPv6\n", log.to4, log.to6)
	return nil
}

func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// openTUN creates a plain TUN device (no packet information header).
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}

// gateway is the whole translator: read a packet, translate it in place
// (with room in front for IPv4 -> IPv6 growth), write the result.
func gateway(x *nat64.Translator, tun *os.File, log *transcript) {
	buf := make([]byte, translate.Headroom+65536)
	frags := make([][]byte, 64)
	for i := range frags {
		frags[i] = make([]byte, 1500)
	}
	for {
		n, err := tun.Read(buf[translate.Headroom:])
		if err != nil {
			return
		}
		in := append([]byte(nil), buf[translate.Headroom:translate.Headroom+n]...)
		if in[0]>>4 == 6 && n >= header.IPv6Size && header.IPv6(in).Dst().IsMulticast() {
			continue // the kernel's own MLD reports on the TUN: not for translation
		}
		r := x.Translate(buf, translate.Headroom, n)
		log.packet(in, r, buf)
		switch r.Verdict {
		case translate.Forward, translate.Reply:
			tun.Write(r.Packet(buf))
		case translate.Fragment:
			p := r.Packet(buf)
			for _, f := range frags[:translate.Split(frags, p, r.MTU)] {
				tun.Write(f)
			}
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// transcript prints the first packets of each step, one line each:
// before and after translation.
type transcript struct {
	mu       sync.Mutex
	out      io.Writer
	max, n   int
	skipped  int
	to4, to6 int
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.Write(p)
}

func (t *transcript) packet(in []byte, r translate.Result, buf []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.Verdict != translate.Drop {
		if in[0]>>4 == 6 {
			t.to4++
		} else {
			t.to6++
		}
	}
	if t.n >= t.max {
		t.skipped++
		return
	}
	t.n++
	what := "dropped (" + r.Reason.String() + ")"
	if r.Verdict != translate.Drop {
		what = describe(r.Packet(buf))
	}
	fmt.Fprintf(t.out, "   %-62s => %s\n", describe(in), what)
}

func (t *transcript) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.skipped > 0 {
		fmt.Fprintf(t.out, "   ... and %d packets more\n", t.skipped)
		t.skipped = 0
	}
}

func (t *transcript) reset(max int) {
	t.mu.Lock()
	t.n, t.max = 0, max
	t.mu.Unlock()
}

// describe is a one-line summary of an IPv6 or IPv4 packet.
func describe(p []byte) string {
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	if p[0]>>4 == 6 {
		h := header.IPv6(p)
		src, dst = h.Src(), h.Dst()
		off, nh, ok := h.UpperLayer()
		if ok {
			proto, l4 = nh, p[off:]
		}
	} else {
		h := header.IPv4(p)
		src, dst, proto, l4 = h.Src(), h.Dst(), h.Protocol(), p[h.HeaderLen():]
	}
	switch {
	case (proto == header.ProtoTCP) && len(l4) >= 14:
		flags := ""
		for i, f := range []string{"FIN", "SYN", "RST", "PSH", "ACK"} {
			if l4[13]&(1<<i) != 0 {
				flags += f + ","
			}
		}
		return fmt.Sprintf("TCP %v -> %v %s", netip.AddrPortFrom(src, header.UDP(l4).SrcPort()), netip.AddrPortFrom(dst, header.UDP(l4).DstPort()), strings.TrimSuffix(flags, ","))
	case (proto == header.ProtoICMPv6 || proto == header.ProtoICMPv4) && len(l4) >= 8:
		kind := map[uint8]string{128: "echo request", 129: "echo reply", 8: "echo request", 0: "echo reply"}[l4[0]]
		if kind == "" {
			kind = fmt.Sprintf("type %d", l4[0])
		}
		name := "ICMPv6"
		if proto == header.ProtoICMPv4 {
			name = "ICMP"
		}
		return fmt.Sprintf("%s %s %v -> %v id %d", name, kind, src, dst, uint16(l4[4])<<8|uint16(l4[5]))
	}
	return fmt.Sprintf("proto %d %v -> %v", proto, src, dst)
}

// ping sends count ICMPv6 echo requests from the client's namespace.
func ping(ctx context.Context, ns string, dst netip.Addr, count int, out io.Writer) error {
	var c *icmp.PacketConn
	if err := inNS(ns, func() (err error) { c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); return err }); err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for seq := 1; seq <= count; seq++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: 0x4242, Seq: seq, Data: []byte("xlat demo")}}
		b, _ := m.Marshal(nil)
		start := time.Now()
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("ping %v: %w", dst, err)
			}
			r, err := icmp.ParseMessage(58, buf[:n])
			if err != nil || r.Type != ipv6.ICMPTypeEchoReply {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.Seq == seq {
				fmt.Fprintf(out, "   client: reply from %v seq %d in %v\n", from, seq, time.Since(start).Round(10*time.Microsecond))
				break
			}
		}
	}
	return nil
}
