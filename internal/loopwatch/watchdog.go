package loopwatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/v6xlat/xlat/internal/sdnotify"
)

// StallAfter is how long one round of a datapath loop may take before the
// datapath counts as stalled. A round is one burst, microseconds of work;
// a loop waiting for packets is idle, not stalled, however long it waits.
const StallAfter = 500 * time.Millisecond

// Watchdog sends the service manager WATCHDOG=1 while age, the age of the
// datapath's oldest round, stays under StallAfter, until ctx ends, and
// says so in log when the pings stop and when they resume: a daemon
// whose datapath hangs while the process lives is restarted, and (with
// BindsTo=) what is bound to it, such as a BFD session, goes down.
func Watchdog(ctx context.Context, sd *sdnotify.Notifier, age func() time.Duration, log *slog.Logger) {
	sd.Watch(ctx, func() bool { return age() < StallAfter }, func(stalled bool) {
		if stalled {
			log.Error("datapath stalled: withholding the watchdog", "age", age())
		} else {
			log.Info("datapath running again")
		}
	})
}
