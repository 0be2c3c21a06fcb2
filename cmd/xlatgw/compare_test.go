package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// TestCompare is the datapath comparison that scripts/compare.sh runs:
// every row on the same three-namespace topology, in one run,
//
//	client 2001:db8:c::10 -- gateway -- server 192.0.2.80 (and 2001:db8:5::80)
//
// rows: the kernel's own IPv6 forwarding from client to server (no
// translation: the ceiling of this testbed), xlatgw as SIIT (pool6 /96,
// the client by an EAMT entry), xlatgw as NAT64 (one pool4 address; the
// many-flow columns reuse 10,000 source ports, so after a warm-up they are
// established sessions), both again on the AF_XDP datapath (-xdp), and
// TAYGA. Columns: one TCP stream (iperf3), and
// 64-byte IPv6/UDP packets, one flow and a new source port every packet,
// each from the test's own sendmmsg generator and from trafgen, both
// pinned to CPU 0. Datagrams are counted in the server's UDP counters
// (InDatagrams + RcvbufErrors of a socket that never reads), where each
// one arrives by itself: a link counter would count a coalesced GSO
// superpacket once.
//
// It is a benchmark, so it runs only when asked (XLAT_COMPARE=1, as root);
// XLAT_COMPARE_RUNS, XLAT_COMPARE_SECS and XLAT_COMPARE_ROWS say how many
// runs, how long each measurement sends and which rows.
func TestCompare(t *testing.T) {
	if os.Getenv("XLAT_COMPARE") != "1" {
		t.Skip("a benchmark: set XLAT_COMPARE=1 (see scripts/compare.sh)")
	}
	netnstest.Need(t)
	for _, tool := range []string{"tayga", "iperf3", "trafgen", "taskset", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (scripts/compare.sh installs it)", tool)
		}
	}
	runs := envInt("XLAT_COMPARE_RUNS", 1)
	secs := envInt("XLAT_COMPARE_SECS", 3)
	rows := strings.Split(envOr("XLAT_COMPARE_ROWS", "kernel,siit,nat64,siit-xdp,nat64-xdp,tayga"), ",")
	bin := netnstest.Build(t, ".")
	var all []map[string]cells
	for run := 1; run <= runs; run++ {
		res := map[string]cells{}
		for _, row := range rows {
			t.Run(row, func(t *testing.T) {
				res[row] = measureRow(t, row, bin, secs)
			})
		}
		all = append(all, res)
		fmt.Printf("\nrun %d of %d (%d s a measurement)\n", run, runs, secs)
		printRun(rows, res)
	}
	if runs > 1 {
		fmt.Printf("\nmin-max over %d runs\n", runs)
		printRange(rows, all)
	}
}

// cells is one row's measurements: TCP in bit/s, UDP in datagrams/s
// delivered, and (from colOffered on) what the generator offered in each
// UDP column, so that a row limited by its generator shows as one.
type cells [9]float64

// The columns of a row.
const (
	colTCP = iota
	colOneMmsg
	colOneTrafgen
	colManyMmsg
	colManyTrafgen
	colOffered // + colOneMmsg-1 ... colManyTrafgen-1
)

var colNames = [...]string{"TCP Gbit/s", "1 flow mmsg", "1 flow trafgen", "many mmsg", "many trafgen"}

// manyFlows is how many source ports the many-flow columns cycle through.
const manyFlows = 10000

