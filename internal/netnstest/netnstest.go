// Package netnstest builds throwaway network namespaces for end-to-end
// tests and runs small clients and servers inside them (ping, TCP, UDP),
// as helper processes of the test binary itself.
//
// A test package using it declares
//
//	func TestHelperProcess(t *testing.T) { netnstest.HelperProcess(t) }
//
// and calls Need first, which skips unless the test runs as root with
// iproute2 and /dev/net/tun at hand. InNewNetns instead runs a function
// of the test itself in a namespace of its own.
package netnstest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Need skips the test unless it can build namespaces and TUN devices.
func Need(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and TUN devices (CI runs it as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
}

// Sh runs a command and fails the test if it fails.
func Sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// NS creates a namespace named prefix plus the process ID, removed when
// the test ends.
func NS(t *testing.T, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
	Sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

// Veth links interface if1 in namespace ns1 to if2 in ns2.
func Veth(t *testing.T, ns1, if1, ns2, if2 string) {
	t.Helper()
	Sh(t, "ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2)
}

// Gateway3 builds the testbed of the gateway tests, three namespaces named
// from prefix:
//
//	client 2001:db8:c::10 c0 --- g0 2001:db8:c::1  gateway  192.0.2.1 g1 --- s0 192.0.2.80 server
//
// with the client's and the server's default routes through the gateway.
// Callers add what their test needs beyond it.
func Gateway3(t *testing.T, prefix string) (c, g, s string) {
	t.Helper()
	c, g, s = NS(t, prefix+"c"), NS(t, prefix+"g"), NS(t, prefix+"s")
	Veth(t, c, "c0", g, "g0")
	Veth(t, g, "g1", s, "s0")
	IP(t, c, "addr add 2001:db8:c::10/64 dev c0 nodad", "link set c0 up", "link set lo up", "-6 route add default via 2001:db8:c::1")
	IP(t, g, "addr add 2001:db8:c::1/64 dev g0 nodad", "addr add 192.0.2.1/24 dev g1", "link set g0 up", "link set g1 up", "link set lo up")
	IP(t, s, "addr add 192.0.2.80/24 dev s0", "link set s0 up", "link set lo up", "route add default via 192.0.2.1")
	return c, g, s
}

// SyntheticRoutes writes an "ip -batch" file of n /24 routes via
// 192.0.2.80, from 1.0.0.0/24 on, into the test's temporary directory and
// returns its path: a synthetic BGP table of the size a border box
// carries, which the testbeds never send to (up to 16 million, short of
// their own /24s).
func SyntheticRoutes(tb testing.TB, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		a := 1<<24 + i<<8
		fmt.Fprintf(&b, "route add %d.%d.%d.0/24 via 192.0.2.80\n", a>>24&255, a>>16&255, a>>8&255)
	}
	f := filepath.Join(tb.TempDir(), "routes")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		tb.Error(err)
	}
	return f
}

// KeptNetns are named network namespaces that a package's benchmarks
// make once and keep across their runs (-count), where making one (a
// million routes) takes longer than measuring in it. RemoveAll, from the
// package's TestMain after m.Run, removes them.
type KeptNetns struct{ names map[string]string }

// Enter moves the calling goroutine's thread for good (it ends with the
// goroutine) into the namespace kept as key, which make builds, given
// its name, the first time. It skips unless the test runs as root.
func (k *KeptNetns) Enter(tb testing.TB, key string, make func(ns string)) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root for a network namespace and BPF")
	}
	name, ok := k.names[key]
	if !ok {
		if k.names == nil {
			k.names = map[string]string{}
		}
		name = fmt.Sprintf("xlatkept%s-%d", key, os.Getpid())
		k.names[key] = name
		Sh(tb, "ip", "netns", "add", name)
		make(name)
	}
	runtime.LockOSThread()
	fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		tb.Fatal(err)
	}
	return name
}

// RemoveAll removes the namespaces kept.
func (k *KeptNetns) RemoveAll() {
	for _, name := range k.names {
		exec.Command("ip", "netns", "del", name).Run()
	}
}

