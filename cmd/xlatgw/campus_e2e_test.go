package main

import (
	"context"
	"fmt"
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

// The campus deployment of examples/campus, end to end with real FRR:
//
//	client c ── campus router r (zebra, bgpd, bfdd) ── server s 203.0.113.200
//	2001:db8:c::10   │ 2001:db8:ca:a::/64           │ 2001:db8:ca:b::/64
//	                 │ 198.51.100.0/29              │ 198.51.100.8/29
//	     box A data namespace             box B data namespace
//	     (datapath; zebra, bgpd, bfdd)    (datapath; zebra, bgpd, bfdd)
//	     box A management namespace ──── box B management namespace
//	     (xlatgw, sync .241)   198.51.100.240/30   (xlatgw, sync .242)
//
// Each box announces the NAT64 halves, the SIIT prefix and the way back
// (pool4, EAMT) to the router over eBGP sessions tied to BFD (3 x 100
// ms); the router prefers A (examples/campus/frr-router.conf,
// frr-box-*.conf; Debian 12's FRR 8.4 has no BFD for static routes).
// xlatgw runs the campus instances (box-*.json, as they are but for file
// paths and namespace names) with its datapath in the data namespace.
// The test stands in for systemd: it owns each xlatgw's NOTIFY_SOCKET,
// and when xlatgw exits or its watchdog pings stop for WatchdogSec it
// stops that box's FRR, as BindsTo= would. A long download through
// NAT64 and a UDP flow run while A fails: killed, or its process frozen
// (the watchdog's case); the download completes with equal SHA-256, the
// router's BFD sessions to A are down, and the test prints how long
// traffic stopped.
func TestCampusFailover(t *testing.T) {
	netnstest.Need(t)
	for _, d := range []string{"zebra", "bgpd", "bfdd"} {
		if _, err := os.Stat("/usr/lib/frr/" + d); err != nil {
			t.Skipf("needs Debian's frr package for %s (.ci/run installs it): %v", d, err)
		}
	}
	bin := netnstest.Build(t, ".")
	t.Run("kill", func(t *testing.T) { campusFailover(t, bin, "kill") })
	t.Run("stall", func(t *testing.T) { campusFailover(t, bin, "stall") })
}

// campusWatchdog is the boxes' WatchdogSec.
const campusWatchdog = 600 * time.Millisecond

// frrDaemons runs FRR daemons in ns with conf, each in the foreground in
// a directory of its own the frr user owns, and returns them.
func frrDaemons(t *testing.T, ctx context.Context, ns, dir, conf string, daemons ...string) []*exec.Cmd {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "frr.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	netnstest.Sh(t, "chown", "-R", "frr:frr", dir)
	var cmds []*exec.Cmd
	for _, d := range daemons {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "/usr/lib/frr/"+d, "-u", "frr", "-g", "frr",
			"-f", filepath.Join(dir, "frr.conf"), "-i", filepath.Join(dir, d+".pid"), "-z", filepath.Join(dir, "zserv.api"),
			"--vty_socket", dir, "-P", "0", "--log", "file:"+filepath.Join(dir, d+".log"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		if d == "zebra" {
			netnstest.WaitFor(t, "zebra's socket in "+ns, func() bool { _, err := os.Stat(filepath.Join(dir, "zserv.api")); return err == nil })
		}
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			c.Wait()
		}
	})
	return cmds
}

// box is one gateway box under the test's stand-in for systemd.
type box struct {
	name       string
	mgmt, data string
	gw         *exec.Cmd
	logs       netnstest.Log
	notify     *netnstest.Notify
	frr        []*exec.Cmd // zebra, bfdd and bgpd: frr.service, bound to xlatgw
	exited     chan struct{}
	bfdStopped chan string // why, once the stand-in stopped FRR
}