func measureRow(t *testing.T, row, bin string, secs int) cells {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, g, s := netnstest.Gateway3(t, "cm")
	// A row named base@N has N more routes in the gateway's table (a
	// synthetic full table): the rate must not depend on it.
	row, table, _ := strings.Cut(row, "@")
	if n, _ := strconv.Atoi(table); n > 0 {
		routes := netnstest.SyntheticRoutes(t, n)
		start := time.Now()
		netnstest.Sh(t, "ip", "-n", g, "-batch", routes)
		t.Logf("%s@%d: routes added in %v", row, n, time.Since(start).Round(time.Millisecond))
		// The kernel finishes a million routes' work (RCU callbacks,
		// the trie's rebalancing) for seconds after the last add: the
		// row measures the table, not that.
		time.Sleep(15 * time.Second)
	}
	netnstest.IP(t, g, "-6 addr add 2001:db8:5::1/64 dev g1 nodad")
	netnstest.IP(t, s, "-6 addr add 2001:db8:5::80/64 dev s0 nodad", "-6 route add default via 2001:db8:5::1")
	dst := "2001:db8:64::192.0.2.80"
	dir := t.TempDir()
	var d *exec.Cmd
	switch row {
	case "kernel":
		dst = "2001:db8:5::80"
		netnstest.Sh(t, "ip", "netns", "exec", g, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	case "siit", "nat64", "siit-xdp", "nat64-xdp":
		inst := `{"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:64::/96",
		    "eamt": [{"ipv6": "2001:db8:c::10/128", "ipv4": "198.51.100.10/32"}]}}`
		if strings.HasPrefix(row, "nat64") {
			inst = `{"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
		    "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32"}, {"protocol": "UDP", "prefix": "203.0.113.1/32"},
		      {"protocol": "ICMP", "prefix": "203.0.113.1/32"}]}}`
		}
		xdp := ""
		if strings.HasSuffix(row, "-xdp") {
			xdp = `"af-xdp": {"interfaces": ["g0", "g1"]},`
			// What the program sees is what the veth peer sent: a
			// checksum it left to offload would arrive partial.
			noChecksumOffload(t, c, "c0")
			noChecksumOffload(t, s, "s0")
		}
		cfg := filepath.Join(dir, "xlatgw.json")
		os.WriteFile(cfg, []byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"}, `+xdp+`
		  "instances": [`+inst+`]}`), 0o644)
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
	default:
		t.Fatalf("no row %q (kernel, siit, nat64, siit-xdp, nat64-xdp, tayga)", row)
	}
	var logs netnstest.Log
	if d != nil {
		d.Stdout, d.Stderr = &logs, &logs
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	}
	netnstest.WaitFor(t, row+" to forward", func() bool {
		return netnstest.Helper(ctx, c, "ping", dst).Run() == nil
	})

	var r cells
	r[colTCP] = iperfTCP(t, ctx, c, s, dst, secs)
	sink := netnstest.Helper(ctx, s, "udp-sink", "::")
	hold, _ := sink.StdinPipe()
	out, _ := sink.StdoutPipe()
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { hold.Close(); sink.Wait() }()
	if b := make([]byte, 10); func() bool { n, _ := out.Read(b); return !strings.HasPrefix(string(b[:n]), "listening") }() {
		t.Fatal("udp-sink did not start")
	}
	tg := trafgenConfigs(t, c, g, dst, dir)
	// A warm-up with every flow, so that the NAT64's sessions exist and
	// every row is measured in its steady state.
	udpRate(t, ctx, c, s, dst, 1, manyFlows, "")
	for _, m := range []struct {
		col, flows int
		tg         string
	}{{colOneMmsg, 1, ""}, {colOneTrafgen, 1, tg[0]}, {colManyMmsg, manyFlows, ""}, {colManyTrafgen, manyFlows, tg[1]}} {
		r[m.col], r[colOffered+m.col-colOneMmsg] = udpRate(t, ctx, c, s, dst, secs, m.flows, m.tg)
	}
	if t.Failed() {
		t.Log(logs.String())
	}
	return r
}

// iperfTCP returns one TCP stream's rate in bit/s, client to server.
func iperfTCP(t *testing.T, ctx context.Context, c, s, dst string, secs int) float64 {
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", s, "iperf3", "-s", "-1")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	time.Sleep(300 * time.Millisecond)
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", c, "iperf3", "-c", dst, "-J", "-t", strconv.Itoa(secs)).Output()
	if err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res.End.SumReceived.BitsPerSecond
}

// udpRate sends 64-byte UDP packets for secs seconds from the client, over
// flows source ports, with trafgen configuration tg or (when empty) the
// sendmmsg generator, and returns the datagrams per second the server's
// UDP layer saw and those the generator says it sent.
func udpRate(t *testing.T, ctx context.Context, c, s, dst string, secs, flows int, tg string) (delivered, offered float64) {
	t.Helper()
	before := udpDelivered(t, s)
	start := time.Now()
	var cmd *exec.Cmd
	if tg == "" {
		cmd = exec.CommandContext(ctx, "ip", "netns", "exec", c, "taskset", "-c", "0", os.Args[0], "-test.run=^TestHelperProcess$", "--",
			"flows-client", fmt.Sprintf("%s,%d,%d", dst, secs, flows))
		cmd.Env = append(os.Environ(), "XLAT_NETNS_HELPER=1")
	} else {
		cmd = exec.CommandContext(ctx, "ip", "netns", "exec", c, "timeout", "-s", "INT", strconv.Itoa(secs),
			"taskset", "-c", "0", "trafgen", "-o", "c0", "-i", tg, "-P", "1", "-C")
	}
	// timeout(1) ends trafgen with SIGINT and exits 124: judge trafgen
	// by its closing count instead.
	out, err := cmd.CombinedOutput()
	if (err != nil && tg == "") || (tg != "" && !strings.Contains(string(out), "packets outgoing")) {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond) // what is still queued on the way
	var sent float64
	if m := regexp.MustCompile(`sent (\d+)|(\d+) packets outgoing`).FindStringSubmatch(string(out)); m != nil {
		sent, _ = strconv.ParseFloat(m[1]+m[2], 64)
	}
	return float64(udpDelivered(t, s)-before) / elapsed.Seconds(), sent / elapsed.Seconds()
}

// udpDelivered is the UDP datagrams namespace ns has taken in, of both
// families: those queued to a socket and those a full socket dropped.
func udpDelivered(t *testing.T, ns string) int64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/snmp6").Output()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && (f[0] == "Udp6InDatagrams" || f[0] == "Udp6RcvbufErrors"):
			n, _ := strconv.ParseInt(f[1], 10, 64)
			total += n
		case strings.HasPrefix(l, "Udp: InDatagrams") && i+1 < len(lines):
			vals := strings.Fields(lines[i+1])
			for j, name := range f {
				if (name == "InDatagrams" || name == "RcvbufErrors") && j < len(vals) {
					n, _ := strconv.ParseInt(vals[j], 10, 64)
					total += n
				}
			}
		}
	}
	return total
}

// trafgenConfigs writes trafgen's packet configurations for one flow and
// for manyFlows source ports, from the client's interface to the
// gateway's, and returns their paths.
func trafgenConfigs(t *testing.T, c, g, dst, dir string) [2]string {
	mac := func(ns, dev string) string {
		out, err := exec.Command("ip", "-n", ns, "-j", "link", "show", dev).Output()
		if err != nil {
			t.Fatal(err)
		}
		var l []struct {
			Address string `json:"address"`
		}
		if json.Unmarshal(out, &l) != nil || len(l) != 1 {
			t.Fatalf("ip link show %s: %s", dev, out)
		}
		return l[0].Address
	}
	// trafgen reads no dotted quad inside an IPv6 address.
	eth := fmt.Sprintf("eth(da=%s, sa=%s, type=0x86dd), ipv6(sa=2001:db8:c::10, da=%s, hl=64)", mac(g, "g0"), mac(c, "c0"), netip.MustParseAddr(dst).StringExpanded())
	var paths [2]string
	for i, sp := range []string{"10000", fmt.Sprintf("dinc(10000, %d)", 10000+manyFlows-1)} {
		paths[i] = filepath.Join(dir, fmt.Sprintf("trafgen%d.cfg", i))
		// 16 octets of payload: 64-octet IPv6 packets.
		cfg := fmt.Sprintf("{ %s, udp(sp=%s, dp=9100), fill(0x41, 16) }\n", eth, sp)
		if err := os.WriteFile(paths[i], []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// printRun prints one run's table, with each row's ratio to TAYGA and to
// the kernel's own forwarding.
func printRun(rows []string, res map[string]cells) {
	fmt.Printf("%-18s", "")
	for _, n := range colNames {
		fmt.Printf(" %15s", n)
	}
	fmt.Println("   (UDP: thousand datagrams/s delivered)")
	for _, row := range rows {
		r := res[row]
		fmt.Printf("%-18s %15.2f", row, r[0]/1e9)
		for _, v := range r[colOneMmsg:colOffered] {
			fmt.Printf(" %15.0f", v/1e3)
		}
		fmt.Println()
	}
	fmt.Println("offered by the generators (thousand datagrams/s):")
	for _, row := range rows {
		r := res[row]
		fmt.Printf("%-18s %15s", row, "")
		for _, v := range r[colOffered:] {
			fmt.Printf(" %15.0f", v/1e3)
		}
		fmt.Println()
	}
	for _, base := range []string{"tayga", "kernel"} {
		b, ok := res[base]
		if !ok {
			continue
		}
		for _, row := range rows {
			if row == base || row == "kernel" {
				continue
			}
			fmt.Printf("%-18s", row+"/"+base[:1])
			for i := range b[:colOffered] {
				fmt.Printf(" %14.2fx", res[row][i]/b[i])
			}
			fmt.Println()
		}
	}
}

// printRange prints, per row and column, the smallest and largest value
// over the runs, and the same for the ratios to TAYGA and to the kernel
// (each ratio taken within one run).
func printRange(rows []string, all []map[string]cells) {
	span := func(f func(map[string]cells) float64, scale float64, format string) string {
		lo, hi := f(all[0]), f(all[0])
		for _, res := range all[1:] {
			v := f(res)
			lo, hi = min(lo, v), max(hi, v)
		}
		return fmt.Sprintf(format+"–"+format, lo/scale, hi/scale)
	}
	fmt.Printf("%-18s", "")
	for _, n := range colNames {
		fmt.Printf(" %15s", n)
	}
	fmt.Println()
	for _, row := range rows {
		fmt.Printf("%-18s", row)
		for i := range colNames {
			scale, format := 1e3, "%.0f"
			if i == colTCP {
				scale, format = 1e9, "%.2f"
			}
			fmt.Printf(" %15s", span(func(r map[string]cells) float64 { return r[row][i] }, scale, format))
		}
		fmt.Println()
	}
	for _, base := range []string{"tayga", "kernel"} {
		if _, ok := all[0][base]; !ok {
			continue
		}
		for _, row := range rows {
			if row == base || row == "kernel" {
				continue
			}
			fmt.Printf("%-18s", row+"/"+base[:1])
			for i := range colNames {
				fmt.Printf(" %14sx", span(func(r map[string]cells) float64 { return r[row][i] / r[base][i] }, 1, "%.2f"))
			}
			fmt.Println()
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