// Build compiles the command in package directory pkg (relative to the
// test's directory, "." for the package under test) into a temporary
// directory and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(abs))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", filepath.Base(abs), err, out)
	}
	return bin
}

// IP runs "ip -n ns args..." for each command.
func IP(t testing.TB, ns string, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		Sh(t, append([]string{"ip", "-n", ns}, strings.Fields(c)...)...)
	}
}

// Helper returns a command running this test binary as a helper process
// inside namespace ns.
func Helper(ctx context.Context, ns string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, os.Args[0], "-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "XLAT_NETNS_HELPER=1")
	return cmd
}

// Run runs a helper and fails the test if it fails.
func Run(t *testing.T, ctx context.Context, ns string, args ...string) {
	t.Helper()
	if out, err := Helper(ctx, ns, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
}

// Serve starts the helper server mode in namespace ns on listen and waits
// until it says it is listening; the reader has the rest of its output.
// Wait for the command when done.
func Serve(t *testing.T, ctx context.Context, ns, mode, listen string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	srv := Helper(ctx, ns, mode, listen)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "listening") {
		t.Fatalf("%s in %s: %q %v", mode, ns, line, err)
	}
	return srv, r
}

// TCPExchange starts a TCP server in srvNS on listen:8080, connects from
// cliNS to dial (or listen), exchanges a few bytes, and returns the peer
// address the server saw.
func TCPExchange(t *testing.T, ctx context.Context, srvNS, listen, cliNS, dial string) netip.Addr {
	t.Helper()
	if dial == "" {
		dial = listen
	}
	return exchange(t, ctx, "tcp", srvNS, listen, cliNS, dial)
}

// UDPEcho starts a UDP echo server in srvNS on listen:7, has a client in
// cliNS send to dial and get the echo back, and returns the peer address
// the server saw.
func UDPEcho(t *testing.T, ctx context.Context, srvNS, listen, cliNS, dial string) netip.Addr {
	t.Helper()
	return exchange(t, ctx, "udp-echo", srvNS, listen, cliNS, dial)
}

// exchange runs the helper pair kind-server and kind-client and returns
// the client address the server reports.
func exchange(t *testing.T, ctx context.Context, kind, srvNS, listen, cliNS, dial string) netip.Addr {
	t.Helper()
	srv, r := Serve(t, ctx, srvNS, kind+"-server", listen)
	defer srv.Wait()
	Run(t, ctx, cliNS, kind+"-client", dial)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s server: %v", kind, err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("%s server said %q", kind, line)
	}
	return ap.Addr().Unmap()
}

// MaxSeg connects from cliNS to dial (a server in srvNS listening on
// listen:8082) and returns the TCP_MAXSEG both ends see: what the other
// end's SYN offered, after whatever a middlebox did to it, less the
// options each segment carries.
func MaxSeg(t *testing.T, ctx context.Context, srvNS, listen, cliNS, dial string) (server, client int) {
	t.Helper()
	srv, r := Serve(t, ctx, srvNS, "maxseg-server", listen)
	defer srv.Wait()
	out := Output(t, ctx, cliNS, "maxseg-client", dial)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("maxseg server: %v", err)
	}
	if server, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("maxseg server said %q", line)
	}
	if client, err = strconv.Atoi(strings.TrimSpace(out)); err != nil {
		t.Fatalf("maxseg client said %q", out)
	}
	return server, client
}

