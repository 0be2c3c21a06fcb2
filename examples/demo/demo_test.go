package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// The demo runs as documented: its transcript shows the page fetched and
// the pings answered across the translator, and it leaves nothing behind.
func TestDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the demo needs root (network namespaces, TUN); CI runs it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the demo needs ip(8) from iproute2")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	tr := out.String()
	t.Log(tr)
	for _, want := range []string{
		"SYN       => TCP 203.0.113.1:",
		"server: GET / from 203.0.113.1:",
		`client: 200 OK, "<h1>Hello from an IPv4-only server</h1>\n"`,
		"ICMPv6 echo request 2001:db8:1::10 -> 64:ff9b::c000:250",
		"client: reply from 64:ff9b::c000:250 seq 3",
		"sessions: 2, bindings: 2",
		"== removed the namespaces",
	} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if strings.Contains(tr, "dropped") {
		t.Error("the demo dropped a packet")
	}
	if ns, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(ns), "xlat-demo-") {
		t.Errorf("namespaces left behind:\n%s", ns)
	}
}

// Without root the demo says what it needs and exits non-zero.
func TestDemoWithoutRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Skip("running as root, and no setpriv to drop it")
		}
	}
	bin := netnstest.Build(t, ".")
	cmd := exec.Command(bin)
	if os.Geteuid() == 0 {
		cmd = exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "needs root") {
		t.Errorf("without root: %v\n%s", err, out)
	}
}

// Ctrl-C in the middle: the demo stops and removes what it made.
func TestDemoInterrupted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the demo needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the demo needs ip(8)")
	}
	bin := netnstest.Build(t, ".")
	cmd := exec.Command(bin)
	var out strings.Builder
	r, w, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "== the server") {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("demo output ended: %s", out.String())
		}
		out.Write(buf[:n])
	}
	cmd.Process.Signal(os.Interrupt)
	rest, _ := io.ReadAll(r)
	out.Write(rest)
	cmd.Wait()
	if !strings.Contains(out.String(), "== removed the namespaces") {
		t.Errorf("no cleanup after Ctrl-C:\n%s", out.String())
	}
	pid := fmt.Sprint(cmd.Process.Pid)
	if ns, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(ns), "-"+pid) {
		t.Errorf("namespaces of pid %s left behind:\n%s", pid, ns)
	}
}
