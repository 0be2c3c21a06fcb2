package sdnotify

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

func TestNotify(t *testing.T) {
	c := netnstest.NewNotify(t)
	t.Setenv("NOTIFY_SOCKET", c.Path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	n := FromEnv()
	if !n.Enabled() || n.WatchdogInterval() != 200*time.Millisecond {
		t.Fatalf("enabled %v, watchdog %v", n.Enabled(), n.WatchdogInterval())
	}
	if err := n.Ready("2 instances"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Wait("", time.Second); got.State != "READY=1\nSTATUS=2 instances" {
		t.Errorf("got %q", got.State)
	}
	n.Stopping()
	if got, _ := c.Wait("", time.Second); got.State != "STOPPING=1" {
		t.Errorf("got %q", got.State)
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
	t.Setenv("NOTIFY_SOCKET", netnstest.NewNotify(t).Path)
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
	c := netnstest.NewNotify(t)
	t.Setenv("NOTIFY_SOCKET", c.Path)
	t.Setenv("WATCHDOG_USEC", "100000")
	var healthy atomic.Bool
	healthy.Store(true)
	var changes []bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { FromEnv().Watch(ctx, healthy.Load, func(s bool) { changes = append(changes, s) }); close(done) }()
	for i := 0; i < 3; i++ {
		if got, ok := c.Wait("", time.Second); !ok || !strings.HasPrefix(got.State, "WATCHDOG=1") {
			t.Fatalf("ping %d: %q %v", i, got.State, ok)
		}
	}
	healthy.Store(false)
	c.Wait("", 60*time.Millisecond) // one may be in flight
	if got, ok := c.Wait("", 300*time.Millisecond); ok {
		t.Fatalf("pinged %q while unhealthy", got.State)
	}
	healthy.Store(true)
	if _, ok := c.Wait("", time.Second); !ok {
		t.Fatal("no ping after recovering")
	}
	cancel()
	<-done
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Errorf("stall changes %v, want [true false]", changes)
	}
}

// $WATCHDOG_USEC too large to count in nanoseconds is the longest
// interval, not one that wrapped around to a short one (a busy loop of
// pings) or a negative one (the watchdog off); one too small is held to
// a floor.
func TestFaultWatchdogUsecOverflow(t *testing.T) {
	c := netnstest.NewNotify(t)
	t.Setenv("NOTIFY_SOCKET", c.Path)
	t.Setenv("WATCHDOG_PID", "")
	for _, tc := range []struct {
		usec string
		want time.Duration
	}{
		{"200000", 200 * time.Millisecond},
		{"9223372036854775807", math.MaxInt64},  // 2^63-1
		{"18446744073709552", math.MaxInt64},    // wraps to 1.6 ms in nanoseconds
		{"18446744073709551615", math.MaxInt64}, // systemd's infinity
		{"9223372036854776", math.MaxInt64},     // the first past the limit
		{"9223372036854775", 9223372036854775 * time.Microsecond},
		{"1", minWatchdog},
		{"0", 0},
		{"-5", 0},
		{"many", 0},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		if got := FromEnv().WatchdogInterval(); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%s: interval %v, want %v", tc.usec, got, tc.want)
		}
	}
}
