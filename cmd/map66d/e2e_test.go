package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/v6xlat/xlat/map66"
)

// The end-to-end test builds three network namespaces, a host with a ULA
// address, the mapper running map66d, and a server on the provider side,
// all with documentation and ULA addresses, and checks ping, TCP both ways
// and an ICMPv6 error across the mapper.
//
//	host  fd01:203:405:1::10 --- fd01:203:405:1::1  mapper  2001:db8:ffff::1 --- 2001:db8:ffff::80  server
//	                                              (map66d: fd01:203:405::/48 <-> 2001:db8:1::/48)

const (
	hostAddr   = "fd01:203:405:1::10"
	serverAddr = "2001:db8:ffff::80"
	internal   = "fd01:203:405::/48"
	external   = "2001:db8:1::/48"
)

func need(t *testing.T) {
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

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// helper runs this test binary as a helper process inside namespace ns.
func helper(ctx context.Context, ns string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, os.Args[0], "-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "MAP66D_HELPER=1")
	return cmd
}

func TestEndToEnd(t *testing.T) {
	need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "map66d")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building map66d: %v\n%s", err, out)
	}
	id := fmt.Sprint(os.Getpid() % 100000)
	h, m, s := "xh"+id, "xm"+id, "xs"+id
	for _, ns := range []string{h, m, s} {
		sh(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh(t, "ip", "link", "add", "h0", "netns", h, "type", "veth", "peer", "name", "m0", "netns", m)
	sh(t, "ip", "link", "add", "m1", "netns", m, "type", "veth", "peer", "name", "s0", "netns", s)
	for _, c := range [][]string{
		{h, "addr", "add", hostAddr + "/64", "dev", "h0", "nodad"},
		{m, "addr", "add", "fd01:203:405:1::1/64", "dev", "m0", "nodad"},
		{m, "addr", "add", "2001:db8:ffff::1/64", "dev", "m1", "nodad"},
		{s, "addr", "add", serverAddr + "/64", "dev", "s0", "nodad"},
		{h, "link", "set", "h0", "up"}, {h, "link", "set", "lo", "up"},
		{m, "link", "set", "m0", "up"}, {m, "link", "set", "m1", "up"}, {m, "link", "set", "lo", "up"},
		{s, "link", "set", "s0", "up"}, {s, "link", "set", "lo", "up"},
		{h, "-6", "route", "add", "default", "via", "fd01:203:405:1::1"},
		{s, "-6", "route", "add", external, "via", "2001:db8:ffff::1"},
	} {
		sh(t, append([]string{"ip", "-n", c[0]}, c[1:]...)...)
	}
	sh(t, "ip", "netns", "exec", m, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")

	d := exec.CommandContext(ctx, "ip", "netns", "exec", m, bin, "-out", "m1,"+internal+","+external, "-in", "m1,"+external+","+internal)
	var logs strings.Builder
	d.Stderr = &logs
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Signal(syscall.SIGTERM); d.Wait(); t.Logf("map66d: %s", logs.String()) })
	waitFor(t, func() bool {
		out, _ := exec.Command("ip", "-n", m, "-6", "rule").Output()
		return strings.Contains(string(out), "lookup 66")
	})

	mp, _ := map66.New([]map66.Rule{{Internal: netip.MustParsePrefix(internal), External: netip.MustParsePrefix(external)}}, map66.Options{})
	hostExt, _ := mp.MapAddr(netip.MustParseAddr(hostAddr), true)

	// Ping both ways.
	if out, err := helper(ctx, h, "ping", serverAddr).CombinedOutput(); err != nil {
		t.Fatalf("ping host -> server: %v %s", err, out)
	}
	if out, err := helper(ctx, s, "ping", hostExt.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping server -> host's external address: %v %s", err, out)
	}

	// TCP host -> server: the server sees the mapped address.
	seen := tcpExchange(t, ctx, s, serverAddr, h)
	if seen != hostExt {
		t.Errorf("the server saw %v, want the mapped %v", seen, hostExt)
	}
	// TCP server -> host through the external address.
	seen = tcpExchange(t, ctx, h, "::", s, hostExt.String())
	if seen != netip.MustParseAddr(serverAddr) {
		t.Errorf("the host saw %v, want %s", seen, serverAddr)
	}
	// An ICMPv6 error from beyond the mapper reaches the internal host: a
	// datagram to a closed port comes back as "connection refused".
	if out, err := helper(ctx, h, "udp-refused", serverAddr).CombinedOutput(); err != nil {
		t.Fatalf("ICMPv6 port unreachable did not reach the host: %v %s", err, out)
	}
	t.Logf("host %s is %v outside; ping, TCP both ways and ICMPv6 errors crossed the mapper", hostAddr, hostExt)
}

// tcpExchange starts a TCP server in srvNS on listen, connects from cliNS
// (to dial, or to the listen address), and returns the peer address the
// server saw.
func tcpExchange(t *testing.T, ctx context.Context, srvNS, listen, cliNS string, dial ...string) netip.Addr {
	t.Helper()
	srv := helper(ctx, srvNS, "tcp-server", listen)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "listening") {
		t.Fatalf("tcp server: %q %v", line, err)
	}
	target := listen
	if len(dial) > 0 {
		target = dial[0]
	}
	if out, err := helper(ctx, cliNS, "tcp-client", target).CombinedOutput(); err != nil {
		t.Fatalf("tcp client to %s: %v %s", target, err, out)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("tcp server: %v", err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("tcp server said %q", line)
	}
	return ap.Addr().Unmap()
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("timed out waiting for map66d to set up routing")
}

// TestHelperProcess is not a test: it is the code the end-to-end test runs
// inside the namespaces.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("MAP66D_HELPER") != "1" {
		t.Skip("helper process for TestEndToEnd")
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

func helperMain(mode, addr string) error {
	switch mode {
	case "ping":
		return ping(addr)
	case "tcp-server":
		l, err := net.Listen("tcp6", net.JoinHostPort(addr, "8080"))
		if err != nil {
			return err
		}
		fmt.Println("listening")
		l.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
		c, err := l.Accept()
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
	case "tcp-client":
		var c net.Conn
		var err error
		for i := 0; i < 50; i++ { // the server may still be starting
			if c, err = net.DialTimeout("tcp6", net.JoinHostPort(addr, "8080"), 2*time.Second); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
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
	case "udp-refused":
		c, err := net.Dial("udp6", net.JoinHostPort(addr, "9"))
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
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func ping(addr string) error {
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return err
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(addr)}
	for seq := 1; seq <= 10; seq++ {
		msg := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: seq, Data: []byte("map66d")}}
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
			rm, err := icmp.ParseMessage(58, buf[:n])
			if err == nil && rm.Type == ipv6.ICMPTypeEchoReply && peer.String() == dst.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s", addr)
}