// Bulk moves bulkSize bytes over TCP from a server in srvNS (listening on
// listen:8081) to a client in cliNS dialling dial, calling during() while
// the transfer runs, and checks both ends hashed the same bytes.
func Bulk(t *testing.T, ctx context.Context, srvNS, listen, cliNS, dial string, during func()) {
	t.Helper()
	srv, r := Serve(t, ctx, srvNS, "bulk-server", listen)
	defer srv.Wait()
	cli := Helper(ctx, cliNS, "bulk-client", dial)
	var cliOut strings.Builder
	cli.Stdout, cli.Stderr = &cliOut, &cliOut
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during()
	}
	if err := cli.Wait(); err != nil {
		t.Fatalf("bulk client: %v %s", err, cliOut.String())
	}
	sent, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("bulk server: %v", err)
	}
	if strings.TrimSpace(sent) != strings.TrimSpace(cliOut.String()) {
		t.Fatalf("the bytes differ: sent %s, received %s", sent, cliOut.String())
	}
}

// Output runs a helper and returns what it printed.
func Output(t *testing.T, ctx context.Context, ns string, args ...string) string {
	t.Helper()
	out, err := Helper(ctx, ns, args...).Output()
	if err != nil {
		t.Fatalf("%s in %s: %v", strings.Join(args, " "), ns, err)
	}
	return strings.TrimSpace(string(out))
}

// WaitFor polls ok for up to five seconds.
func WaitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// HelperProcess is the body of TestHelperProcess: outside a helper run it
// skips; inside one it does the job and exits.
func HelperProcess(t *testing.T) {
	if os.Getenv("XLAT_NETNS_HELPER") != "1" {
		t.Skip("helper process of the end-to-end tests")
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "helper: bad args")
		os.Exit(2)
	}
	if err := helperMain(args[1], args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func network(addr string) string {
	if strings.Contains(addr, ":") {
		return "6"
	}
	return "4"
}

// bulkPace is the bulk client's pause per 256 KiB read: 5 ms, or
// XLAT_BULK_PACE for a transfer that must outlast a failover.
func bulkPace() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("XLAT_BULK_PACE")); err == nil {
		return d
	}
	return 5 * time.Millisecond
}

// ChatTime is how long the chat client talks, unless XLAT_CHAT_TIME (a
// Go duration) in the test's environment says otherwise.
const ChatTime = 12 * time.Second

func chatTime() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("XLAT_CHAT_TIME")); err == nil {
		return d
	}
	return ChatTime
}

// bulkSize is what the bulk helpers move: enough to take a few hundred
// milliseconds through a TUN gateway with the paced reader.
const bulkSize = 16 << 20

// acceptOne listens on addr:port, says "listening" (the tests wait for
// it), and accepts one TCP connection within wait.
func acceptOne(addr, port string, wait time.Duration) (net.Conn, error) {
	l, err := net.Listen("tcp"+network(addr), net.JoinHostPort(addr, port))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	fmt.Println("listening")
	l.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
	return l.Accept()
}

// printMaxSeg prints the connection's TCP_MAXSEG.
func printMaxSeg(c net.Conn) error {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var mss int
	var serr error
	if err := rc.Control(func(fd uintptr) { mss, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG) }); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	fmt.Println(mss)
	return nil
}

// dialRetry connects to addr:port over TCP, retrying for a while: the
// server may still be starting.
func dialRetry(addr, port string) (c net.Conn, err error) {
	return dialRetryWith(&net.Dialer{Timeout: 2 * time.Second}, addr, port)
}

