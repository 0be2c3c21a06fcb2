package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// The handoff end-to-end test (handoff.md §13 tests 11 and 12, the issue's
// netns test): an IPv6-only client, xlatgw with the handoff client on its
// NAT64 instance, an IPv4 server running handoffd and a TCP service.
//
//	client 2001:db8:c::10 --- gw (xlatgw, pool4 203.0.113.1) --- 192.0.2.80 server (handoffd, chat)
//
// A TCP connection exchanges a line every 250 ms while xlatgw is killed
// (-9) and restarted, then handoffd is killed (-9) and restarted, then
// xlatgw once more: the connection goes on, the server sees the same peer
// port throughout, and handoffd's log names the real client.

const handoffConfig = `{
  "tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
  "instances": [
    {"name": "nat64", "type": "nat64", "nat64": {
      "pool6": "64:ff9b::/96", "wkp-allow-non-global": true,
      "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32", "ports": "1028-65535"},
                {"protocol": "UDP", "prefix": "203.0.113.1/32", "ports": "1028-65535"},
                {"protocol": "ICMP", "prefix": "203.0.113.1/32", "ports": "1028-65535"}]},
     "handoff": {"servers": ["192.0.2.80"], "state-file": "STATE", "note": "xlatgw e2e"}}
  ]
}`

func TestHandoffEndToEnd(t *testing.T) {
	netnstest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	gwBin, hoBin := filepath.Join(dir, "xlatgw"), filepath.Join(dir, "handoffd")
	for bin, pkg := range map[string]string{gwBin: ".", hoBin: "../handoffd"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	cfg := filepath.Join(dir, "xlatgw.json")
	if err := os.WriteFile(cfg, []byte(strings.Replace(handoffConfig, "STATE", filepath.Join(dir, "capable"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, g, s := netnstest.NS(t, "hc"), netnstest.NS(t, "hg"), netnstest.NS(t, "hs")
	netnstest.Sh(t, "ip", "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "g0", "netns", g)
	netnstest.Sh(t, "ip", "link", "add", "g1", "netns", g, "type", "veth", "peer", "name", "s0", "netns", s)
	netnstest.IP(t, c, "addr add 2001:db8:c::10/64 dev c0 nodad", "link set c0 up", "link set lo up", "-6 route add default via 2001:db8:c::1")
	netnstest.IP(t, g, "addr add 2001:db8:c::1/64 dev g0 nodad", "addr add 192.0.2.1/24 dev g1", "link set g0 up", "link set g1 up", "link set lo up")
	netnstest.IP(t, s, "addr add 192.0.2.80/24 dev s0", "link set s0 up", "link set lo up", "route add default via 192.0.2.1")

	stateDir, logDir := filepath.Join(dir, "state"), filepath.Join(dir, "log")
	var hoLogs netnstest.Log
	startHandoffd := func() *exec.Cmd {
		d := exec.CommandContext(ctx, "ip", "netns", "exec", s, hoBin, "-listen", "192.0.2.80:64646", "-state-dir", stateDir, "-log-dir", logDir)
		d.Stderr = &hoLogs
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var gwLogs netnstest.Log
	startGateway := func() *exec.Cmd {
		d := exec.CommandContext(ctx, "ip", "netns", "exec", g, gwBin, "run", "-config", cfg)
		d.Stderr = &gwLogs
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		netnstest.WaitFor(t, "xlatgw's routes", func() bool {
			out, _ := exec.Command("ip", "-n", g, "-6", "route", "show", "dev", "xlat0").Output()
			return strings.Contains(string(out), "64:ff9b::/96")
		})
		return d
	}
	kill := func(d *exec.Cmd) { d.Process.Signal(syscall.SIGKILL); d.Wait() }
	ho := startHandoffd()
	gw := startGateway()
	t.Cleanup(func() {
		gw.Process.Signal(syscall.SIGTERM)
		gw.Wait()
		ho.Process.Signal(syscall.SIGTERM)
		ho.Wait()
		t.Logf("xlatgw: %s\nhandoffd: %s", gwLogs.String(), hoLogs.String())
	})

	// A ping first: ICMP echo takes the handoff path too (identifier as
	// port).
	netnstest.Run(t, ctx, c, "ping", "64:ff9b::192.0.2.80")

	srv := netnstest.Helper(ctx, s, "chat-server", "0.0.0.0")
	srvOut, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	if line, _ := bufio.NewReader(srvOut).ReadString('\n'); line != "listening\n" {
		t.Fatalf("chat server: %q", line)
	}
	var cliOut strings.Builder
	cli := netnstest.Helper(ctx, c, "chat-client", "64:ff9b::192.0.2.80")
	cli.Stdout, cli.Stderr = &cliOut, &cliOut
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cli.Wait() }()

	time.Sleep(2 * time.Second)
	kill(gw) // the cache is gone with the process
	gw = startGateway()
	time.Sleep(2 * time.Second)
	kill(ho) // right after replies reporting the creations
	ho = startHandoffd()
	time.Sleep(2 * time.Second)
	kill(gw)
	gw = startGateway()

	select {
	case err := <-done:
		if err != nil || !strings.Contains(cliOut.String(), "done") {
			t.Fatalf("the connection did not survive: %v\n%s", err, cliOut.String())
		}
	case <-ctx.Done():
		t.Fatal("timed out")
	}
	m := regexp.MustCompile(`connected \[(2001:db8:c::10)\]:(\d+)\npeer 203\.0\.113\.1:(\d+)\n`).FindStringSubmatch(cliOut.String())
	if m == nil {
		t.Fatalf("chat client output:\n%s", cliOut.String())
	}
	clientPort, natPort := m[2], m[3]

	b, err := os.ReadFile(filepath.Join(logDir, "handoff.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	t.Logf("handoffd log:\n%s", log)
	ts := `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}`
	if n := len(regexp.MustCompile(`(?m)^`+ts+` Initialized 203\.0\.113\.1$`).FindAllString(log, -1)); n != 1 {
		t.Errorf("%d Initialized lines, want 1 (the table survives both restarts)", n)
	}
	created := regexp.MustCompile(`(?m)^` + ts + ` Created 203\.0\.113\.1:` + natPort + ` \[2001:db8:c::10\]:` + clientPort + `$`)
	if n := len(created.FindAllString(log, -1)); n != 1 {
		t.Errorf("%d Created lines for the connection (203.0.113.1:%s [2001:db8:c::10]:%s), want exactly 1", n, natPort, clientPort)
	}
	if strings.Contains(log, "Deleted") {
		t.Error("a binding was deleted")
	}
}
