package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// The end-to-end test: an IPv6-only client, the gateway, an IPv4-only
// server, documentation addresses only.
//
//	client 2001:db8:c::10 --- 2001:db8:c::1  gw  192.0.2.1 --- 192.0.2.80 server
//	                                        (xlatgw)
//
// NAT64: 64:ff9b::/96 -> pool4 203.0.113.1 for 192.0.2.0/25, another
// instance with 203.0.113.2 for 192.0.2.128/25. SIIT: the server reaches an
// IPv6-only web server 2001:db8:c::80 as 198.51.100.80 through an EAMT
// entry, and appears to it under 2001:db8:46::/96 (NAT46).

func TestHelperProcess(t *testing.T) { netnstest.HelperProcess(t) }

const e2eConfig = `{
  "tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
  "metrics": "127.0.0.1:19464",
  "mapping-log": "MAPLOG",
  "admin": "ADMIN",
  "instances": [
    {"name": "nat64", "type": "nat64", "nat64": {
      "pool6": "64:ff9b::/96", "wkp-allow-non-global": true,
      "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32"},
                {"protocol": "UDP", "prefix": "203.0.113.1/32"},
                {"protocol": "ICMP", "prefix": "203.0.113.1/32"}]}},
    {"name": "nat64-upper", "type": "nat64", "nat64": {
      "pool6": "64:ff9b::/96", "wkp-allow-non-global": true,
      "pool4": [{"protocol": "TCP", "prefix": "203.0.113.2/32"},
                {"protocol": "UDP", "prefix": "203.0.113.2/32"},
                {"protocol": "ICMP", "prefix": "203.0.113.2/32"}]}},
    {"name": "dc", "type": "siit", "siit": {
      "pool6": "2001:db8:46::/96",
      "eamt": [{"ipv4": "198.51.100.80/32", "ipv6": "2001:db8:c::80/128"}]}}
  ],
  "rules": [{"prefix": "192.0.2.0/25", "instance": "nat64"},
            {"prefix": "192.0.2.128/25", "instance": "nat64-upper"}]
}`

// runXlatgw runs "xlatgw run -config cfg" in namespace ns, its stderr
// into logs and env added to its environment, standing in for systemd:
// it returns once xlatgw says READY=1, with the notification socket for
// what xlatgw says later.
func runXlatgw(t *testing.T, ctx context.Context, ns, bin, cfg string, logs *netnstest.Log, env ...string) (*exec.Cmd, *netnstest.Notify) {
	t.Helper()
	notify := netnstest.NewNotify(t)
	d := exec.CommandContext(ctx, "ip", "netns", "exec", ns, bin, "run", "-config", cfg)
	d.Stderr = logs
	d.Env = append(append(os.Environ(), notify.Env()), env...)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if _, ok := notify.Wait("READY=1", 10*time.Second); !ok {
		d.Process.Kill()
		d.Wait()
		t.Fatalf("no READY=1 from xlatgw in %s within 10 s; xlatgw said:\n%s", ns, logs.String())
	}
	return d, notify
}

// startXlatgw is runXlatgw where the gateway's datapath is its own
// namespace's: by READY=1 it must have routed Pool6 into its TUN device
// (readiness means the datapath is up).
func startXlatgw(t *testing.T, ctx context.Context, ns, bin, cfg string, logs *netnstest.Log) *exec.Cmd {
	t.Helper()
	d, _ := runXlatgw(t, ctx, ns, bin, cfg, logs)
	out, _ := exec.Command("ip", "-n", ns, "-6", "route", "show", "dev", "xlat0").Output()
	if !strings.Contains(string(out), "64:ff9b::/96") {
		d.Process.Kill()
		d.Wait()
		t.Fatalf("READY=1 before the datapath was up: routes on xlat0 in %s:\n%s", ns, out)
	}
	return d
}

func TestEndToEnd(t *testing.T) { endToEnd(t, false) }

