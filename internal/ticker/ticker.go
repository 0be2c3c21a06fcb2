// Package ticker runs periodic work until a context ends: the timers of
// the NAT64 tables and the handoff clients, session sync's flushes and
// handoffd's snapshots.
package ticker

import (
	"context"
	"time"
)

// Every calls fn every d until ctx ends. A call that runs long delays the
// next one rather than letting calls pile up (time.Ticker drops ticks).
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
