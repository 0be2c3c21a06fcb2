package ticker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Millisecond, func() {
			if n.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
	if got := n.Load(); got < 3 {
		t.Errorf("fn ran %d times before the context ended, want 3", got)
	}
	// An ended context: no call at all.
	n.Store(0)
	Every(ctx, time.Millisecond, func() { n.Add(1) })
	if got := n.Load(); got != 0 {
		t.Errorf("fn ran %d times after the context ended", got)
	}
}
