// Package loopwatch tells a stalled datapath loop from an idle one. A loop
// marks when it wakes with work and when it goes back to wait for more;
// a loop that has been working on one round for long is stuck (a lock
// never released, a write that never returns), while one that waits,
// however long, is only idle. The watchdog and the health check read it.
// A daemon's other loop, the one that reloads on SIGHUP, is here too
// (Reloads), so that the daemons share it.
package loopwatch

import (
	"sync/atomic"
	"time"
)

// base anchors the monotonic clock: time.Since reads it without the wall
// clock's jumps.
var base = time.Now()

// A Loop is the state of one datapath loop. Its zero value is a loop that
// waits. Working and Waiting are two atomic stores, cheap enough for every
// burst; any goroutine may call Age.
type Loop struct {
	since atomic.Int64 // nanoseconds after base at which the current round began, +1; 0 while waiting
}

// Working marks that the loop woke with work.
func (l *Loop) Working() { l.since.Store(int64(time.Since(base)) + 1) }

// Waiting marks that the loop is done with its round and waits for more.
func (l *Loop) Waiting() { l.since.Store(0) }

// Age is how long the loop has been working on its current round: 0 while
// it waits.
func (l *Loop) Age() time.Duration {
	s := l.since.Load()
	if s == 0 {
		return 0
	}
	return time.Since(base) - time.Duration(s-1)
}

// Oldest is the largest Age among loops: the datapath's age.
func Oldest(loops []*Loop) time.Duration {
	var m time.Duration
	for _, l := range loops {
		m = max(m, l.Age())
	}
	return m
}
