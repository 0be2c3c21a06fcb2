package sdnotify

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen is a service manager's notification socket.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func recv(t *testing.T, c *net.UnixConn, within time.Duration) (string, bool) {
	t.Helper()
	b := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(within))
	n, err := c.Read(b)
	if err != nil {
		return "", false
	}
	return string(b[:n]), true
}

func TestNotify(t *testing.T) {
	c, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	n := FromEnv()
	if !n.Enabled() || n.WatchdogInterval() != 200*time.Millisecond {
		t.Fatalf("enabled %v, watchdog %v", n.Enabled(), n.WatchdogInterval())
	}
	if err := n.Ready("2 instances"); err != nil {
		t.Fatal(err)
	}
	if got, _ := recv(t, c, time.Second); got != "READY=1\nSTATUS=2 instances" {
		t.Errorf("got %q", got)
	}
	n.Stopping()
	if got, _ := recv(t, c, time.Second); got != "STOPPING=1" {
		t.Errorf("got %q", got)
	}
}

// Another process's watchdog (WATCHDOG_PID names it) is not ours; no
// socket means nothing is sent and nothing fails.
func TestNotifyOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "200000")
	n := FromEnv()
	if n.Enabled() || n.WatchdogInterval() != 0 || n.Ready("") != nil {
		t.Error("a notifier without NOTIFY_SOCKET acts")
	}
	_, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_PID", "1")
	if FromEnv().WatchdogInterval() != 0 {
		t.Error("a watchdog for pid 1 taken as ours")
	}
	var nilN *Notifier
	if nilN.Ready("") != nil || nilN.Enabled() {
		t.Error("a nil notifier acts")
	}
}

// Watch pings while healthy, falls silent while not, and resumes.
func TestWatch(t *testing.T) {
	c, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "100000")
	var healthy atomic.Bool
	healthy.Store(true)
	var changes []bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { FromEnv().Watch(ctx, healthy.Load, func(s bool) { changes = append(changes, s) }); close(done) }()
	for i := 0; i < 3; i++ {
		if got, ok := recv(t, c, time.Second); !ok || !strings.HasPrefix(got, "WATCHDOG=1") {
			t.Fatalf("ping %d: %q %v", i, got, ok)
		}
	}
	healthy.Store(false)
	recv(t, c, 60*time.Millisecond) // one may be in flight
	if got, ok := recv(t, c, 300*time.Millisecond); ok {
		t.Fatalf("pinged %q while unhealthy", got)
	}
	healthy.Store(true)
	if _, ok := recv(t, c, time.Second); !ok {
		t.Fatal("no ping after recovering")
	}
	cancel()
	<-done
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Errorf("stall changes %v, want [true false]", changes)
	}
}
