package main

import (
	"context"
	"net/netip"
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

// The handoff end-to-end test (docs/handoff-protocol.md §13 tests 11 and 12, the issue's
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
  "admin": "ADMIN",
  "instances": [
    {"name": "nat64", "type": "nat64", "nat64": {
      "pool6": "64:ff9b::/96", "wkp-allow-non-global": true,
      "pool4": [{"protocol": "TCP", "prefix": "203.0.113.1/32", "ports": "1028-65535"},
                {"protocol": "UDP", "prefix": "203.0.113.1/32", "ports": "1028-65535"},
                {"protocol": "ICMP", "prefix": "203.0.113.1/32", "ports": "1028-65535"}]},
     "handoff": {SERVERS "state-file": "STATE", "note": "xlatgw e2e"}}
  ]
}`

// handoffNet is the three-namespace testbed of the handoff tests.
type handoffNet struct {
	t                *testing.T
	ctx              context.Context
	dir              string
	c, g, s          string // namespaces
	gwBin, hoBin     string
	cfg              string
	stateDir, logDir string
	hoArgs           []string
	gwLogs, hoLogs   netnstest.Log
	gw, ho           *exec.Cmd
}

// newHandoffNet builds the testbed and starts xlatgw, with handoffd
// running and configured as a known server unless noServer (§13 test 15:
// the gateway starts without one and handoffd comes later).
func newHandoffNet(t *testing.T, ctx context.Context, noServer bool, hoArgs ...string) *handoffNet {
	netnstest.Need(t)
	n := &handoffNet{t: t, ctx: ctx, dir: t.TempDir(), hoArgs: hoArgs}
	n.gwBin, n.hoBin = netnstest.Build(t, "."), netnstest.Build(t, "../handoffd")
	n.cfg = filepath.Join(n.dir, "xlatgw.json")
	if err := os.WriteFile(n.cfg, []byte(strings.NewReplacer("STATE", filepath.Join(n.dir, "capable"), "ADMIN", filepath.Join(n.dir, "admin.sock"),
		"SERVERS", map[bool]string{false: `"servers": ["192.0.2.80"],`, true: ""}[noServer]).Replace(handoffConfig)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.c, n.g, n.s = netnstest.Gateway3(t, "h")
	n.stateDir, n.logDir = filepath.Join(n.dir, "state"), filepath.Join(n.dir, "log")
	if !noServer {
		n.startHandoffd()
	}
	n.startGateway()
	t.Cleanup(func() {
		for _, d := range []*exec.Cmd{n.gw, n.ho} {
			if d == nil {
				continue
			}
			d.Process.Signal(syscall.SIGCONT)
			d.Process.Signal(syscall.SIGTERM)
			d.Wait()
		}
		t.Logf("xlatgw: %s\nhandoffd: %s", n.gwLogs.String(), n.hoLogs.String())
	})
	return n
}

func (n *handoffNet) startHandoffd() {
	args := append([]string{"netns", "exec", n.s, n.hoBin, "-listen", "192.0.2.80:64646", "-state-dir", n.stateDir, "-log-dir", n.logDir}, n.hoArgs...)
	before := strings.Count(n.hoLogs.String(), "handoffd starting")
	n.ho = exec.CommandContext(n.ctx, "ip", args...)
	n.ho.Stderr = &n.hoLogs
	notify := netnstest.NewNotify(n.t)
	n.ho.Env = append(os.Environ(), notify.Env())
	if err := n.ho.Start(); err != nil {
		n.t.Fatal(err)
	}
	// Standing in for systemd: READY=1 comes once the state is loaded.
	if _, ok := notify.Wait("READY=1", 10*time.Second); !ok {
		n.t.Fatalf("no READY=1 from handoffd; it said:\n%s", n.hoLogs.String())
	}
	// Its log comes through a pipe, and may trail the notification.
	netnstest.WaitFor(n.t, "handoffd's start in its log", func() bool { return strings.Count(n.hoLogs.String(), "handoffd starting") > before })
}

func (n *handoffNet) startGateway() {
	n.gw = startXlatgw(n.t, n.ctx, n.g, n.gwBin, n.cfg, &n.gwLogs)
}

func kill9(d *exec.Cmd) { d.Process.Signal(syscall.SIGKILL); d.Wait() }

// chat starts a connection that exchanges a line every 250 ms for d; the
// returned function waits for it and returns the client's and the NAT64's
// port of the connection.
func (n *handoffNet) chat(d time.Duration) func() (clientPort, natPort string) {
	n.t.Setenv("XLAT_CHAT_TIME", d.String())
	srv, _ := netnstest.Serve(n.t, n.ctx, n.s, "chat-server", "0.0.0.0")
	var out netnstest.Log
	cli := netnstest.Helper(n.ctx, n.c, "chat-client", "64:ff9b::192.0.2.80")
	cli.Stdout, cli.Stderr = &out, &out
	if err := cli.Start(); err != nil {
		n.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cli.Wait(); srv.Wait() }()
	netnstest.WaitFor(n.t, "the chat connection", func() bool { return strings.Contains(out.String(), "peer ") })
	return func() (string, string) {
		n.t.Helper()
		select {
		case err := <-done:
			if err != nil || !strings.Contains(out.String(), "done") {
				n.t.Fatalf("the connection did not survive: %v\n%s", err, out.String())
			}
		case <-n.ctx.Done():
			n.t.Fatal("timed out")
		}
		m := regexp.MustCompile(`connected \[(2001:db8:c::10)\]:(\d+)\npeer 203\.0\.113\.1:(\d+)\n`).FindStringSubmatch(out.String())
		if m == nil {
			n.t.Fatalf("chat client output:\n%s", out.String())
		}
		return m[2], m[3]
	}
}

// log returns handoffd's connection log.
func (n *handoffNet) log() string {
	b, err := os.ReadFile(filepath.Join(n.logDir, "handoff.log"))
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

const logTS = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}`