// start runs xlatgw in the box's management namespace with a watchdog
// (runXlatgw waits for READY=1), and supervises it as systemd would:
// when xlatgw exits or its WATCHDOG=1 pings stop for WatchdogSec, the
// box's FRR
// (bfdd with the bgpd it serves) is stopped, SIGTERM to all its daemons
// at once, as systemd stops frr.service bound with BindsTo=.
func (b *box) start(t *testing.T, ctx context.Context, bin, cfg string) {
	t.Helper()
	b.gw, b.notify = runXlatgw(t, ctx, b.mgmt, bin, cfg, &b.logs, "WATCHDOG_USEC="+strconv.Itoa(int(campusWatchdog/time.Microsecond)))
	b.exited, b.bfdStopped = make(chan struct{}), make(chan string, 1)
	go func() { b.gw.Wait(); close(b.exited) }()
	go func() {
		last := time.Now()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		why := ""
		for why == "" {
			select {
			case m := <-b.notify.C():
				if strings.Contains(m.State, "WATCHDOG=1") {
					last = m.At
				}
			case <-b.exited:
				why = "xlatgw exited"
			case <-tick.C:
				if time.Since(last) > campusWatchdog {
					why = fmt.Sprintf("no watchdog ping for %v", time.Since(last).Round(time.Millisecond))
				}
			case <-ctx.Done():
				return
			}
		}
		for _, c := range b.frr { // systemd stops the whole unit at once
			c.Process.Signal(syscall.SIGTERM)
		}
		b.bfdStopped <- why
	}()
}

