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
	"github.com/v6xlat/xlat/map66"
)

// The end-to-end test builds three network namespaces, a host with a ULA
// address, the mapper running map66d, and a server on the provider side,
// and checks ping, TCP both ways and an ICMPv6 error across the mapper.
//
//	host  fd01:203:405:1::10 --- fd01:203:405:1::1  mapper  2001:db8:ffff::1 --- 2001:db8:ffff::80  server
//	                                              (map66d: fd01:203:405::/48 <-> 2001:db8:1::/48)

const (
	hostAddr   = "fd01:203:405:1::10"
	serverAddr = "2001:db8:ffff::80"
	internal   = "fd01:203:405::/48"
	external   = "2001:db8:1::/48"
)

func TestHelperProcess(t *testing.T) { netnstest.HelperProcess(t) }

func TestEndToEnd(t *testing.T) {
	netnstest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := netnstest.Build(t, ".")
	h, m, s := netnstest.NS(t, "xh"), netnstest.NS(t, "xm"), netnstest.NS(t, "xs")
	netnstest.Veth(t, h, "h0", m, "m0")
	netnstest.Veth(t, m, "m1", s, "s0")
	netnstest.IP(t, h, "addr add "+hostAddr+"/64 dev h0 nodad", "link set h0 up", "link set lo up", "-6 route add default via fd01:203:405:1::1")
	netnstest.IP(t, m, "addr add fd01:203:405:1::1/64 dev m0 nodad", "addr add 2001:db8:ffff::1/64 dev m1 nodad", "link set m0 up", "link set m1 up", "link set lo up")
	netnstest.IP(t, s, "addr add "+serverAddr+"/64 dev s0 nodad", "link set s0 up", "link set lo up", "-6 route add "+external+" via 2001:db8:ffff::1")
	netnstest.Sh(t, "ip", "netns", "exec", m, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")

	conf := filepath.Join(t.TempDir(), "map66d.json")
	writeConf := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConf(`{"rules": [{"interface": "m1", "internal": "` + internal + `", "external": "` + external + `"}]}`)
	d := exec.CommandContext(ctx, "ip", "netns", "exec", m, bin, "-config", conf)
	var logs netnstest.Log
	d.Stderr = &logs
	notify := netnstest.NewNotify(t)
	d.Env = append(os.Environ(), notify.Env())
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Signal(syscall.SIGTERM); d.Wait(); t.Logf("map66d: %s", logs.String()) })
	// Standing in for systemd: by READY=1 the routes must be in place.
	if _, ok := notify.Wait("READY=1", 10*time.Second); !ok {
		t.Fatalf("no READY=1 from map66d within 10 s")
	}
	if out, _ := exec.Command("ip", "-n", m, "-6", "rule").Output(); !strings.Contains(string(out), "lookup 66") {
		t.Fatalf("READY=1 before map66d's policy rules were in place:\n%s", out)
	}

	mp, _ := map66.New([]map66.Rule{{Internal: netip.MustParsePrefix(internal), External: netip.MustParsePrefix(external)}}, map66.Options{})
	hostExt, _ := mp.MapAddr(netip.MustParseAddr(hostAddr), true)

	netnstest.Run(t, ctx, h, "ping", serverAddr)
	netnstest.Run(t, ctx, s, "ping", hostExt.String())
	if seen := netnstest.TCPExchange(t, ctx, s, serverAddr, h, ""); seen != hostExt {
		t.Errorf("the server saw %v, want the mapped %v", seen, hostExt)
	}
	if seen := netnstest.TCPExchange(t, ctx, h, "::", s, hostExt.String()); seen != netip.MustParseAddr(serverAddr) {
		t.Errorf("the host saw %v, want %s", seen, serverAddr)
	}
	// An ICMPv6 error from beyond the mapper reaches the internal host: a
	// datagram to a closed port comes back as "connection refused".
	netnstest.Run(t, ctx, h, "udp-refused", serverAddr)

	// A reload with a bad file is refused, and the mapping goes on.
	writeConf(`{"rules": [{"interface": "m1", "internal": "` + internal + `", "external": "` + external + `"},
		{"interface": "m1", "internal": "fd02::/48", "external": "` + external + `"}]}`)
	d.Process.Signal(syscall.SIGHUP)
	netnstest.WaitFor(t, "the reload refused", func() bool { return strings.Contains(logs.String(), "reload refused") })
	if !strings.Contains(logs.String(), "external prefix already mapped") {
		t.Errorf("the refusal does not say why: %s", logs.String())
	}
	if seen := netnstest.TCPExchange(t, ctx, s, serverAddr, h, ""); seen != hostExt {
		t.Errorf("after the refused reload the server saw %v, want %v", seen, hostExt)
	}

	// MSS clamping: behind a 1280-octet link (a tunnel, say), the SYNs
	// both ways get an MSS that fits it: 1220, less the 12 octets of
	// timestamps each segment carries, is what each end then sends.
	srvSeg, hostSeg := netnstest.MaxSeg(t, ctx, s, serverAddr, h, serverAddr)
	if srvSeg <= 1220 || hostSeg <= 1220 {
		t.Fatalf("before clamping: server segments %d, host segments %d; want the 1500-octet links' sizes", srvSeg, hostSeg)
	}
	netnstest.IP(t, m, "link set m1 mtu 1280")
	writeConf(`{"clamp-mss": "interface", "rules": [{"interface": "m1", "internal": "` + internal + `", "external": "` + external + `"}]}`)
	d.Process.Signal(syscall.SIGHUP)
	netnstest.WaitFor(t, "the reload", func() bool { return strings.Count(logs.String(), "reloaded") >= 1 })
	clampedSrv, clampedHost := netnstest.MaxSeg(t, ctx, s, serverAddr, h, serverAddr)
	if clampedSrv > 1220 || clampedHost > 1220 {
		t.Errorf("with clamp-mss: server segments %d, host segments %d; want at most 1220", clampedSrv, clampedHost)
	}
	// "route": the route to the server says 1300 (the link
	// says 1500 again); both SYNs are clamped to it, 1240 less 12.
	netnstest.IP(t, m, "link set m1 mtu 1500", "-6 route add "+serverAddr+"/128 dev m1 mtu 1300")
	writeConf(`{"clamp-mss": "route", "rules": [{"interface": "m1", "internal": "` + internal + `", "external": "` + external + `"}]}`)
	d.Process.Signal(syscall.SIGHUP)
	netnstest.WaitFor(t, "the second reload", func() bool { return strings.Count(logs.String(), "reloaded") >= 2 })
	routeSrv, routeHost := netnstest.MaxSeg(t, ctx, s, serverAddr, h, serverAddr)
	if routeSrv != 1228 || routeHost != 1228 {
		t.Errorf("with clamp-mss \"route\" through a route of MTU 1300: server segments %d, host segments %d; want 1228", routeSrv, routeHost)
	}
	t.Logf("segment sizes (TCP_MAXSEG) server/host: %d/%d unclamped, %d/%d with clamp-mss to m1's 1280, %d/%d to a route's 1300",
		srvSeg, hostSeg, clampedSrv, clampedHost, routeSrv, routeHost)
	t.Logf("host %s is %v outside; ping, TCP both ways and ICMPv6 errors crossed the mapper", hostAddr, hostExt)
}
