package gateway

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/netnstest"
	"github.com/v6xlat/xlat/internal/sdnotify"
	"github.com/v6xlat/xlat/internal/tunbatch"
)

// stuckTUN hands out the burst's packets on every read and blocks in
// Write while stuck is open: a datapath whose writes hang.
type stuckTUN struct {
	templates [][]byte
	sizes     []int
	stuck     atomic.Pointer[chan struct{}] // closed: writes go through
}

// hang makes the next writes wait for the returned function.
func (d *stuckTUN) hang() (release func()) {
	c := make(chan struct{})
	d.stuck.Store(&c)
	return func() { close(c) }
}

func (d *stuckTUN) File() *os.File { return nil }
func (d *stuckTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	time.Sleep(time.Millisecond)
	n := min(len(bufs), len(d.templates))
	for i := range n {
		copy(bufs[i][offset:], d.templates[i][readOffset:][:d.sizes[i]])
		sizes[i] = d.sizes[i]
	}
	return n, nil
}
func (d *stuckTUN) Write(bufs [][]byte, offset int) (int, error) {
	<-*d.stuck.Load()
	return len(bufs), nil
}
func (d *stuckTUN) MTU() (int, error)        { return 1500, nil }
func (d *stuckTUN) Name() (string, error)    { return "stuck0", nil }
func (d *stuckTUN) Events() <-chan tun.Event { return nil }
func (d *stuckTUN) Close() error             { return nil }
func (d *stuckTUN) BatchSize() int           { return 8 }

// The watchdog pings while the datapath loop runs and falls silent when a
// round of it hangs (here in the TUN write), though the process and its
// other goroutines live on; an idle loop, waiting for packets, keeps the
// pings going.
func TestWatchdogStopsWhenTheDatapathStalls(t *testing.T) {
	notify := netnstest.NewNotify(t)
	t.Setenv("NOTIFY_SOCKET", notify.Path)
	t.Setenv("WATCHDOG_USEC", "200000") // a ping every 100 ms
	countPings := func(d time.Duration) int {
		n := 0
		for end := time.After(d); ; {
			select {
			case m := <-notify.C():
				if m.State == "WATCHDOG=1" {
					n++
				}
			case <-end:
				return n
			}
		}
	}

	g := burstGateway(t)
	idle := new(loopwatch.Loop) // a second loop that only ever waits
	tpl, sizes := burst()
	dev := &stuckTUN{templates: tpl, sizes: sizes}
	dev.hang()() // writes go through at first
	q := &tunQueue{dev: dev, rd: tunbatch.NewReader(dev, readOffset, readOffset+2048)}
	g.loops = []*loopwatch.Loop{q.loop(), idle}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.serve(ctx, g)
	go loopwatch.Watchdog(ctx, sdnotify.FromEnv(), g.DatapathAge, g.log)

	if n := countPings(500 * time.Millisecond); n < 3 {
		t.Fatalf("%d pings in 500 ms while translating; want about 5", n)
	}
	release := dev.hang()
	time.Sleep(loopwatch.StallAfter + 50*time.Millisecond)
	countPings(100 * time.Millisecond) // drain any sent before the stall showed
	if n := countPings(600 * time.Millisecond); n != 0 {
		t.Errorf("%d pings while the datapath loop hung in a write for %v", n, q.loop().Age())
	}
	if g.DatapathAge() < loopwatch.StallAfter {
		t.Errorf("datapath age %v while stalled", g.DatapathAge())
	}
	release()
	if n := countPings(500 * time.Millisecond); n < 2 {
		t.Errorf("%d pings after the datapath resumed", n)
	}
}
