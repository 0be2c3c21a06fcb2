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
}
