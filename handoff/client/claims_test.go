package client

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/handoff/internal/handofftest"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/nat64"
)

// What a cache miss draws in each peer state (§8.1, §8.2), outbound and
// inbound, for a packet and for a quoted one (peek): a peek only reads,
// so it sends nothing and counts no miss.
func TestClientClaimByState(t *testing.T) {
	type claims struct{ outPeek, out, inPeek, in nat64.Claim }
	for _, c := range []struct {
		state PeerState
		want  claims
	}{
		{Unknown, claims{nat64.NotClaimed, nat64.NotClaimed, nat64.NotClaimed, nat64.NotClaimed}},
		{Probing, claims{nat64.NotClaimed, nat64.NotClaimed, nat64.NotClaimed, nat64.NotClaimed}},
		{Capable, claims{nat64.Refused, nat64.Await, nat64.Refused, nat64.Await}},
		{Unreachable, claims{nat64.Refused, nat64.Claimed, nat64.Refused, nat64.Refused}},
		{NotCapable, claims{nat64.NotClaimed, nat64.NotClaimed, nat64.NotClaimed, nat64.NotClaimed}},
	} {
		tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
		tb.blocked = true
		tb.cli.peers[sAddr].state = c.state
		var got claims
		_, got.outPeek = tb.cli.Out(sAddr, client1, true)
		_, got.inPeek = tb.cli.In(sAddr, 1030, true)
		if st := tb.cli.Stats(); st.Misses != 0 || tb.sent != 0 {
			t.Errorf("%v: peeks counted %d misses and sent %d datagrams", c.state, st.Misses, tb.sent)
		}
		// Inbound first: an UNREACHABLE server's outbound miss takes a
		// random slot, which could be 1030.
		_, got.in = tb.cli.In(sAddr, 1030, false)
		_, got.out = tb.cli.Out(sAddr, client1, false)
		if got != c.want {
			t.Errorf("%v: claims %+v, want %+v", c.state, got, c.want)
		}
	}
	// No peer at all: nothing is claimed, nothing sent.
	tb := newTestbed(t, Config{})
	for _, peek := range []bool{true, false} {
		_, out := tb.cli.Out(sAddr, client1, peek)
		_, in := tb.cli.In(sAddr, 1030, peek)
		if out != nat64.NotClaimed || in != nat64.NotClaimed || tb.sent != 0 {
			t.Errorf("no peer, peek %v: %v %v, %d datagrams", peek, out, in, tb.sent)
		}
	}
}

// The last slot is a slot.
func TestClientLastSlot(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	if _, c := tb.cli.In(sAddr, 1035, false); c != nat64.Await {
		t.Errorf("inbound to the last slot: %v, want nat64.Await", c)
	}
	if _, c := tb.cli.In(sAddr, 1036, false); c != nat64.NotClaimed {
		t.Errorf("inbound past the last slot: %v, want nat64.NotClaimed", c)
	}
}

// Hits, misses and dropped held packets are counted one by one.
func TestClientCounters(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)           // miss: MAP_REQUEST
	tb.cli.Park(handofftest.SYN(client2), true) // no request for it: dropped
	tb.cli.Park([]byte{0x60}, true)             // unparseable: dropped
	tb.pump()
	tb.cli.Out(sAddr, client1, false) // hit
	tb.cli.Out(sAddr, client1, true)  // hit, quoted
	tb.cli.In(sAddr, 1028, false)     // hit
	if st := tb.cli.Stats(); st.Hits != 3 || st.Misses != 1 || st.HeldDropped != 2 {
		t.Fatalf("hits %d misses %d dropped %d, want 3 1 2", st.Hits, st.Misses, st.HeldDropped)
	}
	// An inbound miss on a port the server has no binding for: LOOKUP,
	// UNMAPPED, the held packets dropped. The buffer keeps the last
	// PendingBufferPackets of them.
	if _, c := tb.cli.In(sAddr, 1031, false); c != nat64.Await {
		t.Fatalf("inbound miss: %v", c)
	}
	for i := 0; i < PendingBufferPackets+2; i++ {
		tb.cli.Park(ack4(1031, byte(i)), false)
	}
	q := tb.cli.peers[sAddr].pending[pendKey{port: 1031}]
	if len(q.packets) != PendingBufferPackets || !bytes.Equal(q.packets[0], ack4(1031, 2)) {
		t.Fatalf("held %d packets, the first %x", len(q.packets), q.packets[0])
	}
	tb.pump()
	if st := tb.cli.Stats(); st.Misses != 2 || st.HeldDropped != 2+2+PendingBufferPackets || len(tb.delivered) != 0 {
		t.Errorf("misses %d dropped %d delivered %d, want 2 %d 0", st.Misses, st.HeldDropped, len(tb.delivered), 2+2+PendingBufferPackets)
	}
}

// ack4 is an ACK from S:80 to N:port carrying one octet, b.
func ack4(port uint16, b byte) []byte {
	return testpkt.IPv4{Src: sAddr, Dst: n1, TTL: 64}.Packet(header.ProtoTCP, testpkt.TCP(sAddr, n1, 80, port, header.TCPFlagACK, []byte{b}))
}
