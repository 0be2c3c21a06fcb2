package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// needXDP skips a test on a kernel without AF_XDP sockets, or without
// ethtool to turn the veth peers' checksum offload off.
func needXDP(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		t.Skip("needs a kernel with AF_XDP sockets (CONFIG_XDP_SOCKETS)")
	}
	if err == nil {
		unix.Close(fd)
	}
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("needs ethtool (apt-get install ethtool)")
	}
}

// withAFXDP turns the AF_XDP datapath on in config for ifaces.
func withAFXDP(config string, ifaces ...string) string {
	list, _ := json.Marshal(ifaces)
	return strings.Replace(config, `"instances"`, `"af-xdp": {"interfaces": `+string(list)+`},
  "instances"`, 1)
}

// noChecksumOffload makes dev in ns compute its checksums itself, so that
// the frames its veth peer's XDP program sees are complete.
func noChecksumOffload(t *testing.T, ns string, devs ...string) {
	t.Helper()
	for _, dev := range devs {
		netnstest.Sh(t, "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off")
	}
}

// xdpAttached reports whether dev in ns runs an XDP program.
func xdpAttached(ns, dev string) bool {
	out, _ := exec.Command("ip", "-n", ns, "link", "show", dev).Output()
	return strings.Contains(string(out), "prog/xdp")
}

// metric returns the value of the series that matches re in metrics, -1
// when there is none.
func metric(metrics, re string) float64 {
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// checkXDP is the AF_XDP half of the end-to-end test, after the traffic
// endToEnd sends: the fast path carried it, the gateway's own addresses
// still answer on the same interfaces, and the program goes with the
// gateway however it ends.
func checkXDP(t *testing.T, ctx context.Context, c, g, s string, d *exec.Cmd, metrics, bin, cfg string, logs *netnstest.Log) {
	// 16 MiB and the rest went through the sockets, not the kernel.
	tx := metric(metrics, `xlatgw_xdp_packets_total\{event="transmitted",queue="0"\}`)
	punted := metric(metrics, `xlatgw_xdp_packets_total\{event="punted",queue="0"\}`)
	t.Logf("AF_XDP fast path: %.0f frames sent, %.0f handed to the kernel", tx, punted)
	if tx < 10000 || punted > tx/10 {
		t.Errorf("the AF_XDP fast path sent %.0f frames and handed %.0f to the kernel; want most of 16 MiB's segments sent by it:\n%s", tx, punted, grepLines(metrics, "xlatgw_xdp"))
	}
	// The gateway's own addresses answer on the interfaces the program
	// is on: ping both ways, and neighbour discovery for the client's
	// router.
	netnstest.Run(t, ctx, c, "ping", "2001:db8:c::1")
	netnstest.Run(t, ctx, s, "ping", "192.0.2.1")
	if out, _ := exec.Command("ip", "-n", c, "-6", "neigh", "show", "2001:db8:c::1").Output(); !strings.Contains(string(out), "lladdr") {
		t.Errorf("the client has not resolved the gateway's address by neighbour discovery: %q", out)
	}

	// A clean exit detaches the program.
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
	if xdpAttached(g, "g0") || xdpAttached(g, "g1") {
		t.Error("the XDP program is still attached after xlatgw exited")
	}
	// So does kill -9: the attachment is a BPF link that dies with its
	// process. The next start binds the queues again and translates.
	d2 := startXlatgw(t, ctx, g, bin, cfg, logs)
	if !xdpAttached(g, "g0") || !xdpAttached(g, "g1") {
		t.Fatal("xlatgw started again without its XDP programs")
	}
	d2.Process.Kill()
	d2.Wait()
	netnstest.WaitFor(t, "the XDP programs to go with the killed xlatgw", func() bool {
		return !xdpAttached(g, "g0") && !xdpAttached(g, "g1")
	})
	d3 := startXlatgw(t, ctx, g, bin, cfg, logs)
	defer func() { d3.Process.Signal(syscall.SIGTERM); d3.Wait() }()
	netnstest.Run(t, ctx, c, "ping", "64:ff9b::192.0.2.80")
}

// Where AF_XDP cannot work, xlatgw says why and exits; it does not crash,
// and leaves nothing attached.
func TestAFXDPErrors(t *testing.T) {
	netnstest.Need(t)
	needXDP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := netnstest.Build(t, ".")
	_, g, _ := netnstest.Gateway3(t, "ge")
	write := func(name, tun, ifaces string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"tun": {"name": "`+tun+`", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
		  "af-xdp": {"interfaces": [`+ifaces+`]},
		  "instances": [{"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:64::/96"}}]}`), 0o644)
		return p
	}
	refused := func(what, want string, cmd ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", g}, cmd...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) || strings.Contains(string(out), "panic") {
			t.Errorf("%s: %v, said %q; want an error saying %q", what, err, out, want)
		}
		if xdpAttached(g, "g0") && what != "already attached" {
			t.Errorf("%s: left an XDP program on g0", what)
		}
	}
	refused("no such interface", "af-xdp: interface nope0", bin, "run", "-config", write("nope.json", "xlat0", `"nope0"`))
	refused("no permission", "needs root, or CAP_BPF and CAP_NET_ADMIN",
		"setpriv", "--bounding-set", "-bpf,-sys_admin,-perfmon", bin, "run", "-config", write("caps.json", "xlat0", `"g0"`))

	var logs netnstest.Log
	first := exec.CommandContext(ctx, "ip", "netns", "exec", g, bin, "run", "-config", write("first.json", "xlat0", `"g0", "g1"`))
	first.Stderr = &logs
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { first.Process.Signal(syscall.SIGTERM); first.Wait() }()
	netnstest.WaitFor(t, "the first gateway's XDP program", func() bool { return xdpAttached(g, "g0") })
	refused("already attached", "g0 already has an XDP program attached", bin, "run", "-config", write("second.json", "xlat1", `"g0"`))
	if !xdpAttached(g, "g0") {
		t.Errorf("the refused second gateway detached the first one's program: %s", logs.String())
	}
}
