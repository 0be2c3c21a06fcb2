package tunbatch

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/internal/loopwatch"
)

// Serve is the loop of a daemon's TUN queue: it reads bursts until ctx
// ends, hands each to burst, which returns the packets to write back
// (each with the Reader's offset of room in front), and writes them with
// write. watch says when the loop works on a burst and when it waits for
// one, for the watchdog.
//
// It returns nil once ctx has ended (closing the device is how a caller
// wakes a loop waiting in a read), and an error when the device fails
// under it: one deleted while the daemon runs is gone for good, and the
// service manager is the one to restart the daemon.
func (r *Reader) Serve(ctx context.Context, watch *loopwatch.Loop, burst func(n int) [][]byte, write func([][]byte)) error {
	for {
		watch.Waiting()
		n, err := r.Read()
		watch.Working()
		if err != nil {
			switch {
			case errors.Is(err, tun.ErrTooManySegments):
				continue // one superpacket lost, counted in Dropped
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, os.ErrClosed):
				// Not closed by us: the device was deleted (EBADFD).
				name, _ := r.dev.Name()
				return fmt.Errorf("the TUN device %s is gone (deleted under the daemon)", name)
			}
			return fmt.Errorf("reading the TUN device: %w", err)
		}
		if out := burst(n); len(out) > 0 {
			write(out)
		}
	}
}
