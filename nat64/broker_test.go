package nat64

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// scripted is a Broker that answers as the test says and records what it
// is told.
type scripted struct {
	out, in Claim
	port    uint16         // Out's port on N
	client  netip.AddrPort // In's client
	peeks   []bool
	parked  []parkedPacket
	created []netip.AddrPort // the clients of SessionCreated
	ports   []uint16         // and their ports
}

type parkedPacket struct {
	pkt []byte
	to4 bool
}

func (b *scripted) Addr() netip.Addr { return pool }
func (b *scripted) Out(_ netip.Addr, _ netip.AddrPort, peek bool) (uint16, Claim) {
	b.peeks = append(b.peeks, peek)
	return b.port, b.out
}
func (b *scripted) In(_ netip.Addr, _ uint16, peek bool) (netip.AddrPort, Claim) {
	b.peeks = append(b.peeks, peek)
	return b.client, b.in
}
func (b *scripted) ReservedPorts() (first, last uint16) { return 1024, 1027 }
func (b *scripted) Park(pkt []byte, to4 bool) {
	b.parked = append(b.parked, parkedPacket{append([]byte(nil), pkt...), to4})
}
func (b *scripted) SessionCreated(_ netip.Addr, c netip.AddrPort, t uint16) {
	b.created, b.ports = append(b.created, c), append(b.ports, t)
}

