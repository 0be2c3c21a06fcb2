package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// TestCompareTAYGA measures xlatgw and TAYGA (Debian's tayga) on the same
// netns topology in one run: TCP throughput and 64-byte UDP packets per
// second delivered, both with iperf3, IPv6 client to IPv4 server through
// NAT64. It is a benchmark, so it runs only when asked:
//
//	sudo XLAT_COMPARE_TAYGA=1 go test -run TestCompareTAYGA -v ./cmd/xlatgw/
//
// (scripts/compare-tayga.sh installs tayga and iperf3 and runs it.)
func TestCompareTAYGA(t *testing.T) {
	if os.Getenv("XLAT_COMPARE_TAYGA") != "1" {
		t.Skip("a benchmark: set XLAT_COMPARE_TAYGA=1 (see scripts/compare-tayga.sh)")
	}
	netnstest.Need(t)
	for _, tool := range []string{"tayga", "iperf3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install tayga iperf3)", tool)
		}
	}
	dir := t.TempDir()
	bin := netnstest.Build(t, ".")
	type result struct{ tcp, pps, blast float64 }
	results := map[string]result{}
	for _, name := range []string{"xlatgw", "tayga"} {
		tcp, pps, blast := measure(t, name, bin, dir)
		results[name] = result{tcp, pps, blast}
	}
	x, y := results["xlatgw"], results["tayga"]
	fmt.Printf("\n%-8s %14s %18s %18s\n", "", "TCP (Gbit/s)", "UDP 64 B (kpps)", "iperf3 UDP (kpps)")
	fmt.Printf("%-8s %14.2f %18.1f %18.1f\n", "xlatgw", x.tcp/1e9, x.blast/1e3, x.pps/1e3)
	fmt.Printf("%-8s %14.2f %18.1f %18.1f\n", "tayga", y.tcp/1e9, y.blast/1e3, y.pps/1e3)
	fmt.Printf("%-8s %13.2fx %17.2fx %17.2fx\n", "ratio", x.tcp/y.tcp, x.blast/y.blast, x.pps/y.pps)
}

// measureSecs is how long each measurement sends.
const measureSecs = 5

// measure builds client -- gw -- server, starts the named translator in
// gw, and runs iperf3 for TCP and for small UDP datagrams.
func measure(t *testing.T, name, bin, dir string) (tcpBps, udpPps, blastPps float64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pfx := map[string]string{"xlatgw": "bx", "tayga": "bt"}[name]
	c, g, s := netnstest.Gateway3(t, pfx)

	var d *exec.Cmd
	switch name {
	case "xlatgw":
		cfg := filepath.Join(dir, "bench.json")
		os.WriteFile(cfg, []byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
		  "instances": [{"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
		    "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32"}, {"protocol": "UDP", "prefix": "203.0.113.1/32"}, {"protocol": "ICMP", "prefix": "203.0.113.1/32"}]}}]}`), 0o644)
		d = exec.CommandContext(ctx, "ip", "netns", "exec", g, bin, "run", "-config", cfg)
	case "tayga":
		data := filepath.Join(dir, "tayga")
		os.MkdirAll(data, 0o755)
		conf := filepath.Join(dir, "tayga.conf")
		os.WriteFile(conf, []byte("tun-device nat64\nipv4-addr 198.51.100.254\nprefix 2001:db8:64::/96\nipv6-addr 2001:db8:c::2\ndynamic-pool 203.0.113.0/24\ndata-dir "+data+"\n"), 0o644)
		netnstest.Sh(t, "ip", "netns", "exec", g, "tayga", "-c", conf, "--mktun")
		netnstest.IP(t, g, "link set nat64 up", "route add 203.0.113.0/24 dev nat64", "-6 route add 2001:db8:64::/96 dev nat64")
		netnstest.Sh(t, "ip", "netns", "exec", g, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
		d = exec.CommandContext(ctx, "ip", "netns", "exec", g, "tayga", "-c", conf, "-n")
	}
	var logs netnstest.Log
	d.Stdout, d.Stderr = &logs, &logs
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	// Wait until the path works.
	netnstest.WaitFor(t, name+" to translate", func() bool {
		return netnstest.Helper(ctx, c, "ping", "2001:db8:64::192.0.2.80").Run() == nil
	})

	iperf := func(args ...string) map[string]any {
		srv := exec.CommandContext(ctx, "ip", "netns", "exec", s, "iperf3", "-s", "-1", "-B", "192.0.2.80")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Wait()
		time.Sleep(300 * time.Millisecond)
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c, "iperf3", "-c", "2001:db8:64::192.0.2.80", "-J", "-t", strconv.Itoa(measureSecs)}, args...)...).Output()
		if err != nil {
			t.Fatalf("%s iperf3 %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, logs.String())
		}
		var res map[string]any
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	end := func(res map[string]any, path ...string) float64 {
		var v any = res["end"]
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		f, _ := v.(float64)
		return f
	}
	tcp := iperf()
	tcpBps = end(tcp, "sum_received", "bits_per_second")
	// 64-byte IPv6 packets: 40 + 8 + 16 bytes of payload.
	udp := iperf("-u", "-l", "16", "-b", "0")
	pk, lost, secs := end(udp, "sum", "packets"), end(udp, "sum", "lost_packets"), end(udp, "sum", "seconds")
	if secs > 0 {
		udpPps = (pk - lost) / secs
	}
	t.Logf("%s: TCP %.2f Gbit/s, iperf3 UDP 64 B %.1f kpps delivered (%.0f sent, %.0f lost)", name, tcpBps/1e9, udpPps/1e3, pk, lost)

	// The same datagrams from a sender and receiver that move 64 per
	// system call, for as long.
	srv, out := netnstest.Serve(t, ctx, s, "blast-server", "192.0.2.80")
	cli, err := netnstest.Helper(ctx, c, "blast-client", fmt.Sprintf("2001:db8:64::192.0.2.80,%d", measureSecs)).Output()
	if err != nil {
		t.Fatalf("%s blast-client: %v\n%s", name, err, logs.String())
	}
	var sent, received float64
	fmt.Sscanf(string(cli), "sent %g", &sent)
	line, _ := out.ReadString('\n')
	fmt.Sscanf(line, "received %g", &received)
	srv.Wait()
	blastPps = received / measureSecs
	t.Logf("%s: sendmmsg UDP 64 B %.1f kpps delivered (%.0f sent, %.0f received)", name, blastPps/1e3, sent, received)
	return tcpBps, udpPps, blastPps
}
