package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// The failover test of the high-availability issue: a client, two
// gateways A and B synchronising their NAT64 sessions (active/passive,
// one pool4), and a server.
//
//	               2001:db8:ca::/64  A  192.0.2.0/30
//	client 2001:db8:c::10 <             sync 198.51.100.0/24          > server 192.0.2.80
//	               2001:db8:cb::/64  B  192.0.2.4/30
//
// A long TCP transfer and a UDP flow run through A; A is killed and the
// client's and the server's routes move to B, as BFD would move them. The
// transfer completes with the same bytes and no reset, the UDP flow goes
// on, and the test prints how long traffic stopped.

const syncGatewayConfig = `{
  "tun": {"name": "xlat0", "ipv4-address": "V4ADDR", "ipv6-address": "V6ADDR"},
  "metrics": "127.0.0.1:19465",
  "admin": "ADMIN",
  "instances": [
    {"name": "nat64", "type": "nat64", "nat64": {
      "pool6": "64:ff9b::/96", "wkp-allow-non-global": true,
      "pool4": [{"protocol": "TCP", "prefix": "OWNPOOL/32"},
                {"protocol": "UDP", "prefix": "OWNPOOL/32"},
                {"protocol": "ICMP", "prefix": "OWNPOOL/32"}] STANDBY},
     "sync": {"role": "ROLE", NETWORK, "key-file": "KEYFILE"}}
  ]
}`

func TestSyncFailoverEndToEnd(t *testing.T) {
	netnstest.Need(t)
	// Unicast peers (what the mission's operators moved to), and a
	// multicast group on the sync link.
	unicast, multicast := `"listen": "LISTEN", "peers": ["PEER"]`, `"group": "239.255.64.64:6464", "interface": "SYNCIF"`
	bin := netnstest.Build(t, ".") // once for the three subtests
	t.Run("unicast", func(t *testing.T) { failover(t, bin, unicast, false, false) })
	t.Run("multicast", func(t *testing.T) { failover(t, bin, multicast, false, false) })
	// Active/active: A allocates from 203.0.113.1, B from 203.0.113.2,
	// each standing by for the other's address; A's flows move to B.
	t.Run("active-active", func(t *testing.T) { failover(t, bin, unicast, true, false) })
	// Both gateways on the AF_XDP datapath, on all three of their
	// interfaces: the sync peer is reached over a link whose program
	// passes the sync datagrams to the kernel.
	t.Run("unicast-af-xdp", func(t *testing.T) {
		needXDP(t)
		failover(t, bin, unicast, false, true)
	})
}