func count(log, re string) int {
	return len(regexp.MustCompile(`(?m)^`+logTS+` `+re+`$`).FindAllString(log, -1))
}

// §13 tests 11 and 12: kills of the gateway (cache lost) and of handoffd
// (persistent state) do not break a connection.
func TestHandoffEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := newHandoffNet(t, ctx, false)

	// A ping first: ICMP echo takes the handoff path too (identifier as
	// port).
	netnstest.Run(t, ctx, n.c, "ping", "64:ff9b::192.0.2.80")

	wait := n.chat(12 * time.Second)
	time.Sleep(2 * time.Second)
	kill9(n.gw) // the cache is gone with the process
	n.startGateway()
	time.Sleep(2 * time.Second)
	kill9(n.ho) // right after replies reporting the creations
	n.startHandoffd()
	time.Sleep(2 * time.Second)
	kill9(n.gw)
	n.startGateway()
	clientPort, natPort := wait()

	// The admin API shows the server and the client's cache.
	var table strings.Builder
	if err := show([]string{"handoff", "-socket", filepath.Join(n.dir, "admin.sock")}, &table); err != nil ||
		!regexp.MustCompile(`nat64\s+192\.0\.2\.80\s+CAPABLE\s+[1-9]`).MatchString(table.String()) {
		t.Errorf("show handoff: %v\n%s", err, table.String())
	}
	log := n.log()
	t.Logf("handoffd log:\n%s", log)
	if c := count(log, `Initialized 203\.0\.113\.1`); c != 1 {
		t.Errorf("%d Initialized lines, want 1 (the table survives both restarts)", c)
	}
	if c := count(log, `Created 203\.0\.113\.1:`+natPort+` \[2001:db8:c::10\]:`+clientPort); c != 1 {
		t.Errorf("%d Created lines for the connection (203.0.113.1:%s [2001:db8:c::10]:%s), want exactly 1", c, natPort, clientPort)
	}
	if strings.Contains(log, "Deleted") {
		t.Error("a binding was deleted")
	}
}

