package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hardening: faults and bad input that must be refused cleanly. Each test
// name starts with TestFault; docs/faults.md lists them.

// The admin socket's path is cleared only of a socket nobody answers on:
// a regular file there, or a live socket, is refused and left alone.
func TestFaultAdminSocketPath(t *testing.T) {
	dir := t.TempDir()
	g := newStandIn(t)

	file := filepath.Join(dir, "precious")
	os.WriteFile(file, []byte("not a socket"), 0o600)
	if _, err := serveAdmin(g, file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file at the path: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "not a socket" {
		t.Error("the regular file was removed")
	}

	live := filepath.Join(dir, "live.sock")
	l, err := serveAdmin(g, live)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serveAdmin(g, live); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a socket another server answers on: %v", err)
	}
	l.Close() // a unix listener removes its file when closed

	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close() // what a killed gateway leaves
	l, err = serveAdmin(g, stale)
	if err != nil {
		t.Fatalf("a stale socket: %v", err)
	}
	l.Close()
}

// The metrics and admin servers drop a client that opens a connection and
// never finishes its request (slowloris).
func TestFaultHTTPTimeouts(t *testing.T) {
	saved := httpReadHeaderTimeout
	httpReadHeaderTimeout = 200 * time.Millisecond
	defer func() { httpReadHeaderTimeout = saved }()
	l, err := serveMetrics(newStandIn(t), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")) // and never the blank line
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the half-sent request open for 5 s")
			}
			break // closed by the server
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dropped after %v, want about the 200 ms header timeout", d)
	}
}

// The systemd units run as their own users with only the capabilities
// they need, hardened as docs/xlatgw.md says, and systemd-analyze verify
// finds nothing wrong with them.
func TestFaultSystemdUnits(t *testing.T) {
	bin := t.TempDir()
	for _, u := range []struct {
		path, user string
		caps       []string
	}{
		{"xlatgw.service", "xlatgw", []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_IPC_LOCK"}},
		{"../map66d/map66d.service", "map66d", []string{"CAP_NET_ADMIN"}},
		{"../handoffd/handoffd.service", "handoffd", nil},
		// The campus template also enters its data namespace (setns).
		{"../../examples/campus/systemd/xlatgw@.service", "xlatgw", []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_IPC_LOCK", "CAP_SYS_ADMIN"}},
	} {
		b, err := os.ReadFile(u.path)
		if err != nil {
			t.Fatal(err)
		}
		unit := string(b)
		want := []string{"User=" + u.user + "\n", "NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "ProtectHome=yes\n", "UMask=0077\n",
			"CapabilityBoundingSet=" + strings.Join(u.caps, " ") + "\n", "Type=notify\n", "WatchdogSec="}
		if strings.Contains(unit, "StateDirectory=") {
			want = append(want, "StateDirectoryMode=0700\n")
		}
		for _, w := range want {
			if !strings.Contains(unit, w) {
				t.Errorf("%s lacks %q", u.path, strings.TrimSpace(w))
			}
		}
		// systemd-analyze verify wants the binaries to exist: point the
		// unit at stand-ins. (A template needs the units it names.)
		if _, err := exec.LookPath("systemd-analyze"); err != nil || strings.Contains(u.path, "@") {
			continue
		}
		name := filepath.Base(u.path)
		stand := filepath.Join(bin, strings.TrimSuffix(name, ".service"))
		os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755)
		copyUnit := filepath.Join(bin, name)
		os.WriteFile(copyUnit, []byte(strings.ReplaceAll(unit, "/usr/local/bin/", bin+"/")), 0o644)
		if out, err := exec.Command("systemd-analyze", "verify", copyUnit).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

// One number must not kill the gateway: check-config refuses a table
// size the tables cannot index, with the field named, and does not die
// (the gateway package's TestFaultTableSizes holds the rest).
func TestFaultCheckConfigTableSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	os.WriteFile(path, []byte(`{"tun": {"name": "xlat0"}, "instances": [{"name": "n", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
	  "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}], "max-sessions": 20000000000}}]}`), 0o644)
	if err := run([]string{"check-config", path}); err == nil || !strings.Contains(err.Error(), "max-sessions") {
		t.Errorf("check-config: %v", err)
	}
}