func campusFailover(t *testing.T, bin, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "campus")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the frr user reads its directories in it
	t.Cleanup(func() { os.RemoveAll(dir) })
	key := filepath.Join(dir, "sync.key")
	os.WriteFile(key, []byte("5ca1ab1e0ddba11c0ffee00d15ea5e5a5ca1ab1e0ddba11c0ffee00d15ea5e5a\n"), 0o600)

	p := map[string]string{"kill": "k", "stall": "z"}[mode]
	c, r, s := netnstest.NS(t, p+"cc"), netnstest.NS(t, p+"cr"), netnstest.NS(t, p+"cs")
	a := &box{name: "A", mgmt: netnstest.NS(t, p+"cam"), data: netnstest.NS(t, p+"cad")}
	b := &box{name: "B", mgmt: netnstest.NS(t, p+"cbm"), data: netnstest.NS(t, p+"cbd")}
	netnstest.Veth(t, c, "cr", r, "rc")
	netnstest.Veth(t, s, "sr", r, "rs")
	netnstest.Veth(t, r, "ra", a.data, "a0")
	netnstest.Veth(t, r, "rb", b.data, "b0")
	netnstest.Veth(t, a.mgmt, "ab", b.mgmt, "ba")
	netnstest.IP(t, c, "link set lo up", "addr add 2001:db8:c::10/64 dev cr nodad", "link set cr up", "-6 route add default via 2001:db8:c::1")
	netnstest.IP(t, s, "link set lo up", "addr add 203.0.113.200/26 dev sr", "link set sr up", "route add default via 203.0.113.193")
	netnstest.IP(t, r, "link set lo up", "addr add 2001:db8:c::1/64 dev rc nodad", "addr add 203.0.113.193/26 dev rs",
		"addr add 2001:db8:ca:a::1/64 dev ra nodad", "addr add 198.51.100.1/29 dev ra",
		"addr add 2001:db8:ca:b::1/64 dev rb nodad", "addr add 198.51.100.9/29 dev rb",
		"link set rc up", "link set rs up", "link set ra up", "link set rb up")
	netnstest.Sh(t, "ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	for _, x := range []struct {
		b                 *box
		link, v6, v4, gw4 string
		syncIf, syncAddr  string
	}{
		{a, "a0", "2001:db8:ca:a::", "198.51.100.2/29", "198.51.100.1", "ab", "198.51.100.241/30"},
		{b, "b0", "2001:db8:ca:b::", "198.51.100.10/29", "198.51.100.9", "ba", "198.51.100.242/30"},
	} {
		netnstest.IP(t, x.b.data, "link set lo up", "addr add "+x.v6+"2/64 dev "+x.link+" nodad", "addr add "+x.v4+" dev "+x.link,
			"link set "+x.link+" up", "-6 route add default via "+x.v6+"1", "route add default via "+x.gw4)
		netnstest.IP(t, x.b.mgmt, "link set lo up", "addr add "+x.syncAddr+" dev "+x.syncIf, "link set "+x.syncIf+" up")
	}

	example := func(name string) string {
		b, err := os.ReadFile(filepath.Join("../../examples/campus", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	frrDaemons(t, ctx, r, filepath.Join(dir, "r"), example("frr-router.conf"), "zebra", "bfdd", "bgpd")
	for _, x := range []*box{a, b} {
		lower := strings.ToLower(x.name)
		x.frr = frrDaemons(t, ctx, x.data, filepath.Join(dir, lower), example("frr-box-"+lower+".conf"), "zebra", "bfdd", "bgpd")
		cfg := filepath.Join(dir, "box-"+lower+".json")
		conf := strings.NewReplacer(`"data-netns": "data"`, fmt.Sprintf(`"data-netns": %q`, x.data),
			"/etc/xlatgw/sync.key", key, "/run/xlatgw/admin.sock", filepath.Join(dir, lower+".sock"),
			"/var/log/xlatgw/mappings.log", filepath.Join(dir, lower+"-mappings.log")).Replace(example("box-" + lower + ".json"))
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		x.start(t, ctx, bin, cfg)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, x := range []*box{a, b} {
				var out strings.Builder
				err := healthCmd([]string{"-socket", filepath.Join(dir, strings.ToLower(x.name)+".sock")}, &out)
				show([]string{"sync", "-socket", filepath.Join(dir, strings.ToLower(x.name)+".sock")}, &out)
				show([]string{"sessions", "-socket", filepath.Join(dir, strings.ToLower(x.name)+".sock")}, &out)
				t.Logf("box %s health (%v):\n%s", x.name, err, out.String())
				select {
				case why := <-x.bfdStopped:
					t.Logf("box %s: its FRR was stopped: %s", x.name, why)
				default:
				}
				x.gw.Process.Signal(syscall.SIGQUIT) // a goroutine dump in its log
			}
			time.Sleep(500 * time.Millisecond)
		}
		for _, x := range []*box{a, b} {
			x.gw.Process.Signal(syscall.SIGCONT)
			x.gw.Process.Signal(syscall.SIGTERM)
			select {
			case <-x.exited:
			case <-time.After(5 * time.Second):
				x.gw.Process.Kill()
				<-x.exited
			}
			if t.Failed() {
				t.Logf("box %s xlatgw: %s", x.name, x.logs.String())
			}
		}
	})

	// The router's next hops, as the kernel has them.
	via := func(prefix string, family string) string {
		out, _ := exec.Command("ip", "-n", r, family, "route", "show", prefix).Output()
		return string(out)
	}
	const server6 = "2001:db8:ca:64::cb00:71c8" // 203.0.113.200 in pool6
	// BFD sessions come up within a second or two (slow start at 1 s,
	// then 100 ms); only then does zebra install A's routes.
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.Contains(via("2001:db8:ca:64::8000:0/97", "-6"), "dev ra") &&
			strings.Contains(via("203.0.113.32/27", "-4"), "via 198.51.100.2") {
			break
		}
		if time.Now().After(end) {
			out, _ := exec.Command("ip", "netns", "exec", r, "vtysh", "--vty_socket", filepath.Join(dir, "r"), "-c", "show bfd peers brief", "-c", "show bgp summary", "-c", "show ipv6 route", "-c", "show ip route").CombinedOutput()
			log, _ := os.ReadFile(filepath.Join(dir, "r", "bgpd.log"))
			out = append(out, log...)
			t.Fatalf("BFD not up, or the routes not through A, after 20 s; the router says:\n%s", out)
		}
	}
	netnstest.Run(t, ctx, c, "ping", server6)

	t.Setenv("XLAT_CHAT_TIME", "7s")
	udpSrv, udpSrvOut := netnstest.Serve(t, ctx, s, "udp-flow-server", "203.0.113.200")
	var udpOut strings.Builder
	udpCli := netnstest.Helper(ctx, c, "udp-flow-client", server6)
	udpCli.Stdout, udpCli.Stderr = &udpOut, &udpOut
	if err := udpCli.Start(); err != nil {
		t.Fatal(err)
	}

	// 16 MiB paced to take about 4 s; A fails after 1.5 s of it.
	t.Setenv("XLAT_BULK_PACE", "60ms")
	var failedAt, bfdStoppedAt, routedAt time.Time
	var why string
	netnstest.Bulk(t, ctx, s, "0.0.0.0", c, server6, func() {
		time.Sleep(1500 * time.Millisecond)
		failedAt = time.Now()
		if mode == "kill" {
			a.gw.Process.Signal(syscall.SIGKILL)
		} else {
			a.gw.Process.Signal(syscall.SIGSTOP) // alive, but its datapath and pings stand still
		}
		select {
		case why = <-a.bfdStopped:
			bfdStoppedAt = time.Now()
		case <-time.After(5 * time.Second):
			t.Errorf("A's FRR was not stopped within 5 s of the failure")
			return
		}
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if strings.Contains(via("2001:db8:ca:64::8000:0/97", "-6"), "dev rb") &&
				strings.Contains(via("203.0.113.32/27", "-4"), "via 198.51.100.10") {
				routedAt = time.Now()
				out, _ := exec.Command("ip", "netns", "exec", r, "vtysh", "--vty_socket", filepath.Join(dir, "r"), "-c", "show bfd peers brief").Output()
				for _, peer := range []string{"2001:db8:ca:a::2", "198.51.100.2"} {
					if !regexp.MustCompile(regexp.QuoteMeta(peer) + `\s+down`).Match(out) {
						t.Errorf("the router's BFD session to A's %s is not down:\n%s", peer, out)
					}
				}
				return
			}
		}
		t.Errorf("the router still routes to A 3 s after A's FRR stopped:\n%s%s", via("2001:db8:ca:64::8000:0/97", "-6"), via("203.0.113.32/27", "-4"))
	})
	done := time.Since(failedAt)
	if err := udpCli.Wait(); err != nil {
		t.Fatalf("the UDP flow did not survive: %v\n%s", err, udpOut.String())
	}
	udpSrvOut.ReadString('\n')
	udpSrv.Wait()
	m := regexp.MustCompile(`replies (\d+) gap (\d+)`).FindStringSubmatch(udpOut.String())
	if m == nil {
		t.Fatalf("udp flow client: %s", udpOut.String())
	}
	gap, _ := strconv.Atoi(m[2])
	replies, _ := strconv.Atoi(m[1])
	if routedAt.IsZero() {
		t.FailNow()
	}
	fmt.Printf("campus failover (%s): A's FRR stopped %v after the failure (%s), the router's BFD sessions to A were down and its routes moved to B %v after that; "+
		"traffic stopped for %d ms (longest gap between UDP replies, 10 ms apart; %d replies); the 16 MiB download completed %v after the failure with equal SHA-256\n",
		mode, bfdStoppedAt.Sub(failedAt).Round(time.Millisecond), why, routedAt.Sub(bfdStoppedAt).Round(time.Millisecond),
		gap, replies, done.Round(time.Millisecond))
	// The bounds the README states: a killed box costs traffic for BFD's
	// detection (300 ms) and a route change, a frozen one the watchdog's
	// silence (campusWatchdog) first; with room for -race on two cores.
	bound := map[string]time.Duration{"kill": time.Second, "stall": 2 * time.Second}[mode]
	if time.Duration(gap)*time.Millisecond > bound {
		t.Errorf("traffic stopped for %d ms after A's %s; the bound is %v", gap, mode, bound)
	}
	// The failure came mid-transfer: the download, paced to about 4 s,
	// still had seconds to go.
	if done < time.Second {
		t.Errorf("the download completed %v after the failure: the failure did not come mid-transfer", done)
	}
	// A frozen gateway is noticed by its silence alone: the last ping may
	// have come up to half WatchdogSec before the freeze.
	if mode == "stall" && (!strings.HasPrefix(why, "no watchdog ping") || bfdStoppedAt.Sub(failedAt) < campusWatchdog/4) {
		t.Errorf("FRR stopped %v after a stall (%s); want the watchdog's silence to have stopped it", bfdStoppedAt.Sub(failedAt), why)
	}
	if mode == "stall" {
		select {
		case <-a.exited:
			t.Error("the frozen xlatgw exited; the stall case wants it alive")
		default:
		}
	}
}