func failover(t *testing.T, bin, network string, activeActive, xdp bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	key := filepath.Join(dir, "sync.key")
	os.WriteFile(key, []byte("6b2f8e1c9a7d4e3b5f0a1c2d3e4f5a6b5a1f0e9d8c7b6a5948372615f4e3d2c1\n"), 0o600)
	cfgs := map[string]string{}
	role, poolA, poolB, standbyA, standbyB := "active-passive", "203.0.113.1", "203.0.113.1", "", ""
	if activeActive {
		role, poolB = "active-active", "203.0.113.2"
		standbyA, standbyB = `, "standby-pool4": ["203.0.113.2/32"]`, `, "standby-pool4": ["203.0.113.1/32"]`
	}
	for name, r := range map[string]*strings.Replacer{
		"a": strings.NewReplacer("V4ADDR", "192.0.2.1", "V6ADDR", "2001:db8:ca::1", "LISTEN", "198.51.100.1:6464", "PEER", "198.51.100.2:6464",
			"KEYFILE", key, "SYNCIF", "ab", "OWNPOOL", poolA, "STANDBY", standbyA, "ROLE", role, "ADMIN", filepath.Join(dir, "a.sock")),
		"b": strings.NewReplacer("V4ADDR", "192.0.2.5", "V6ADDR", "2001:db8:cb::1", "LISTEN", "198.51.100.2:6464", "PEER", "198.51.100.1:6464",
			"KEYFILE", key, "SYNCIF", "ba", "OWNPOOL", poolB, "STANDBY", standbyB, "ROLE", role, "ADMIN", filepath.Join(dir, "b.sock")),
	} {
		cfgs[name] = filepath.Join(dir, name+".json")
		config := r.Replace(strings.Replace(syncGatewayConfig, "NETWORK", network, 1))
		if xdp {
			config = withAFXDP(config, map[string][]string{"a": {"ac", "as", "ab"}, "b": {"bc", "bs", "ba"}}[name]...)
		}
		os.WriteFile(cfgs[name], []byte(config), 0o644)
	}

	c, a, b, s := netnstest.NS(t, "fc"), netnstest.NS(t, "fa"), netnstest.NS(t, "fb"), netnstest.NS(t, "fs")
	netnstest.Veth(t, c, "ca", a, "ac")
	netnstest.Veth(t, c, "cb", b, "bc")
	netnstest.Veth(t, a, "as", s, "sa")
	netnstest.Veth(t, b, "bs", s, "sb")
	netnstest.Veth(t, a, "ab", b, "ba")
	netnstest.IP(t, c, "link set lo up", "addr add 2001:db8:c::10/128 dev lo",
		"addr add 2001:db8:ca::10/64 dev ca nodad", "addr add 2001:db8:cb::10/64 dev cb nodad", "link set ca up", "link set cb up",
		"-6 route add 64:ff9b::/96 via 2001:db8:ca::1 dev ca src 2001:db8:c::10")
	for _, g := range []struct{ ns, cIf, sIf, syncIf, v6, v4, srvGW, sync string }{
		{a, "ac", "as", "ab", "2001:db8:ca::1/64", "192.0.2.1/30", "192.0.2.2", "198.51.100.1/24"},
		{b, "bc", "bs", "ba", "2001:db8:cb::1/64", "192.0.2.5/30", "192.0.2.6", "198.51.100.2/24"},
	} {
		netnstest.IP(t, g.ns, "link set lo up", "addr add "+g.v6+" dev "+g.cIf+" nodad", "addr add "+g.v4+" dev "+g.sIf,
			"addr add "+g.sync+" dev "+g.syncIf, "link set "+g.cIf+" up", "link set "+g.sIf+" up", "link set "+g.syncIf+" up",
			"-6 route add 2001:db8:c::10/128 via "+strings.Replace(g.v6, "::1/64", "::10", 1),
			"route add 192.0.2.80/32 via "+g.srvGW)
	}
	netnstest.IP(t, s, "link set lo up", "addr add 192.0.2.80/32 dev lo", "addr add 192.0.2.2/30 dev sa", "addr add 192.0.2.6/30 dev sb",
		"link set sa up", "link set sb up", "route add 203.0.113.1/32 via 192.0.2.1")
	if activeActive {
		netnstest.IP(t, s, "route add 203.0.113.2/32 via 192.0.2.5")
	}
	if xdp {
		// Every interface faces a program (see endToEnd).
		noChecksumOffload(t, c, "ca", "cb")
		noChecksumOffload(t, s, "sa", "sb")
		noChecksumOffload(t, a, "ac", "as", "ab")
		noChecksumOffload(t, b, "bc", "bs", "ba")
	}

	var logA, logB netnstest.Log
	gwA := startXlatgw(t, ctx, a, bin, cfgs["a"], &logA)
	gwB := startXlatgw(t, ctx, b, bin, cfgs["b"], &logB)
	t.Cleanup(func() {
		gwA.Process.Signal(syscall.SIGTERM)
		gwB.Process.Signal(syscall.SIGTERM)
		gwA.Wait()
		gwB.Wait()
		t.Logf("A: %s\nB: %s", logA.String(), logB.String())
	})
	// The path works through A.
	netnstest.Run(t, ctx, c, "ping", "64:ff9b::192.0.2.80")

	// The UDP flow, for 6 s.
	t.Setenv("XLAT_CHAT_TIME", "6s")
	udpSrv, udpSrvOut := netnstest.Serve(t, ctx, s, "udp-flow-server", "192.0.2.80") // replies from the address asked
	var udpOut strings.Builder
	udpCli := netnstest.Helper(ctx, c, "udp-flow-client", "64:ff9b::192.0.2.80")
	udpCli.Stdout, udpCli.Stderr = &udpOut, &udpOut
	if err := udpCli.Start(); err != nil {
		t.Fatal(err)
	}

	// 16 MiB paced to take about 4 s; A dies after 1.5 s of it.
	t.Setenv("XLAT_BULK_PACE", "60ms")
	var failedAt time.Time
	netnstest.Bulk(t, ctx, s, "0.0.0.0", c, "64:ff9b::192.0.2.80", func() {
		time.Sleep(1500 * time.Millisecond)
		failedAt = time.Now()
		gwA.Process.Signal(syscall.SIGKILL)
		gwA.Wait()
		// What BFD would do: both ends route through B.
		netnstest.IP(t, c, "-6 route replace 64:ff9b::/96 via 2001:db8:cb::1 dev cb src 2001:db8:c::10")
		netnstest.IP(t, s, "route replace 203.0.113.1/32 via 192.0.2.5")
	})
	done := time.Since(failedAt)
	t.Logf("the transfer completed through B, %v after A was killed, with the same SHA-256 at both ends", done.Round(time.Millisecond))
	// The failure came mid-transfer: the download, paced to about 4 s,
	// still had seconds to go.
	if done < time.Second {
		t.Errorf("the download completed %v after A was killed: the failure did not come mid-transfer", done)
	}

	if err := udpCli.Wait(); err != nil {
		t.Fatalf("the UDP flow did not survive: %v\n%s", err, udpOut.String())
	}
	m := regexp.MustCompile(`replies (\d+) gap (\d+)`).FindStringSubmatch(udpOut.String())
	if m == nil {
		t.Fatalf("udp flow client: %s", udpOut.String())
	}
	// The server saw one peer address throughout: B kept A's mapping.
	if line, _ := udpSrvOut.ReadString('\n'); line != "peers 1\n" {
		t.Errorf("UDP server: %q, want one peer address (the flow's mapping kept across the failover)", line)
	}
	udpSrv.Wait()
	replies, _ := strconv.Atoi(m[1])
	gap, _ := strconv.Atoi(m[2])
	fmt.Printf("failover: traffic stopped for %d ms (longest gap between UDP replies, 10 ms apart); %d replies in 6 s\n", gap, replies)
	t.Logf("traffic stopped for %d ms; %d UDP replies", gap, replies)
	if replies < 300 {
		t.Errorf("only %d UDP replies of about 600", replies)
	}
	// The bound the README states (about 50 ms measured; room for -race
	// on two cores).
	if gap > 500 {
		t.Errorf("traffic stopped for %d ms; the bound is 500 ms", gap)
	}
	var table strings.Builder
	if err := show([]string{"sync", "-socket", filepath.Join(dir, "b.sock")}, &table); err != nil || !regexp.MustCompile(`(?m)^nat64(\s+\d+){3}\s+[1-9]`).MatchString(table.String()) {
		t.Errorf("show sync on B: %v\n%s", err, table.String())
	}
	// B received A's sessions, and counted no bad datagrams.
	metrics := netnstest.Output(t, ctx, b, "http-get", "http://127.0.0.1:19465/metrics")
	if tx := metric(metrics, `xlatgw_xdp_packets_total\{event="transmitted",queue="0"\}`); xdp && tx < 5000 {
		t.Errorf("B's AF_XDP fast path sent %.0f frames after the failover; want the rest of the transfer:\n%s", tx, grepLines(metrics, "xlatgw_xdp"))
	}
	if !regexp.MustCompile(`xlatgw_sync_events_total\{counter="SessionsReceived",instance="nat64"\} [1-9]`).MatchString(metrics) ||
		!strings.Contains(metrics, `xlatgw_sync_events_total{counter="Unauthenticated",instance="nat64"} 0`) {
		t.Errorf("B's sync metrics:\n%s", grepLines(metrics, "xlatgw_sync"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
