package main

import (
	"context"
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

// The route-and-rule matrix: for each way a border box routes, the
// AF_XDP datapath must reach the outcome the kernel reaches, with the
// TUN-only gateway (where the kernel forwards every translated packet)
// as the reference. Two servers on two links answer for 203.0.113.100:
//
//	client --- g0  gateway  g1 192.0.2.1 --- 192.0.2.80 s    (lo 203.0.113.100)
//	                        g2 198.51.100.1 --- 198.51.100.80 u (lo 203.0.113.100)
//
// The client pings 64:ff9b::203.0.113.100 through a NAT64 with pool4
// 203.0.113.1; what it gets back (echo replies, ICMPv6 errors) and which
// server saw the requests is the outcome.

const matrixConfig = `{
  "tun": {"name": "xlat0", "mtu": 9000, "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
  "metrics": "127.0.0.1:19481",
  "instances": [
    {"name": "nat64", "type": "nat64", "nat64": {
      "pool6": "64:ff9b::/96", "wkp-allow-non-global": true,
      "pool4": [{"protocol": "ICMP", "prefix": "203.0.113.1/32"}]}}
  ]
}`

// routeCase is one row of the matrix: commands run in the gateway's
// namespace before the probe (setup), halfway through it (during), and
// after it (undo), and the outcome the kernel gives.
type routeCase struct {
	name                string
	setup, during, undo []string
	probes              int
	size                int           // of the echo requests' data (default 10)
	wait                time.Duration // after the last probe
	want                outcome
	needs               func() string // a reason to skip, or ""
}

// outcome is what the client and the servers saw.
type outcome struct {
	replies int
	via     string // the servers the requests reached: "s", "u", "s+u" or ""
	errors  string // ICMPv6 errors, "type/code" joined by commas, or "-"
	// fast says the AF_XDP datapath sent frames of its own; the kernel
	// must carry what the fast path cannot decide as it would.
	fast bool
}

func routeMatrix() []routeCase {
	viaS := "ip route add 203.0.113.100/32 via 192.0.2.80"
	viaU := "ip route add 203.0.113.100/32 via 198.51.100.80"
	del := "ip route del 203.0.113.100/32"
	return []routeCase{
		{name: "unicast", setup: []string{viaS}, undo: []string{del}, want: outcome{3, "s", "-", true}},
		{name: "blackhole before a default route",
			setup: []string{"ip route add default via 198.51.100.80", "ip route add blackhole 203.0.113.100/32"},
			undo:  []string{del, "ip route del default"},
			want:  outcome{0, "", "-", false}},
		{name: "unreachable before a default route",
			setup: []string{"ip route add default via 198.51.100.80", "ip route add unreachable 203.0.113.100/32"},
			undo:  []string{del, "ip route del default"},
			want:  outcome{0, "", "1/0", false}},
		{name: "prohibit before a default route",
			setup: []string{"ip route add default via 198.51.100.80", "ip route add prohibit 203.0.113.100/32"},
			undo:  []string{del, "ip route del default"},
			want:  outcome{0, "", "1/1", false}},
		{name: "throw to the next rule",
			setup: []string{viaU, "ip route add throw 203.0.113.100/32 table 100", "ip route add 203.0.113.96/28 via 192.0.2.80 table 100", "ip rule add pref 100 lookup 100"},
			undo:  []string{"ip rule del pref 100", "ip route flush table 100", del},
			want:  outcome{3, "u", "-", true}},
		{name: "ECMP multipath",
			setup: []string{"ip route add 203.0.113.100/32 nexthop via 192.0.2.80 nexthop via 198.51.100.80"},
			undo:  []string{del},
			want:  outcome{3, "s|u", "-", true}},
		{name: "ip rule by source",
			setup: []string{viaS, "ip route add 203.0.113.100/32 via 198.51.100.80 table 101", "ip rule add pref 101 from 203.0.113.1 lookup 101"},
			undo:  []string{"ip rule del pref 101", "ip route flush table 101", del},
			want:  outcome{3, "u", "-", true}},
		{name: "ip rule by input interface",
			setup: []string{viaS, "ip route add 203.0.113.100/32 via 198.51.100.80 table 102", "ip rule add pref 102 iif xlat0 lookup 102"},
			undo:  []string{"ip rule del pref 102", "ip route flush table 102", del},
			want:  outcome{3, "u", "-", true}},
		{name: "ip rule by fwmark from nftables",
			setup: []string{viaS, "ip route add 203.0.113.100/32 via 198.51.100.80 table 103", "ip rule add pref 103 fwmark 1 lookup 103",
				"nft add table ip xlatmark", "nft add chain ip xlatmark pre { type filter hook prerouting priority -150 ; }",
				"nft add rule ip xlatmark pre iifname xlat0 meta mark set 1"},
			undo: []string{"nft delete table ip xlatmark", "ip rule del pref 103", "ip route flush table 103", del},
			// The mark is set after XDP has run: the fast path hands
			// everything to the kernel while such a rule exists.
			want:  outcome{3, "u", "-", false},
			needs: func() string { return lookPath("nft", "nftables") }},
		{name: "a VRF",
			setup: []string{"ip link add blue type vrf table 104", "ip link set blue up", "ip link set xlat0 master blue", "ip link set g2 master blue",
				"ip route add 64:ff9b::/96 dev xlat0 table 104", "ip route add 203.0.113.1/32 dev xlat0 table 104",
				"ip route add 203.0.113.100/32 via 198.51.100.80 table 104", viaS},
			undo: []string{"ip link set g2 nomaster", "ip link set xlat0 nomaster", "ip link del blue", "ip link set g2 up", "ip addr replace 198.51.100.1/24 dev g2",
				"ip route replace 64:ff9b::/96 dev xlat0", "ip route replace 203.0.113.1/32 dev xlat0", del},
			want:  outcome{3, "u", "-", true},
			needs: vrfSupport},
		{name: "route changed while traffic flows",
			setup:  []string{viaS},
			during: []string{"ip route replace 203.0.113.100/32 via 198.51.100.80"},
			undo:   []string{del},
			probes: 10,
			want:   outcome{10, "s+u", "-", true}},
		{name: "next hop that never answers",
			setup: []string{"ip route add 203.0.113.100/32 via 192.0.2.81"},
			undo:  []string{del, "ip neigh flush dev g1"},
			wait:  4 * time.Second,
			want:  outcome{0, "", "1/0", false}},
		// Fault item 7: an MTU raised at runtime holds at once, and where
		// the way on is narrower the sender learns it (Packet Too Big).
		{name: "MTU raised on the way in only",
			setup: []string{viaS, "ip link set g0 mtu 2000", "@c ip link set c0 mtu 2000"},
			undo:  []string{"@c ip link set c0 mtu 1500", "ip link set g0 mtu 1500", del},
			size:  1800,
			want:  outcome{0, "", "2/0", false}},
		{name: "TUN MTU lowered at runtime",
			setup: []string{viaS, "ip link set g0 mtu 2000", "ip link set g1 mtu 2000", "@c ip link set c0 mtu 2000", "@s ip link set s0 mtu 2000", "ip link set xlat0 mtu 1500"},
			undo:  []string{"ip link set xlat0 mtu 9000", "@c ip link set c0 mtu 1500", "@s ip link set s0 mtu 1500", "ip link set g0 mtu 1500", "ip link set g1 mtu 1500", del},
			size:  1800,
			want:  outcome{0, "", "2/0", false}},
		{name: "MTU raised at runtime",
			setup: []string{viaS, "ip link set g0 mtu 2000", "ip link set g1 mtu 2000", "@c ip link set c0 mtu 2000", "@s ip link set s0 mtu 2000"},
			undo:  []string{"@c ip link set c0 mtu 1500", "@s ip link set s0 mtu 1500", "ip link set g0 mtu 1500", "ip link set g1 mtu 1500", del},
			size:  1800,
			want:  outcome{3, "s", "-", true}},
		{name: "blackhole in pool6",
			setup: []string{viaS, "ip -6 route add blackhole 64:ff9b::cb00:7164/128"},
			undo:  []string{"ip -6 route del 64:ff9b::cb00:7164/128", del},
			want:  outcome{0, "", "-", false}},
		{name: "the gateway's own address",
			setup: []string{viaS, "ip addr add 203.0.113.100/32 dev lo"},
			undo:  []string{"ip addr del 203.0.113.100/32 dev lo", del},
			want:  outcome{3, "", "-", false}},
	}
}

func lookPath(cmd, pkg string) string {
	if _, err := exec.LookPath(cmd); err != nil {
		return "needs " + cmd + " (apt-get install " + pkg + ")"
	}
	return ""
}

// vrfSupport says why VRF devices cannot be made here, or "".
func vrfSupport() string { return linkTypeSupport("vrf", "table", "1") }

// linkTypeSupport says why links of a type (with the arguments it needs)
// cannot be made here, or "".
func linkTypeSupport(typ string, args ...string) string {
	ns := "xlatlt" + strconv.Itoa(os.Getpid()%100000)
	if exec.Command("ip", "netns", "add", ns).Run() != nil {
		return "cannot make a namespace"
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	cmd := append([]string{"-n", ns, "link", "add", "t2", "type", typ}, args...)
	if typ == "vlan" { // a VLAN sits on a link
		if out, err := exec.Command("ip", "-n", ns, "link", "add", "t0", "type", "veth", "peer", "name", "t1").CombinedOutput(); err != nil {
			return "cannot make a link to test with: " + strings.TrimSpace(string(out))
		}
		cmd = append([]string{"-n", ns, "link", "add", "link", "t0", "name", "t2", "type", typ}, args...)
	}
	if out, err := exec.Command("ip", cmd...).CombinedOutput(); err != nil {
		return "the kernel has no " + typ + " links: " + strings.TrimSpace(string(out))
	}
	return ""
}

func TestFaultRouteMatrix(t *testing.T) {
	netnstest.Need(t)
	needXDP(t)
	bin := netnstest.Build(t, ".")
	cases := routeMatrix()
	var got [2][]outcome
	for i, xdp := range []bool{false, true} {
		got[i] = runMatrix(t, bin, xdp, cases)
	}
	for i, c := range cases {
		if c.needs != nil {
			if why := c.needs(); why != "" {
				t.Logf("%-36s skipped: %s", c.name, why)
				continue
			}
		}
		k, x := got[0][i], got[1][i]
		t.Logf("%-36s kernel (TUN): %-28v AF_XDP: %v", c.name, fmtOutcome(k), fmtOutcome(x))
		if !c.want.matches(k, false) {
			t.Errorf("%s: the kernel's path gave %s; the test expects %s", c.name, fmtOutcome(k), fmtOutcome(c.want))
		}
		if !c.want.matches(x, true) || (c.want.via != "s|u" && (x.replies != k.replies || x.via != k.via || x.errors != k.errors)) {
			t.Errorf("%s: AF_XDP gave %s, the kernel %s", c.name, fmtOutcome(x), fmtOutcome(k))
		}
	}
}

func fmtOutcome(o outcome) string {
	via := o.via
	if via == "" {
		via = "none"
	}
	return "replies=" + strconv.Itoa(o.replies) + " via=" + via + " errors=" + o.errors + " fast=" + strconv.FormatBool(o.fast)
}

func (want outcome) matches(o outcome, xdp bool) bool {
	if o.replies != want.replies || o.errors != want.errors {
		return false
	}
	if xdp && o.fast != want.fast {
		return false
	}
	if want.via == "s|u" {
		return o.via == "s" || o.via == "u"
	}
	return o.via == want.via
}

// runMatrix runs every case on one datapath and returns the outcomes.
func runMatrix(t *testing.T, bin string, xdp bool, cases []routeCase) []outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prefix := "rm"
	config := matrixConfig
	if xdp {
		prefix = "rx"
		config = withAFXDP(config, "g0", "g1", "g2")
	}
	cfg := filepath.Join(t.TempDir(), "xlatgw.json")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c, g, s := netnstest.Gateway3(t, prefix)
	u := netnstest.NS(t, prefix+"u")
	netnstest.Veth(t, g, "g2", u, "u0")
	netnstest.IP(t, g, "addr add 198.51.100.1/24 dev g2", "link set g2 up")
	netnstest.IP(t, u, "addr add 198.51.100.80/24 dev u0", "link set u0 up", "link set lo up", "route add default via 198.51.100.1")
	netnstest.IP(t, s, "addr add 203.0.113.100/32 dev lo")
	netnstest.IP(t, u, "addr add 203.0.113.100/32 dev lo")
	if xdp {
		noChecksumOffload(t, c, "c0")
		noChecksumOffload(t, s, "s0")
		noChecksumOffload(t, u, "u0")
	}
	var logs netnstest.Log
	d, _ := runXlatgw(t, ctx, g, bin, cfg, &logs)
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()

	// echos is how many echo requests a server's stack has taken in.
	echos := func(ns string) int {
		out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
		lines := strings.Split(string(out), "\n")
		for i := 0; i+1 < len(lines); i++ {
			if strings.HasPrefix(lines[i], "Icmp: InMsgs") {
				names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
				for k, n := range names {
					if n == "InEchos" && k < len(values) {
						v, _ := strconv.Atoi(values[k])
						return v
					}
				}
			}
		}
		t.Fatalf("no Icmp InEchos in %s's /proc/net/snmp", ns)
		return 0
	}
	// fast is how many frames the AF_XDP datapath has sent itself.
	fast := func() float64 {
		if !xdp {
			return 0
		}
		m := netnstest.Output(t, ctx, g, "http-get", "http://127.0.0.1:19481/metrics")
		return metric(m, `xlatgw_xdp_packets_total\{event="transmitted",queue="0"\}`)
	}
	// A command runs in the gateway's namespace, or in the client's or a
	// server's when it starts with @c, @s or @u.
	where := map[string]string{"@c": c, "@s": s, "@u": u}
	sh := func(cmds []string) {
		for _, cmd := range cmds {
			ns := g
			if w, rest, ok := strings.Cut(cmd, " "); ok && where[w] != "" {
				ns, cmd = where[w], rest
			}
			args := append([]string{"netns", "exec", ns}, strings.Fields(cmd)...)
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Errorf("%s in %s: %v\n%s", cmd, ns, err, out)
			}
		}
	}
	var outs []outcome
	for _, rc := range cases {
		if rc.needs != nil && rc.needs() != "" {
			outs = append(outs, outcome{})
			continue
		}
		sh(rc.setup)
		probes, gap := rc.probes, 200*time.Millisecond
		if probes == 0 {
			probes = 3
		} else {
			gap = 100 * time.Millisecond
		}
		wait := rc.wait
		if wait == 0 {
			wait = 1500 * time.Millisecond
		}
		s0, u0, f0 := echos(s), echos(u), fast()
		p := netnstest.Helper(ctx, c, "probe", "64:ff9b::cb00:7164")
		size := rc.size
		if size == 0 {
			size = 10
		}
		p.Env = append(p.Env, "XLAT_PROBE_SIZE="+strconv.Itoa(size), "XLAT_PROBES="+strconv.Itoa(probes), "XLAT_PROBE_GAP="+strconv.Itoa(int(gap/time.Millisecond)), "XLAT_PROBE_WAIT="+strconv.Itoa(int(wait/time.Millisecond)))
		var out strings.Builder
		p.Stdout = &out
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if rc.during != nil {
			time.Sleep(time.Duration(probes) * gap / 2)
			sh(rc.during)
		}
		if err := p.Wait(); err != nil {
			t.Errorf("%s: probe: %v", rc.name, err)
		}
		var o outcome
		for _, f := range strings.Fields(out.String()) {
			if v, ok := strings.CutPrefix(f, "replies="); ok {
				o.replies, _ = strconv.Atoi(v)
			}
			if v, ok := strings.CutPrefix(f, "errors="); ok {
				o.errors = v
			}
		}
		switch ds, du := echos(s)-s0, echos(u)-u0; {
		case ds > 0 && du > 0:
			o.via = "s+u"
		case ds > 0:
			o.via = "s"
		case du > 0:
			o.via = "u"
		}
		o.fast = fast() > f0
		outs = append(outs, o)
		sh(rc.undo)
	}
	if t.Failed() {
		t.Logf("xlatgw (af-xdp %v): %s", xdp, logs.String())
	}
	return outs
}