func dialRetryWith(d *net.Dialer, addr, port string) (c net.Conn, err error) {
	for i := 0; i < 50; i++ {
		if c, err = d.Dial("tcp"+network(addr), net.JoinHostPort(addr, port)); err == nil {
			return c, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// helpers are the helper commands a test runs with Helper, by name; each
// takes the address argument of the command line.
var helpers = map[string]func(addr string) error{
	"maxseg-server": func(addr string) error {
		// Accepts one connection on port 8082 and prints its TCP_MAXSEG:
		// the MSS the client's SYN offered, less the options every
		// segment carries (timestamps: 12 octets).
		c, err := acceptOne(addr, "8082", 30*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		return printMaxSeg(c)
	},
	"maxseg-client": func(addr string) error {
		// Connects to port 8082 and prints its TCP_MAXSEG: the MSS the
		// server's SYN-ACK offered, less the options.
		c, err := dialRetry(addr, "8082")
		if err != nil {
			return err
		}
		defer c.Close()
		return printMaxSeg(c)
	},
	"bulk-server": func(addr string) error {
		c, err := acceptOne(addr, "8081", 30*time.Second)
		if err != nil {
			return err
		}
		h := sha256.New()
		rng := rand.New(rand.NewSource(1))
		buf := make([]byte, 64<<10)
		for sent := 0; sent < bulkSize; sent += len(buf) {
			rng.Read(buf)
			h.Write(buf)
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
		c.Close()
		fmt.Printf("%x\n", h.Sum(nil))
		return nil
	},
	"bulk-client": func(addr string) error {
		// A fixed receive buffer, set before the handshake: with the
		// kernel's autotuning it grows to megabytes, which the server
		// fills at once, and the pace below would hold nothing back (a
		// failover test then finds most of the transfer done before the
		// failure).
		c, err := dialRetryWith(&net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 256<<10)
			}); err != nil {
				return err
			}
			return serr
		}}, addr, "8081")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		buf := make([]byte, 256<<10)
		n := 0
		for {
			k, err := io.ReadFull(c, buf)
			h.Write(buf[:k])
			n += k
			if err != nil {
				break
			}
			time.Sleep(bulkPace()) // paced, so the transfer takes a while
		}
		if n != bulkSize {
			return fmt.Errorf("received %d bytes, want %d", n, bulkSize)
		}
		fmt.Printf("%x\n", h.Sum(nil))
		return nil
	},
	"ping": func(addr string) error {
		return ping(addr)
	},
	"probe": func(addr string) error {
		// Sends echo requests to addr and prints what came back: see
		// probe.
		return probe(addr)
	},
	"udp-flow-server": func(addr string) error {
		// Echoes datagrams on port 9000 until none came for 5 s, then
		// says how many peer addresses it saw.
		c, err := net.ListenPacket("udp"+network(addr), net.JoinHostPort(addr, "9000"))
		if err != nil {
			return err
		}
		fmt.Println("listening")
		buf := make([]byte, 2048)
		peers := map[string]bool{}
		for {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				// The peer addresses seen: one, if the flow kept its
				// mapping.
				fmt.Println("peers", len(peers))
				return nil
			}
			peers[from.String()] = true
			c.WriteTo(buf[:n], from)
		}
	},
	"udp-flow-client": func(addr string) error {
		// A datagram every 10 ms for chatTime(); prints how many came
		// back and the longest silence between two replies, and fails if
		// the replies stopped for good.
		c, err := net.Dial("udp"+network(addr), net.JoinHostPort(addr, "9000"))
		if err != nil {
			return err
		}
		defer c.Close()
		got := make(chan time.Time, 1024)
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); err != nil {
					if errors.Is(err, net.ErrClosed) {
						close(got)
						return
					}
					continue // ICMP errors while a path is down
				}
				got <- time.Now()
			}
		}()
		start := time.Now()
		end := start.Add(chatTime())
		last, gap, n := start, time.Duration(0), 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for now := range tick.C {
			if now.After(end) {
				break
			}
			c.Write([]byte("flow"))
		drain:
			for {
				select {
				case at := <-got:
					n++
					gap, last = max(gap, at.Sub(last)), at
				default:
					break drain
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
		for len(got) > 0 {
			at := <-got
			n++
			gap, last = max(gap, at.Sub(last)), at
		}
		fmt.Printf("replies %d gap %d\n", n, gap.Milliseconds())
		if end.Sub(last) > time.Second {
			return fmt.Errorf("no reply in the last %v", end.Sub(last).Round(time.Millisecond))
		}
		return nil
	},
	"chat-server": func(addr string) error {
		// One connection; every line is answered with the peer address
		// the server sees, so the client can tell whether it changed.
		c, err := acceptOne(addr, "8083", chatTime()+20*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil // the client closed
			}
			fmt.Fprintf(c, "%s %s", c.RemoteAddr(), line)
		}
	},
	"chat-client": func(addr string) error {
		// A connection that exchanges a line every 250 ms for ChatTime:
		// it prints the peer address the server reported, once, and fails
		// if the connection breaks or the address changes.
		c, err := dialRetry(addr, "8083")
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("connected", c.LocalAddr())
		r := bufio.NewReader(c)
		peer := ""
		for i, end := 0, time.Now().Add(chatTime()); time.Now().Before(end); i++ {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(c, "line %d\n", i); err != nil {
				return fmt.Errorf("line %d: %w", i, err)
			}
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("line %d: %w", i, err)
			}
			p, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
			if rest != fmt.Sprintf("line %d", i) {
				return fmt.Errorf("line %d came back as %q", i, line)
			}
			if peer == "" {
				peer = p
				fmt.Println("peer", peer)
			} else if p != peer {
				return fmt.Errorf("line %d: the server saw %s, before %s", i, p, peer)
			}
			time.Sleep(250 * time.Millisecond)
		}
		fmt.Println("done")
		return nil
	},
	"tcp-server": func(addr string) error {
		c, err := acceptOne(addr, "8080", 20*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err := c.Read(buf); err != nil || string(buf) != "hello" {
			return fmt.Errorf("read %q: %v", buf, err)
		}
		c.Write([]byte("world"))
		fmt.Println(c.RemoteAddr().String())
		return nil
	},
	"tcp-client": func(addr string) error {
		c, err := dialRetry(addr, "8080")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		buf := make([]byte, 5)
		if _, err := c.Read(buf); err != nil || string(buf) != "world" {
			return fmt.Errorf("read %q: %v", buf, err)
		}
		return nil
	},
	"http-get": func(addr string) error {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(addr)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(os.Stdout, resp.Body)
		return err
	},
	"udp-echo-server": func(addr string) error {
		c, err := net.ListenPacket("udp"+network(addr), net.JoinHostPort(addr, "7"))
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("listening")
		c.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 2048)
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(buf[:n], peer); err != nil {
			return err
		}
		fmt.Println(peer.(*net.UDPAddr).AddrPort().String())
		return nil
	},
	"udp-echo-client": func(addr string) error {
		c, err := net.Dial("udp"+network(addr), net.JoinHostPort(addr, "7"))
		if err != nil {
			return err
		}
		defer c.Close()
		for try := 0; try < 20; try++ {
			c.Write([]byte("echo?"))
			c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			buf := make([]byte, 64)
			if n, err := c.Read(buf); err == nil && string(buf[:n]) == "echo?" {
				return nil
			}
		}
		return fmt.Errorf("no UDP echo from %s", addr)
	},
	"traceroute": func(addr string) error {
		// addr is "destination,hops": send a UDP probe with that hop limit
		// and print who answered Time Exceeded.
		dst, hops, _ := strings.Cut(addr, ",")
		hl, err := strconv.Atoi(hops)
		if err != nil {
			return err
		}
		raw, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		defer raw.Close()
		c, err := net.Dial("udp6", net.JoinHostPort(dst, "33434"))
		if err != nil {
			return err
		}
		defer c.Close()
		if err := ipv6.NewConn(c).SetHopLimit(hl); err != nil {
			return err
		}
		for try := 0; try < 5; try++ {
			c.Write([]byte("probe"))
			raw.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 1500)
			for {
				n, peer, err := raw.ReadFrom(buf)
				if err != nil {
					break
				}
				if m, err := icmp.ParseMessage(58, buf[:n]); err == nil && m.Type == ipv6.ICMPTypeTimeExceeded {
					fmt.Println(peer.String())
					return nil
				}
			}
		}
		return fmt.Errorf("no Time Exceeded for hop limit %d", hl)
	},
	"flows-client": func(addr string) error {
		return flowsClient(addr)
	},
	"udp-sink": func(addr string) error {
		return udpSink(addr)
	},
	"udp-refused": func(addr string) error {
		c, err := net.Dial("udp"+network(addr), net.JoinHostPort(addr, "9"))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for i := 0; i < 5; i++ {
			c.Write([]byte("anyone?"))
			_, err = c.Read(make([]byte, 64))
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("no port unreachable came back: %v", err)
	},
}