func brokered(t *testing.T, b *scripted) *Translator {
	t.Helper()
	cfg := testConfig(newClock())
	for i := range cfg.Pool4 {
		cfg.Pool4[i].Ports = PortRange{1028, 65535}
	}
	x, err := New(cfg, Collaborators{Random: bytes.NewReader(make([]byte, 64)), Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// Outbound, the broker decides first (docs/handoff-protocol.md §8.2): its
// port, a packet parked until it knows, a refusal; or the BIB, whose new
// sessions on N it is told of (§8.4).
func TestBrokerOutbound(t *testing.T) {
	for _, claim := range []Claim{Claimed, Await, Refused, NotClaimed} {
		b := &scripted{out: claim, port: 2000}
		x := brokered(t, b)
		in := udp6(h1, 4000, h2, 53)
		out, r := xl(x, in)
		switch claim {
		case Claimed:
			if s, _ := ports4(out); r.Verdict != translate.Forward || header.IPv4(out).Src() != pool || s != 2000 || x.Sessions() != 0 {
				t.Errorf("claimed: %v from %v:%d, %d sessions", r, header.IPv4(out).Src(), s, x.Sessions())
			}
		case Await:
			if r.Verdict != translate.Drop || r.Reason != ReasonAwaiting || len(b.parked) != 1 || !b.parked[0].to4 || !bytes.Equal(b.parked[0].pkt, in) {
				t.Errorf("await: %v, parked %d", r, len(b.parked))
			}
		case Refused:
			if r.Reason != ReasonPortRefused || len(b.parked) != 0 || x.Sessions() != 0 {
				t.Errorf("refused: %v, parked %d", r, len(b.parked))
			}
		case NotClaimed:
			s, _ := ports4(out)
			if r.Verdict != translate.Forward || x.Sessions() != 1 || len(b.created) != 1 || b.created[0] != netip.AddrPortFrom(h1, 4000) || b.ports[0] != s {
				t.Errorf("not claimed: %v, %d sessions, told of %v %v", r, x.Sessions(), b.created, b.ports)
			}
		}
		if len(b.peeks) != 1 || b.peeks[0] {
			t.Errorf("%v: asked %v", claim, b.peeks)
		}
	}
	// An echo's identifier is the broker's port.
	b := &scripted{out: Claimed, port: 2001}
	x := brokered(t, b)
	d6 := wkp.Embed(h2)
	out, r := xl(x, testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, header.ICMPv6EchoRequest, 7, 1, nil)))
	if r.Verdict != translate.Forward || header.ICMPv4(out[20:]).Ident() != 2001 {
		t.Errorf("echo: %v", r)
	}
}

// Inbound to N, likewise: the broker's client, a parked packet, a
// refusal, or the BIB.
func TestBrokerInbound(t *testing.T) {
	client := netip.AddrPortFrom(h1, 4000)
	for _, claim := range []Claim{Claimed, Await, Refused, NotClaimed} {
		b := &scripted{in: claim, client: client}
		x := brokered(t, b)
		in := udp4(h2, 53, pool, 2000)
		out, r := xl(x, in)
		switch claim {
		case Claimed:
			u := header.UDP(out[40:])
			if r.Verdict != translate.Forward || header.IPv6(out).Dst() != h1 || u.DstPort() != 4000 || u.SrcPort() != 53 || header.IPv6(out).Src() != wkp.Embed(h2) {
				t.Errorf("claimed: %v", r)
			}
		case Await:
			if r.Verdict != translate.Drop || r.Reason != ReasonAwaiting || len(b.parked) != 1 || b.parked[0].to4 || !bytes.Equal(b.parked[0].pkt, in) {
				t.Errorf("await: %v, parked %d", r, len(b.parked))
			}
		case Refused:
			if r.Reason != ReasonPortRefused || len(b.parked) != 0 {
				t.Errorf("refused: %v", r)
			}
		case NotClaimed:
			// No session: RFC 6146 filtering drops it.
			if r.Verdict == translate.Forward || r.Reason == ReasonAwaiting || r.Reason == ReasonPortRefused {
				t.Errorf("not claimed: %v", r)
			}
		}
		if len(b.peeks) != 1 || b.peeks[0] {
			t.Errorf("%v: asked %v", claim, b.peeks)
		}
	}
	// An echo reply: the client's identifier.
	b := &scripted{in: Claimed, client: netip.AddrPortFrom(h1, 9)}
	x := brokered(t, b)
	out, r := xl(x, testpkt.IPv4{Src: h2, Dst: pool}.Packet(1, testpkt.Echo(h2, pool, header.ICMPv4EchoReply, 2000, 1, nil)))
	if r.Verdict != translate.Forward || header.ICMPv6(out[40:]).Ident() != 9 {
		t.Errorf("echo reply: %v", r)
	}
}

// ICMP errors quoting a brokered flow are mapped through the broker with
// peek set, both ways; one the broker does not hold is not translated.
func TestBrokerQuoted(t *testing.T) {
	router4, router6 := addr("198.51.100.254"), addr("2001:db8::fe")
	d6 := wkp.Embed(h2)
	for _, claim := range []Claim{Claimed, Refused, Await} {
		for _, proto := range []uint8{header.ProtoUDP, header.ProtoICMPv4} {
			b := &scripted{out: claim, in: claim, port: 2000, client: netip.AddrPortFrom(h1, 4000)}
			x := brokered(t, b)
			// 4->6: a router's error about N:2000 -> h2:53 (or an echo
			// from N with identifier 2000).
			var sent4 []byte
			if proto == header.ProtoUDP {
				sent4 = udp4(pool, 2000, h2, 53)
			} else {
				sent4 = testpkt.IPv4{Src: pool, Dst: h2}.Packet(1, testpkt.Echo(pool, h2, header.ICMPv4EchoRequest, 2000, 1, nil))
			}
			e4 := testpkt.IPv4{Src: router4, Dst: pool}.Packet(1, testpkt.ICMPError(router4, pool, header.ICMPv4TimeExceeded, 0, 0, sent4))
			out, r := xl(x, e4)
			if claim != Claimed {
				if r.Verdict == translate.Forward {
					t.Errorf("%v proto %d 4->6: translated", claim, proto)
				}
			} else {
				q := header.IPv6(out[48:])
				id, other := header.UDP(q[40:]).SrcPort(), header.UDP(q[40:]).DstPort() // the ports, or the echo identifier
				if proto == header.ProtoICMPv4 {
					id, other = header.ICMPv6(q[40:]).Ident(), 53
				}
				if r.Verdict != translate.Forward || header.IPv6(out).Dst() != h1 || q.Src() != h1 || q.Dst() != d6 || id != 4000 || other != 53 {
					t.Errorf("%v proto %d 4->6: %v quoting %v -> %v id %d", claim, proto, r, q.Src(), q.Dst(), id)
				}
			}
			// 6->4: h1's error about Pool6+h2:53 -> h1:4000 (or an echo
			// reply to h1 with identifier 4000).
			var sent6 []byte
			if proto == header.ProtoUDP {
				sent6 = testpkt.IPv6{Src: d6, Dst: h1}.Packet(17, testpkt.UDP(d6, h1, 53, 4000, nil))
			} else {
				sent6 = testpkt.IPv6{Src: d6, Dst: h1}.Packet(58, testpkt.Echo(d6, h1, header.ICMPv6EchoReply, 4000, 1, nil))
			}
			e6 := testpkt.IPv6{Src: router6, Dst: d6}.Packet(58, testpkt.ICMPError(router6, d6, header.ICMPv6TimeExceeded, 0, 0, sent6))
			out, r = xl(x, e6)
			if claim != Claimed {
				if r.Verdict == translate.Forward {
					t.Errorf("%v proto %d 6->4: translated", claim, proto)
				}
			} else {
				q := header.IPv4(out[28:])
				id, other := header.UDP(q[20:]).DstPort(), header.UDP(q[20:]).SrcPort()
				if proto == header.ProtoICMPv4 {
					id, other = header.ICMPv4(q[20:]).Ident(), 53
				}
				if r.Verdict != translate.Forward || q.Src() != h2 || q.Dst() != pool || id != 2000 || other != 53 {
					t.Errorf("%v proto %d 6->4: %v quoting %v -> %v id %d", claim, proto, r, q.Src(), q.Dst(), id)
				}
			}
			for _, p := range b.peeks {
				if !p {
					t.Errorf("%v proto %d: the broker asked without peek", claim, proto)
				}
			}
			if len(b.parked) != 0 || x.Sessions() != 0 {
				t.Errorf("%v proto %d: an error parked %d packets, made %d sessions", claim, proto, len(b.parked), x.Sessions())
			}
		}
	}
}

// A brokered datagram's later fragments follow its first, both ways.
func TestBrokerFragments(t *testing.T) {
	b := &scripted{out: Claimed, in: Claimed, port: 2000, client: netip.AddrPortFrom(h1, 4000)}
	x := brokered(t, b)
	d6 := wkp.Embed(h2)
	first, later := udpFragment6(0xabcd1234, true), udpFragment6(0xabcd1234, false)
	if _, r := xl(x, first); r.Verdict != translate.Forward {
		t.Fatalf("first fragment: %v", r)
	}
	if o, r := xl(x, later); r.Verdict != translate.Forward || header.IPv4(o).Src() != pool || header.IPv4(o).Dst() != h2 {
		t.Errorf("later fragment: %v", r)
	}
	u4 := testpkt.UDP(h2, pool, 53, 2000, make([]byte, 64))
	f1 := testpkt.IPv4{Src: h2, Dst: pool, ID: 77, MF: true}.Packet(17, u4[:32])
	f2 := testpkt.IPv4{Src: h2, Dst: pool, ID: 77, FragOff: 4}.Packet(17, u4[32:])
	if _, r := xl(x, f1); r.Verdict != translate.Forward {
		t.Fatalf("IPv4 first fragment: %v", r)
	}
	if o, r := xl(x, f2); r.Verdict != translate.Forward || header.IPv6(o).Dst() != h1 || header.IPv6(o).Src() != d6 {
		t.Errorf("IPv4 later fragment: %v", r)
	}
}

// The broker has the last word on the flows it claims: an error quoting a
// flow it refuses is not translated through a session the BIB happens to
// hold for it.
func TestBrokerQuotedOverridesBIB(t *testing.T) {
	b := &scripted{out: NotClaimed, in: NotClaimed}
	x := brokered(t, b)
	out, r := xl(x, udp6(h1, 4000, h2, 53)) // a BIB session
	if r.Verdict != translate.Forward {
		t.Fatalf("the BIB's session: %v", r)
	}
	t4, _ := ports4(out)
	b.out, b.in = Refused, Refused
	router4, router6 := addr("198.51.100.254"), addr("2001:db8::fe")
	e4 := testpkt.IPv4{Src: router4, Dst: pool}.Packet(1, testpkt.ICMPError(router4, pool, header.ICMPv4TimeExceeded, 0, 0, udp4(pool, t4, h2, 53)))
	if _, r := xl(x, e4); r.Verdict == translate.Forward {
		t.Error("4->6: an error about a refused flow translated through the BIB")
	}
	d6 := wkp.Embed(h2)
	sent6 := testpkt.IPv6{Src: d6, Dst: h1}.Packet(17, testpkt.UDP(d6, h1, 53, 4000, nil))
	e6 := testpkt.IPv6{Src: router6, Dst: d6}.Packet(58, testpkt.ICMPError(router6, d6, header.ICMPv6TimeExceeded, 0, 0, sent6))
	if _, r := xl(x, e6); r.Verdict == translate.Forward {
		t.Error("6->4: an error about a refused flow translated through the BIB")
	}
}