// A BGP feed arriving is a storm of route announcements: the gateway
// must not spin on them (a closed subscription read over and over), must
// settle back to idle within seconds of the storm's end, and must still
// decide by the current table after it. XLAT_STORM_ROUTES sets the size
// of the storm (default 200,000 /24 routes; 1,000,000 is a full table).
func TestFaultRouteStorm(t *testing.T) {
	netnstest.Need(t)
	needXDP(t)
	n := envInt("XLAT_STORM_ROUTES", 200000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := netnstest.Build(t, ".")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "xlatgw.json")
	config := withAFXDP(strings.Replace(matrixConfig, "19481", "19482", 1), "g0", "g1")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c, g, s := netnstest.Gateway3(t, "rs")
	noChecksumOffload(t, c, "c0")
	noChecksumOffload(t, s, "s0")
	var logs netnstest.Log
	d, _ := runXlatgw(t, ctx, g, bin, cfg, &logs)
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("xlatgw: %s", logs.String())
		}
	}()
	probe := func() outcome {
		p := netnstest.Helper(ctx, c, "probe", "64:ff9b::192.0.2.80")
		out, err := p.Output()
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		var o outcome
		fmt.Sscanf(string(out), "replies=%d", &o.replies)
		return o
	}
	if o := probe(); o.replies != 3 {
		t.Fatalf("before the storm: %d of 3 echo replies", o.replies)
	}
	idle := cpuOver(t, d.Process.Pid, 2*time.Second)

	routes := netnstest.SyntheticRoutes(t, n)
	start, cpu0 := time.Now(), cpuTime(t, d.Process.Pid)
	netnstest.Sh(t, "ip", "-n", g, "-batch", routes)
	added, during := time.Since(start), cpuTime(t, d.Process.Pid)-cpu0

	// Settled: a 2-second window whose CPU time is that of an idle
	// gateway, within 10 s of the storm's end.
	var settled time.Duration
	var last time.Duration
	for time.Since(start)-added < 10*time.Second {
		last = cpuOver(t, d.Process.Pid, 2*time.Second)
		if last <= idle+100*time.Millisecond {
			settled = time.Since(start) - added
			break
		}
	}
	t.Logf("%d routes added in %v, xlatgw using %v of CPU meanwhile; %v per 2 s idle before, %v per 2 s again within %v of the storm's end", n, added.Round(time.Millisecond), during, idle, last, settled.Round(time.Millisecond))
	if settled == 0 {
		t.Fatalf("xlatgw still used %v of CPU per 2 s 10 s after the storm (idle: %v)", last, idle)
	}
	// Still the kernel's answers: the server's route, then a blackhole
	// over it, then the route again.
	if o := probe(); o.replies != 3 {
		t.Errorf("after the storm: %d of 3 echo replies", o.replies)
	}
	netnstest.IP(t, g, "route add blackhole 192.0.2.80/32")
	if o := probe(); o.replies != 0 {
		t.Errorf("with a blackhole added after the storm: %d echo replies, want none", o.replies)
	}
	netnstest.IP(t, g, "route del blackhole 192.0.2.80/32")
	if o := probe(); o.replies != 3 {
		t.Errorf("with the blackhole gone: %d of 3 echo replies", o.replies)
	}
}

// cpuOver is the CPU time process pid uses over the next d.
func cpuOver(t *testing.T, pid int, d time.Duration) time.Duration {
	t.Helper()
	before := cpuTime(t, pid)
	time.Sleep(d)
	return cpuTime(t, pid) - before
}

// cpuTime is the user and system time process pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}
