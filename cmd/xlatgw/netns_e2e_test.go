package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netns"
	"github.com/v6xlat/xlat/internal/netnstest"
)

// With "data-netns", the datapath lives in the data namespace (the TUN
// device, its routes, the links the traffic crosses) and xlatgw itself in
// the management one, where its metrics answer; the admin socket works
// from there, and traffic is translated in the data namespace.
func TestDataNetns(t *testing.T) { dataNetns(t, false) }

// TestDataNetnsAFXDP is the same with the AF_XDP datapath on the data
// namespace's links: the programs, sockets and the view of the routing
// tables are the data namespace's.
func TestDataNetnsAFXDP(t *testing.T) { dataNetns(t, true) }

func dataNetns(t *testing.T, xdp bool) {
	netnstest.Need(t)
	if xdp {
		needXDP(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := netnstest.Build(t, ".")
	prefix := "dn"
	if xdp {
		prefix = "dx"
	}
	c, g, s := netnstest.Gateway3(t, prefix)
	m := netnstest.NS(t, prefix+"m") // management: loopback only
	netnstest.IP(t, m, "link set lo up")
	admin := filepath.Join(dir, "admin.sock")
	cfg := filepath.Join(dir, "xlatgw.json")
	config := strings.NewReplacer("ADMIN", admin, `"mapping-log": "MAPLOG",`, "", "19464", "19471").Replace(e2eConfig)
	extra := fmt.Sprintf(`"data-netns": %q,`, g)
	if xdp {
		extra += ` "af-xdp": {"interfaces": ["g0", "g1"]},`
		noChecksumOffload(t, c, "c0")
		noChecksumOffload(t, s, "s0")
	}
	config = strings.Replace(config, `"instances"`, extra+`
  "instances"`, 1)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs netnstest.Log
	d, _ := runXlatgw(t, ctx, m, bin, cfg, &logs)
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait(); t.Logf("xlatgw: %s", logs.String()) }()

	// The device and its routes are in the data namespace only.
	if out, _ := exec.Command("ip", "-n", g, "-6", "route", "show", "dev", "xlat0").Output(); !strings.Contains(string(out), "64:ff9b::/96") {
		t.Errorf("no route to pool6 through xlat0 in the data namespace:\n%s", out)
	}
	if err := exec.Command("ip", "-n", m, "link", "show", "xlat0").Run(); err == nil {
		t.Error("xlat0 is in the management namespace")
	}
	// Traffic crosses the data namespace, translated.
	netnstest.Run(t, ctx, c, "ping", "64:ff9b::192.0.2.80")
	if seen := netnstest.TCPExchange(t, ctx, s, "192.0.2.80", c, "64:ff9b::192.0.2.80"); seen.String() != "203.0.113.1" {
		t.Errorf("the server saw %v, want pool4's 203.0.113.1", seen)
	}
	if xdp {
		// The first packets to a neighbour go through the kernel, which
		// resolves it; the fast path's view of the tables follows.
		time.Sleep(200 * time.Millisecond)
		netnstest.TCPExchange(t, ctx, s, "192.0.2.80", c, "64:ff9b::192.0.2.80")
	}
	// Metrics answer in the management namespace and not in the data one.
	get := func(ns string) (string, error) {
		// The socket is made on the namespace's thread; the HTTP client
		// then uses it from wherever it runs.
		var conn net.Conn
		if err := netns.Do(ns, func() (err error) {
			conn, err = net.DialTimeout("tcp", "127.0.0.1:19471", 2*time.Second)
			return err
		}); err != nil {
			return "", err
		}
		c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
		resp, err := c.Get("http://127.0.0.1:19471/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get(m)
	if err != nil || !strings.Contains(body, "xlatgw_packets_total") {
		t.Errorf("metrics in the management namespace: %v", err)
	}
	if xdp {
		if tx := metric(body, `xlatgw_xdp_packets_total\{event="transmitted",queue="0"\}`); tx < 4 {
			t.Errorf("the AF_XDP fast path sent %.0f frames in the data namespace:\n%s", tx, grepLines(body, "xlatgw_xdp"))
		}
	}
	if _, err := get(g); err == nil {
		t.Error("metrics answer in the data namespace")
	}
	// The admin socket: health from here, with the traffic counted.
	var out strings.Builder
	if err := healthCmd([]string{"-socket", admin}, &out); err != nil || !strings.Contains(out.String(), "nat64 nat64 ok") {
		t.Errorf("health over the admin socket: %v\n%s", err, out.String())
	}
}