// §13 tests 14 and 13: handoffd stops answering (SIGSTOP: its datagrams
// are neither answered nor refused), then restarts without persistence.
// The open connection keeps working throughout; a new one is translated
// on a local port after the 3-second fallback and adopted when handoffd
// answers again; after the restart the gateway sees the new table epoch
// and re-adopts its bindings on unchanged ports.
func TestHandoffFallbackEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := newHandoffNet(t, ctx, false, "-persist=false")
	wait := n.chat(16 * time.Second)
	time.Sleep(time.Second)

	n.ho.Process.Signal(syscall.SIGSTOP)
	start := time.Now()
	seen := netnstest.TCPExchange(t, ctx, n.s, "0.0.0.0", n.c, "64:ff9b::192.0.2.80")
	took := time.Since(start)
	t.Logf("a new connection with handoffd silent took %v", took.Round(10*time.Millisecond))
	if seen != netip.MustParseAddr("203.0.113.1") || took < 3*time.Second {
		t.Errorf("new flow: seen %v after %v, want 203.0.113.1 after the 3 s fallback", seen, took)
	}
	n.ho.Process.Signal(syscall.SIGCONT)
	// The probe (every 10 s) or the late answers bring the ADOPT.
	deadline := time.Now().Add(12 * time.Second)
	// (The client's dial retries may add adopted flows of their own.)
	for count(n.log(), `Created 203\.0\.113\.1:\d+ \[2001:db8:c::10\]:\d+`) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if c := count(n.log(), `Created 203\.0\.113\.1:\d+ \[2001:db8:c::10\]:\d+`); c < 2 {
		t.Fatalf("after handoffd answered again: %d Created lines, want the chat's and the adopted flow's\n%s", c, n.log())
	}

	// Restart without persistence: a new table, detected on the next
	// exchange (a new flow's request).
	kill9(n.ho)
	n.startHandoffd()
	netnstest.TCPExchange(t, ctx, n.s, "0.0.0.0", n.c, "64:ff9b::192.0.2.80")
	clientPort, natPort := wait()
	log := n.log()
	t.Logf("handoffd log:\n%s", log)
	if c := count(log, `Initialized 203\.0\.113\.1`); c != 2 {
		t.Errorf("%d Initialized lines, want 2 (a new table after the restart)", c)
	}
	if c := count(log, `Created 203\.0\.113\.1:`+natPort+` \[2001:db8:c::10\]:`+clientPort); c != 2 {
		t.Errorf("%d Created lines for the chat (port %s), want 2: created, then re-adopted on the same port", c, natPort)
	}
}

// §13 test 15: no handoff server at first. New flows go through the
// NAT64's own BIB at once (no added delay) and are announced; when
// handoffd starts, the next announcement finds it, the peer becomes
// CAPABLE and the live bindings are adopted on their ports.
func TestHandoffNoServerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := newHandoffNet(t, ctx, true)
	wait := n.chat(10 * time.Second)
	start := time.Now()
	if seen := netnstest.TCPExchange(t, ctx, n.s, "0.0.0.0", n.c, "64:ff9b::192.0.2.80"); seen != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("plain NAT64: the server saw %v", seen)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a new flow without a handoff server took %v", took)
	}
	time.Sleep(3500 * time.Millisecond) // the first announcement's transmissions run out: NOT_CAPABLE
	n.startHandoffd()
	netnstest.TCPExchange(t, ctx, n.s, "0.0.0.0", n.c, "64:ff9b::192.0.2.80") // announced; answered
	clientPort, natPort := wait()

	var table strings.Builder
	if err := show([]string{"handoff", "-socket", filepath.Join(n.dir, "admin.sock")}, &table); err != nil || !regexp.MustCompile(`(?m)\sCAPABLE\s`).MatchString(table.String()) { // not NOT_CAPABLE
		t.Errorf("show handoff: %v\n%s", err, table.String())
	}
	log := n.log()
	t.Logf("handoffd log:\n%s", log)
	if c := count(log, `Initialized 203\.0\.113\.1`); c != 1 {
		t.Errorf("%d Initialized lines, want 1", c)
	}
	if c := count(log, `Created 203\.0\.113\.1:`+natPort+` \[2001:db8:c::10\]:`+clientPort); c != 1 {
		t.Errorf("the live chat binding (port %s) was not adopted on its port", natPort)
	}
}
