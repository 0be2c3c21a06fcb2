package handoff

import (
	"net/netip"
	"testing"
	"time"
)

// Hardening: answers never larger than what asked for them, except the
// mapping answers the protocol exists for. An authenticated 1,472-octet
// request of small broken messages drew 4,416 octets of ERRORs.
func TestFaultErrorsNoAmplification(t *testing.T) {
	s, _ := newTestServer(t, ServerConfig{})
	head := unhex(t, hexE4)[:38] // SESSION with the cookie of nCP
	// Broken messages of every kind that can be broken, two octets each
	// (type, length 0), filling a 1,472-octet datagram.
	kinds := []uint8{TypeMapRequest, TypeMap, TypeLookup, TypeUnmapped, TypeRefresh, TypeInvalidate, TypeError}
	req := append([]byte(nil), head...)
	for i := 0; len(req)+2 <= 1472; i++ {
		req = append(req, kinds[i%len(kinds)], 0)
	}
	replies := s.Handle(step(1), nCP, req, nil)
	total := 0
	for _, r := range replies {
		total += len(r)
	}
	if total > len(req) {
		t.Errorf("%d octets of broken messages drew %d octets of answers", len(req), total)
	}
	d, err := Parse(one(t, replies))
	if err != nil || len(d.Messages) == 0 || len(d.Messages) > len(kinds) {
		t.Errorf("answer %+v %v: want at most one ERROR per kind of broken message", d, err)
	}
	// A request with few octets of broken messages gets fewer ERRORs
	// than it has kinds of them, the rest counted.
	small := append(append([]byte(nil), head...), TypeMapRequest, 0, TypeLookup, 0, TypeRefresh, 0)
	r := one(t, s.Handle(step(1), nCP, small, nil))
	if len(r) > len(small) || s.Stats().ErrorsSuppressed == 0 {
		t.Errorf("%d-octet request: %d-octet answer, %d suppressed", len(small), len(r), s.Stats().ErrorsSuppressed)
	}
}

// A NAT64 with one session each to 50,000 destinations (handoff enabled
// for all) tracked 50,000 peers for an hour and sent 200,000 control
// datagrams, about ten times the traffic that caused them. Peers are now
// bounded, and notifications are paid for by the data traffic: beyond the
// first 64 KiB, under a quarter of it.
func TestFaultClientAmplification(t *testing.T) {
	tb := newTestbed(t, ClientConfig{Note: "handoff/1"})
	tb.blocked = true // no server anywhere: every notification is retried
	controlOctets := 0
	send := tb.cli.cfg.Send
	tb.cli.cfg.Send = func(pkt []byte) { controlOctets += len(pkt); send(pkt) }
	const destinations = 50000
	const synOctets = 60 // an IPv4 SYN, the least a session costs
	for i := 0; i < destinations; i++ {
		s := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		c := netip.AddrPortFrom(client1.Addr(), uint16(20000+i%40000))
		tb.cli.Out(s, c, false) // the session's first packet
		slots := int(tb.cli.cfg.SlotMax-tb.cli.cfg.SlotMin) + 1
		tb.cli.SessionCreated(s, c, tb.cli.cfg.SlotMin+uint16(i%slots))
		if i%1000 == 0 {
			tb.advance(50 * time.Millisecond)
		}
	}
	for i := 0; i < 40; i++ { // all retransmissions due
		tb.advance(250 * time.Millisecond)
	}
	if n := len(tb.cli.Peers()); n > MaxPeers {
		t.Errorf("%d peers tracked, more than MaxPeers %d", n, MaxPeers)
	}
	data := destinations * synOctets
	if limit := NotifyCreditMax + data/4; controlOctets > limit {
		t.Errorf("%d octets of control traffic for %d of data; want at most %d", controlOctets, data, limit)
	}
	st := tb.cli.Stats()
	if st.PeersRefused == 0 || st.NotifyNoCredit == 0 {
		t.Errorf("stats %+v: want refused peers and notifications without credit counted", st)
	}
	t.Logf("%d destinations, %d octets of data at least: %d control datagrams, %d octets (%.2f of the data); %d peers",
		destinations, data, tb.sent, controlOctets, float64(controlOctets)/float64(data), len(tb.cli.Peers()))
}
