package nat64

import (
	"net/netip"
	"testing"
	"time"
)

// A peer's session keeps its own expiry when that is sooner than this
// table's lifetime for the class and is cut to the lifetime when later; a
// later update never shortens what the session has here.
func TestApplyExpiry(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	src := netip.AddrPortFrom(h1, 4000)
	ev := func(exp time.Time) SessionEvent {
		return SessionEvent{Kind: SessionCreated, Session: Session{Proto: UDP, IPv6Src: src,
			IPv6Dst: netip.AddrPortFrom(wkp.Embed(h2), 53), IPv4Src: netip.AddrPortFrom(pool, 4000),
			IPv4Dst: netip.AddrPortFrom(h2, 53), Expires: exp}}
	}
	for _, c := range []struct {
		name string
		exp  time.Duration
		want time.Duration
	}{
		{"sooner than the UDP lifetime", time.Minute, time.Minute},
		{"a later update does not shorten it", 30 * time.Second, time.Minute},
		{"longer: cut to the lifetime", time.Hour, DefaultUDPTimeout},
		{"one second past the lifetime", DefaultUDPTimeout + time.Second, DefaultUDPTimeout},
	} {
		if err := x.Apply(ev(clock.now().Add(c.exp))); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := sessionOf(t, x, UDP, src).Expires.Sub(clock.now()); got != c.want {
			t.Errorf("%s: lives %v, want %v", c.name, got, c.want)
		}
	}
	if x.Sessions() != 1 {
		t.Errorf("%d sessions after four updates of one", x.Sessions())
	}
	// An expiry already past, even one before this table began, ends the
	// session at the next Tick.
	clock.advance(10 * time.Minute)
	clock.tick(x)
	for _, past := range []time.Duration{time.Second, time.Hour} { // after the epoch, before it
		src := netip.AddrPortFrom(h1, 5000)
		e := ev(clock.now().Add(-past))
		e.Session.IPv6Src, e.Session.IPv4Src = src, netip.AddrPortFrom(pool, 5000)
		if err := x.Apply(e); err != nil {
			t.Fatal(err)
		}
		if x.Sessions() != 1 {
			t.Fatalf("expired %v ago: %d sessions", past, x.Sessions())
		}
		clock.tick(x)
		if x.Sessions() != 0 {
			t.Errorf("expired %v ago: %d sessions after a Tick", past, x.Sessions())
		}
	}
}
