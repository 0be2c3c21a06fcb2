// Package bucket is the token bucket both ends of handoff/1 limit their
// sending with: the server its challenges and creations (§7.1), the NAT64
// its notifications (§8).
package bucket

import "time"

// A Bucket is refilled at rate tokens per second up to burst. Its zero
// value is empty and never refills; make one with New. Not safe for
// concurrent use.
type Bucket struct {
	rate, burst, tokens float64
	at                  time.Time
}

// New returns a full bucket.
func New(rate, burst float64) Bucket { return Bucket{rate: rate, burst: burst, tokens: burst} }

func (b *Bucket) refill(now time.Time) {
	if !b.at.IsZero() {
		if d := now.Sub(b.at); d > 0 {
			b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		}
	}
	b.at = now
}

// Peek reports whether a token is there at now, without taking it.
func (b *Bucket) Peek(now time.Time) bool { b.refill(now); return b.tokens >= 1 }

// Take takes a token at now and reports whether there was one.
func (b *Bucket) Take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
