package loopwatch

import (
	"context"
	"log/slog"
	"os"
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

// Reloads runs reload on every signal on hup until ctx ends: a daemon's
// SIGHUP loop. A refused reload is logged, and what runs stays, whole;
// the reload says itself what it put in force.
func Reloads(ctx context.Context, hup <-chan os.Signal, reload func() error, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if err := reload(); err != nil {
			log.Error("reload refused; the running configuration stays", "err", err)
		}
	}
}