// TestEndToEndAFXDP is the same on the AF_XDP datapath: the gateway's two
// interfaces carry the XDP program, and the fast path has to be what
// carried the traffic.
func TestEndToEndAFXDP(t *testing.T) { endToEnd(t, true) }

func endToEnd(t *testing.T, xdp bool) {
	netnstest.Need(t)
	if xdp {
		needXDP(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := netnstest.Build(t, ".")
	cfg := filepath.Join(dir, "xlatgw.json")
	admin := filepath.Join(dir, "admin.sock")
	maplog := filepath.Join(dir, "mapping.log")
	config := strings.NewReplacer("ADMIN", admin, "MAPLOG", maplog).Replace(e2eConfig)
	prefix := "g"
	if xdp {
		config = withAFXDP(config, "g0", "g1")
		prefix = "gx"
	}
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c, g, s := netnstest.Gateway3(t, prefix)
	if xdp {
		// veth hands the receiver whatever its sender offloaded: a
		// checksum left partial would reach the XDP program as it is.
		// Real NICs deliver complete checksums.
		noChecksumOffload(t, c, "c0")
		noChecksumOffload(t, s, "s0")
	}
	// The IPv6-only web server beside the client, and a second server
	// address in the upper half of 192.0.2.0/24.
	netnstest.IP(t, c, "addr add 2001:db8:c::80/64 dev c0 nodad")
	netnstest.IP(t, s, "addr add 192.0.2.200/24 dev s0")
	// The gateway's IPv6 link is a 1280-byte link although the client's
	// side offers 1500: full-size segments from the server need Packet Too
	// Big, translated to Fragmentation Needed, for the transfer to work.
	netnstest.IP(t, g, "link set g0 mtu 1280")

	var logs netnstest.Log
	d := startXlatgw(t, ctx, g, bin, cfg, &logs)
	t.Cleanup(func() { d.Process.Signal(syscall.SIGTERM); d.Wait(); t.Logf("xlatgw: %s", logs.String()) })

	// NAT64: ping and TCP from the IPv6-only client to the IPv4-only server.
	netnstest.Run(t, ctx, c, "ping", "64:ff9b::192.0.2.80")
	if seen := netnstest.TCPExchange(t, ctx, s, "0.0.0.0", c, "64:ff9b::192.0.2.80"); seen != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("NAT64: the server saw %v, want the pool4 address", seen)
	}
	// UDP both ways: IPv6 client to IPv4 server through NAT64, and IPv4
	// server to the IPv6-only host through the EAMT.
	if seen := netnstest.UDPEcho(t, ctx, s, "0.0.0.0", c, "64:ff9b::192.0.2.80"); seen != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("UDP through NAT64: the server saw %v", seen)
	}
	if seen := netnstest.UDPEcho(t, ctx, c, "2001:db8:c::80", s, "198.51.100.80"); seen != netip.MustParseAddr("2001:db8:46::c000:250") {
		t.Errorf("UDP through the EAMT: the IPv6 host saw %v", seen)
	}
	// Two NAT64 instances split the IPv4 space by destination: the upper
	// half of 192.0.2.0/24 goes out from the other instance's pool4.
	if seen := netnstest.TCPExchange(t, ctx, s, "0.0.0.0", c, "64:ff9b::192.0.2.200"); seen != netip.MustParseAddr("203.0.113.2") {
		t.Errorf("second NAT64 instance: the server saw %v, want 203.0.113.2", seen)
	}
	// Traceroute-style hop limits: the gateway's kernel, then the
	// translator (its own Time Exceeded), then the IPv4 router behind it
	// (an ICMPv4 Time Exceeded translated back, sourced from Pool6 + the
	// router).
	hopLimits := map[string]string{"2": "2001:db8:c::1", "3": "64:ff9b::c000:201"}
	if xdp {
		// No kernel forwarding on the fast path: the translator is the
		// only hop, and answers a hop limit of 1 itself.
		hopLimits = map[string]string{"1": "2001:db8:c::1"}
	}
	for hops, want := range hopLimits {
		if got := netnstest.Output(t, ctx, c, "traceroute", "64:ff9b::192.0.2.80,"+hops); got != want {
			t.Errorf("hop limit %s: Time Exceeded from %s, want %s", hops, got, want)
		}
	}
	// UDP to a closed port: the ICMPv4 port unreachable comes back as an
	// ICMPv6 error the client's socket reports.
	netnstest.Run(t, ctx, c, "udp-refused", "64:ff9b::192.0.2.80")
	// Several MB through NAT64, the configuration reloaded (SIGHUP) five
	// times meanwhile: the same bytes arrive and the session survives.
	netnstest.Bulk(t, ctx, s, "0.0.0.0", c, "64:ff9b::192.0.2.80", func() {
		for i := 0; i < 5; i++ {
			time.Sleep(40 * time.Millisecond)
			d.Process.Signal(syscall.SIGHUP)
		}
	})
	if !strings.Contains(logs.String(), "reloaded") {
		t.Error("no reload was logged")
	}
	// Path MTU discovery across the translation: the server learnt the
	// 1280-byte IPv6 link as an IPv4 MTU of 1260.
	if out, _ := exec.Command("ip", "-n", s, "route", "get", "203.0.113.1").Output(); !strings.Contains(string(out), "mtu 1260") {
		t.Errorf("the server's path MTU to the pool4 address is not 1260:\n%s", out)
	}
	// The admin API lists the NAT64 sessions, and the metrics count them.
	var table strings.Builder
	if err := show([]string{"sessions", "-socket", admin}, &table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "[2001:db8:c::") || !strings.Contains(table.String(), "203.0.113.1:") || !strings.Contains(table.String(), "V4_FIN_V6_FIN_RCV") {
		var raw strings.Builder
		show([]string{"sessions", "-json", "-socket", admin}, &raw)
		t.Errorf("show sessions:\n%s\n%s", table.String(), raw.String())
	}
	table.Reset()
	if err := show([]string{"stats", "-socket", admin}, &table); err != nil || !strings.Contains(table.String(), "nat64-upper") {
		t.Errorf("show stats: %v\n%s", err, table.String())
	}
	if m := netnstest.Output(t, ctx, g, "http-get", "http://127.0.0.1:19464/metrics"); !strings.Contains(m, `xlatgw_nat64_sessions{instance="nat64"}`) ||
		!strings.Contains(m, `xlatgw_packets_total{direction="rx",family="ipv6",instance="nat64"}`) {
		t.Errorf("metrics lack the NAT64 series:\n%.2000s", m)
	}
	// The mapping log names the IPv6 client behind each pool4 port.
	netnstest.WaitFor(t, "the mapping log", func() bool {
		b, _ := os.ReadFile(maplog)
		return strings.Contains(string(b), "instance=nat64 created TCP [2001:db8:c::")
	})
	// NAT46 through the EAMT: the IPv4 server reaches the IPv6-only web
	// server 2001:db8:c::80 as 198.51.100.80.
	netnstest.Run(t, ctx, s, "ping", "198.51.100.80")
	if seen := netnstest.TCPExchange(t, ctx, c, "2001:db8:c::80", s, "198.51.100.80"); seen != netip.MustParseAddr("2001:db8:46::c000:250") {
		t.Errorf("NAT46: the IPv6 server saw %v, want 2001:db8:46::192.0.2.80", seen)
	}
	if xdp {
		checkXDP(t, ctx, c, g, s, d, m(t, ctx, g), bin, cfg, &logs)
	}
}

// m reads the gateway's metrics.
func m(t *testing.T, ctx context.Context, g string) string {
	return netnstest.Output(t, ctx, g, "http-get", "http://127.0.0.1:19464/metrics")
}
