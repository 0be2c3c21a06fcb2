// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) with the standard library: READY=1 when a daemon is up,
// STOPPING=1 when it shuts down, and WATCHDOG=1 while it is healthy, each
// a datagram to the unix socket systemd names in $NOTIFY_SOCKET.
//
// Outside systemd (no $NOTIFY_SOCKET) a Notifier does nothing, so daemons
// call it unconditionally.
package sdnotify

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"time"
)

// A Notifier sends notifications to the service manager. The zero value
// and a nil *Notifier send nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// FromEnv returns the notifier $NOTIFY_SOCKET asks for, with the
// watchdog interval of $WATCHDOG_USEC when $WATCHDOG_PID is unset or
// names this process (systemd sets both for Type=notify units with
// WatchdogSec=).
func FromEnv() *Notifier {
	n := &Notifier{}
	if path := os.Getenv("NOTIFY_SOCKET"); path != "" {
		// A leading @ names the abstract namespace; net handles it.
		n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
		if usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
			n.watchdog = watchdogInterval(usec)
		}
	}
	return n
}

// minWatchdog is the shortest interval Watch pings within: below it a
// ping every half interval would be a busy loop (systemd itself allows
// WatchdogSec= in whole milliseconds at the least).
const minWatchdog = 2 * time.Millisecond

// watchdogInterval is $WATCHDOG_USEC as a duration: one too long to count
// in nanoseconds is the longest there is, not a wrapped-around short one,
// and one too short for a useful ping is minWatchdog.
func watchdogInterval(usec uint64) time.Duration {
	if usec > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return math.MaxInt64
	}
	return max(time.Duration(usec)*time.Microsecond, minWatchdog)
}

// Enabled reports whether there is a service manager to notify.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is the interval within which the service manager
// expects WATCHDOG=1, or 0 when it watches nothing.
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Ready says the daemon is up: READY=1, with status as STATUS= if given.
func (n *Notifier) Ready(status string) error { return n.send("READY=1", status) }

// Stopping says the daemon is shutting down: STOPPING=1.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1", "") }

// Watchdog tells the service manager the daemon is healthy: WATCHDOG=1.
func (n *Notifier) Watchdog() error { return n.send("WATCHDOG=1", "") }

func (n *Notifier) send(state, status string) error {
	if !n.Enabled() {
		return nil
	}
	if status != "" {
		state += "\nSTATUS=" + status
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Watch sends WATCHDOG=1 every half watchdog interval for as long as
// healthy says so, until ctx is done; a daemon whose healthy turns false
// falls silent, and the service manager acts after WatchdogSec. Without a
// watchdog interval it returns at once. stalled, if not nil, is told
// each time the pings stop and start again.
func (n *Notifier) Watch(ctx context.Context, healthy func() bool, stalled func(bool)) {
	iv := n.WatchdogInterval()
	if iv <= 0 {
		return
	}
	t := time.NewTicker(iv / 2)
	defer t.Stop()
	silent := false
	for {
		ok := healthy()
		if ok {
			n.Watchdog()
		}
		if ok == silent && stalled != nil {
			stalled(!ok)
		}
		silent = !ok
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
