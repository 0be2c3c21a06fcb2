package client

import (
	"net/netip"
	"testing"
	"time"
)

// A NAT64 with one session each to 50,000 destinations (handoff enabled
// for all) tracked 50,000 peers for an hour and sent 200,000 control
// datagrams, about ten times the traffic that caused them. Peers are now
// bounded, and notifications are paid for by the data traffic: beyond the
// first 64 KiB, under a quarter of it.
func TestFaultClientAmplification(t *testing.T) {
	tb := newTestbed(t, Config{Note: "handoff/1"})
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