// helperMain runs the helper command mode with its address.
func helperMain(mode, addr string) error {
	if h, ok := helpers[mode]; ok {
		return h(addr)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func ping(addr string) error {
	ip := net.ParseIP(addr)
	network, proto := "ip6:ipv6-icmp", 58
	var req, rep icmp.Type = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	if ip.To4() != nil {
		network, proto, req, rep = "ip4:icmp", 1, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	}
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		return err
	}
	defer c.Close()
	dst := &net.IPAddr{IP: ip}
	for seq := 1; seq <= 10; seq++ {
		msg := icmp.Message{Type: req, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: seq, Data: []byte("xlat")}}
		b, _ := msg.Marshal(nil)
		if _, err := c.WriteTo(b, dst); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			buf := make([]byte, 1500)
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			rm, err := icmp.ParseMessage(proto, buf[:n])
			if err == nil && rm.Type == rep && peer.String() == dst.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s", addr)
}

// probe sends XLAT_PROBES echo requests (default 3) of XLAT_PROBE_SIZE
// octets of data (default 10) to addr, XLAT_PROBE_GAP apart (default
// 200 ms), listens XLAT_PROBE_WAIT longer
// (default 1.5 s), and prints "replies=N errors=T/C,...": the echo replies
// and the types and codes of the ICMP errors that came back ("-" for
// none), so that a test can compare what two datapaths made of the same
// packets.
func probe(addr string) error {
	ip := net.ParseIP(addr)
	network, proto := "ip6:ipv6-icmp", 58
	var req, rep icmp.Type = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	if ip.To4() != nil {
		network, proto, req, rep = "ip4:icmp", 1, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	}
	n := envInt("XLAT_PROBES", 3)
	gap := time.Duration(envInt("XLAT_PROBE_GAP", 200)) * time.Millisecond
	wait := time.Duration(envInt("XLAT_PROBE_WAIT", 1500)) * time.Millisecond
	data := make([]byte, envInt("XLAT_PROBE_SIZE", 10))
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		return err
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	replies, errs := 0, map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil {
				continue
			}
			switch b := m.Body.(type) {
			case *icmp.Echo:
				if m.Type == rep && b.ID == id {
					replies++
				}
			case *icmp.DstUnreach, *icmp.TimeExceeded, *icmp.ParamProb, *icmp.PacketTooBig:
				var t int
				switch typ := m.Type.(type) {
				case ipv4.ICMPType:
					t = int(typ)
				case ipv6.ICMPType:
					t = int(typ)
				}
				errs[fmt.Sprintf("%d/%d", t, m.Code)] = true
			}
		}
	}()
	for seq := 1; seq <= n; seq++ {
		b, _ := (&icmp.Message{Type: req, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}).Marshal(nil)
		if _, err := c.WriteTo(b, &net.IPAddr{IP: ip}); err != nil {
			return err
		}
		time.Sleep(gap)
	}
	time.Sleep(wait)
	c.Close()
	<-done
	var list []string
	for e := range errs {
		list = append(list, e)
	}
	sort.Strings(list)
	if len(list) == 0 {
		list = []string{"-"}
	}
	fmt.Printf("replies=%d errors=%s\n", replies, strings.Join(list, ","))
	return nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// Log collects a daemon's output safely while the test reads it.
type Log struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// InNewNetns runs f in a new network namespace of its own, in this
// process: on an OS thread that is never unlocked, so the thread ends
// with f's goroutine and takes the namespace along. It skips unless the
// test runs as root; needs says what for. f reports failures with
// t.Error, not t.Fatal, as it runs on a goroutine of its own.
func InNewNetns(t *testing.T, needs string, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root for %s (CI runs it as root)", needs)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		f()
	}()
	<-done
}
