package netnstest

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A Notify is a service manager's notification socket (sd_notify(3)) for
// a daemon under test: the test stands in for systemd. Its socket is a
// path, which reaches it from any network namespace.
type Notify struct {
	Path string // NOTIFY_SOCKET for the daemon
	msgs chan Notification
}

// A Notification is one datagram the daemon sent, and when it came.
type Notification struct {
	At    time.Time
	State string // "READY=1\nSTATUS=...", "WATCHDOG=1", ...
}

// NewNotify listens on a socket in a temporary directory until the test
// ends.
func NewNotify(t testing.TB) *Notify {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n := &Notify{Path: path, msgs: make(chan Notification, 4096)}
	go func() {
		b := make([]byte, 4096)
		for {
			k, err := c.Read(b)
			if err != nil {
				return
			}
			select {
			case n.msgs <- Notification{time.Now(), string(b[:k])}:
			default: // a test that stopped reading
			}
		}
	}()
	return n
}

// Env is the environment entry that points a daemon at the socket.
func (n *Notify) Env() string { return "NOTIFY_SOCKET=" + n.Path }

// Wait returns the next notification that holds state (e.g. "READY=1"),
// skipping others, or false when none comes within d; "" takes the next
// one, whatever it says.
func (n *Notify) Wait(state string, d time.Duration) (Notification, bool) {
	end := time.After(d)
	for {
		select {
		case m := <-n.msgs:
			if strings.Contains(m.State, state) {
				return m, true
			}
		case <-end:
			return Notification{}, false
		}
	}
}

// C is the channel of notifications, for a test that watches them all.
func (n *Notify) C() <-chan Notification { return n.msgs }
