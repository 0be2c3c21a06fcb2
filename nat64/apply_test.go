package nat64

import (
	"net/netip"
	"testing"
	"time"
)

func TestEventKindNames(t *testing.T) {
	for k, want := range map[EventKind]string{0: "?", SessionCreated: "session-created", SessionChanged: "session-changed",
		SessionDeleted: "session-deleted", BIBCreated: "bib-created", BIBDeleted: "bib-deleted", 6: "?", 7: "session-created"} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d): %q, want %q", uint8(k), got, want)
		}
	}
}

// A peer's session without an expiry gets this table's lifetime for its
// class (RFC 6146 §3.5: UDP, ICMP query, TCP established, TCP
// transitory), its TCP state as the peer named it, and a binding that
// lives as long as its sessions.
func TestApplyClasses(t *testing.T) {
	for _, c := range []struct {
		proto Protocol
		state string
		life  time.Duration
	}{
		{UDP, "", DefaultUDPTimeout},
		{ICMP, "", DefaultICMPTimeout},
		{TCP, "ESTABLISHED", DefaultTCPEstTimeout},
		{TCP, "V4_FIN_RCV", DefaultTCPTransTimeout},
		{TCP, "V6_INIT", DefaultTCPTransTimeout},
	} {
		clock := newClock()
		x := newTest(t, testConfig(clock))
		var bibEvents []EventKind
		x.SetHooks(&Hooks{BIB: func(e BIBEvent) { bibEvents = append(bibEvents, e.Kind) }})
		src := netip.AddrPortFrom(h1, 4000)
		s := Session{Proto: c.proto, IPv6Src: src, IPv6Dst: netip.AddrPortFrom(wkp.Embed(h2), 80),
			IPv4Src: netip.AddrPortFrom(pool, 4000), IPv4Dst: netip.AddrPortFrom(h2, 80), State: c.state}
		if err := x.Apply(SessionEvent{Kind: SessionCreated, Session: s}); err != nil {
			t.Fatalf("%v %s: %v", c.proto, c.state, err)
		}
		got := sessionOf(t, x, c.proto, src)
		if life := got.Expires.Sub(clock.now()); life != c.life || got.State != c.state {
			t.Errorf("%v %q: lives %v in state %q, want %v", c.proto, c.state, life, got.State, c.life)
		}
		if x.Sessions() != 1 || x.Bindings() != 1 {
			t.Errorf("%v: %d sessions, %d bindings", c.proto, x.Sessions(), x.Bindings())
		}
		// Deleting something else changes nothing; deleting it takes the
		// binding with it.
		other := s
		other.IPv4Dst = netip.AddrPortFrom(h2, 81)
		if err := x.Apply(SessionEvent{Kind: SessionDeleted, Session: other}); err != nil || x.Sessions() != 1 {
			t.Errorf("%v: deleting an unknown session: %v, %d sessions", c.proto, err, x.Sessions())
		}
		if err := x.Apply(SessionEvent{Kind: SessionDeleted, Session: s}); err != nil || x.Sessions() != 0 || x.Bindings() != 0 {
			t.Errorf("%v: deleted: %v, %d sessions, %d bindings", c.proto, err, x.Sessions(), x.Bindings())
		}
		if len(bibEvents) != 2 || bibEvents[0] != BIBCreated || bibEvents[1] != BIBDeleted {
			t.Errorf("%v: binding events %v", c.proto, bibEvents)
		}
	}
}

// Apply refuses what is not a session of this table.
func TestApplyRefuses(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	good := Session{Proto: UDP, IPv6Src: netip.AddrPortFrom(h1, 4000), IPv6Dst: netip.AddrPortFrom(wkp.Embed(h2), 53),
		IPv4Src: netip.AddrPortFrom(pool, 4000), IPv4Dst: netip.AddrPortFrom(h2, 53)}
	for name, mod := range map[string]func(*Session){
		"GRE":                 func(s *Session) { s.Proto = 47 },
		"an unknown state":    func(s *Session) { s.Proto, s.State = TCP, "LISTEN" },
		"an IPv4 source":      func(s *Session) { s.IPv6Src = netip.AddrPortFrom(h2, 1) },
		"not a pool4 address": func(s *Session) { s.IPv4Src = netip.AddrPortFrom(h2, 4000) },
	} {
		s := good
		mod(&s)
		if err := x.Apply(SessionEvent{Kind: SessionCreated, Session: s}); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if x.Sessions() != 0 {
		t.Errorf("%d sessions after refusals", x.Sessions())
	}
}
