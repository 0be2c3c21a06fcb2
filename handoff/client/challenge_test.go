package client

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/wire"
)

// §6 step 3: a challenge resends the requests in flight at once with the
// new cookie, MaxRequestsPerDatagram a datagram; it is not a
// retransmission.
func TestClientChallengeResends(t *testing.T) {
	for _, n := range []int{1, handoff.MaxRequestsPerDatagram, handoff.MaxRequestsPerDatagram + 1} {
		tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
		tb.blocked = true
		for i := 0; i < n; i++ {
			tb.cli.Out(sAddr, netip.AddrPortFrom(client1.Addr(), uint16(i+1)), false)
		}
		tb.takeSent()
		tb.answer(wire.FlagChallenge)
		sent := tb.takeSent()
		want := (n + handoff.MaxRequestsPerDatagram - 1) / handoff.MaxRequestsPerDatagram
		requests := 0
		for _, d := range sent {
			requests += len(d.Messages)
			if d.Session.Cookie != tb.cli.peers[sAddr].cookie {
				t.Errorf("%d requests: resent with cookie %#x", n, d.Session.Cookie)
			}
		}
		if len(sent) != want || requests != n {
			t.Errorf("%d requests challenged: resent in %d datagrams (%d requests), want %d", n, len(sent), requests, want)
		}
		if st := tb.cli.Stats(); st.Challenges != 1 || st.Retransmissions != 0 {
			t.Errorf("%d requests: %+v", n, st)
		}
		// A second challenge with the same cookie resends nothing.
		tb.cli.peers[sAddr].cookie--
		tb.answer(wire.FlagChallenge)
		if sent := tb.takeSent(); len(sent) != 0 {
			t.Errorf("%d requests: %d datagrams for a repeated cookie", n, len(sent))
		}
	}
}

// A server that challenges more than MaxChallengesInRow times in a row is
// treated as silent (§6): CAPABLE becomes UNREACHABLE. A valid reply in
// between starts the count again.
func TestClientChallengesInRow(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.blocked = true
	tb.cli.Out(sAddr, client1, false)
	for i := 0; i < MaxChallengesInRow; i++ {
		tb.answer(wire.FlagChallenge)
		if s := tb.cli.Peers()[0].State; s != Capable {
			t.Fatalf("after %d challenges: %v", i+1, s)
		}
	}
	tb.answer(0) // an answer: the count starts again
	for i := 0; i < MaxChallengesInRow; i++ {
		tb.answer(wire.FlagChallenge)
	}
	if s := tb.cli.Peers()[0].State; s != Capable {
		t.Fatalf("after a reply and %d challenges: %v", MaxChallengesInRow, s)
	}
	tb.answer(wire.FlagChallenge)
	if s := tb.cli.Peers()[0].State; s != Unreachable {
		t.Fatalf("after %d challenges in a row: %v", MaxChallengesInRow+1, s)
	}
	// The request in flight took a local port.
	if _, _, local, ok := tb.cli.lookup(sAddr, client1); !ok || !local {
		t.Errorf("the pending client: local %v, cached %v", local, ok)
	}
}

// §8.1: when an UNREACHABLE server answers again, the LOCAL entries still
// cached are adopted; those dropped from the cache meanwhile are not.
func TestClientAdoptsWhatIsLeft(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.blocked = true
	p := tb.cli.peers[sAddr]
	p.state = Unreachable
	tb.cli.cfg.Rand = &script{0, 1} // client1 on 1028, client2 on 1029
	tb.cli.Out(sAddr, client1, false)
	tb.cli.Out(sAddr, client2, false)
	tb.cli.mu.Lock()
	tb.cli.remove(p, p.byPort[1029])
	tb.cli.unlockAndFlush()
	tb.takeSent()
	tb.answer(0)
	var adopted []uint16
	for _, d := range tb.takeSent() {
		for _, m := range d.Messages {
			if r, ok := m.(*wire.MapRequest); ok && r.Flags&wire.FlagAdopt != 0 {
				adopted = append(adopted, r.Port)
			}
		}
	}
	if len(adopted) != 1 || adopted[0] != 1028 {
		t.Errorf("ADOPTs sent for %v, want [1028]", adopted)
	}
}
