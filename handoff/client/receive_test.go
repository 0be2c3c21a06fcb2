package client

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/internal/handofftest"
	"github.com/v6xlat/xlat/handoff/wire"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// control is a datagram from src:sport to N:CP carrying payload, with
// optional octets of IPv4 options.
func control(src netip.Addr, sport uint16, options int, payload []byte) []byte {
	pkt := make([]byte, udpIPv4Header, udpIPv4Header+len(payload))
	pkt = append(pkt, payload...)
	encodeUDP4(pkt, netip.AddrPortFrom(src, sport), handofftest.NCP)
	if options == 0 {
		return pkt
	}
	out := append(append(append([]byte(nil), pkt[:header.IPv4MinSize]...), bytes.Repeat([]byte{1}, options)...), pkt[header.IPv4MinSize:]...)
	out[0] = 0x45 + byte(options/4)
	header.IPv4(out).SetTotalLen(uint16(len(out)))
	return out
}

// Receive takes the packets addressed to N:CP (§6) and no others, and
// counts the malformed ones it takes.
func TestClientReceiveAcceptance(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	hp := uint16(handoff.DefaultServerPort)
	empty := control(sAddr, hp, 0, nil) // the shortest control packet, 28 octets
	mod := func(b []byte, f func([]byte)) []byte { b = append([]byte(nil), b...); f(b); return b }
	for _, c := range []struct {
		name      string
		pkt       []byte
		taken     bool
		malformed uint64 // MalformedDatagrams counted
		badToken  uint64
	}{
		{"empty", empty, true, 1, 0},
		{"options, empty", control(sAddr, hp, 4, nil), true, 1, 0},
		{"27 octets", empty[:27], false, 0, 0},
		{"options, UDP header cut", control(sAddr, hp, 4, nil)[:30], false, 0, 0},
		{"to another port", mod(empty, func(b []byte) { header.UDP(b[20:]).SetDstPort(1025) }), false, 0, 0},
		{"to another address", mod(empty, func(b []byte) { b[19]++ }), false, 0, 0},
		{"TCP", mod(empty, func(b []byte) { b[9] = header.ProtoTCP }), false, 0, 0},
		{"a fragment", mod(empty, func(b []byte) { b[6] = 0x20 }), false, 0, 0},
		{"IPv6", mod(empty, func(b []byte) { b[0] = 0x65 }), false, 0, 0},
		{"total length past the end", mod(empty, func(b []byte) { header.IPv4(b).SetTotalLen(29) }), true, 1, 0},
		{"total length short of UDP", mod(empty, func(b []byte) { header.IPv4(b).SetTotalLen(24) }), true, 1, 0},
		{"UDP length wrong", mod(empty, func(b []byte) { header.UDP(b[20:]).SetLength(9) }), true, 1, 0},
		{"UDP checksum wrong", mod(empty, func(b []byte) { b[27]++ }), true, 1, 0},
		// No checksum is accepted; the empty payload is malformed.
		{"UDP checksum zero", mod(empty, func(b []byte) { header.UDP(b[20:]).SetChecksum(0) }), true, 1, 0},
		{"from an unknown server", control(netip.MustParseAddr("192.0.2.9"), hp, 0, nil), true, 0, 1},
		{"from another port", control(sAddr, 53, 0, nil), true, 0, 1},
	} {
		before := tb.cli.Stats()
		if taken := tb.cli.Receive(c.pkt); taken != c.taken {
			t.Errorf("%s: taken %v", c.name, taken)
		}
		st := tb.cli.Stats()
		if m, b := st.MalformedDatagrams-before.MalformedDatagrams, st.BadToken-before.BadToken; m != c.malformed || b != c.badToken {
			t.Errorf("%s: malformed %d bad token %d, want %d %d", c.name, m, b, c.malformed, c.badToken)
		}
	}
}

// §8.6: ERROR UNSUPPORTED_VERSION or TABLE_LIMIT makes the server
// NOT_CAPABLE; other codes are logged only.
func TestClientServerErrors(t *testing.T) {
	for _, c := range []struct {
		code  wire.ErrorCode
		state PeerState
		count uint64
	}{
		{wire.ErrUnsupportedVersion, NotCapable, 1},
		{wire.ErrTableLimit, NotCapable, 1},
		{wire.ErrMalformed, Capable, 0},
	} {
		var logged []string
		tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}, Errorf: func(f string, a ...any) { logged = append(logged, f) }})
		tb.answer(0, &wire.Error{Code: c.code, Text: "x"})
		if st := tb.cli.Stats(); tb.cli.Peers()[0].State != c.state || st.ServerErrors != c.count || len(logged) != 1 {
			t.Errorf("ERROR %d: %v, %d server errors, logged %q", c.code, tb.cli.Peers()[0].State, st.ServerErrors, logged)
		}
	}
}

// Messages a server does not send, or echoes with no MAP before them, are
// counted and change nothing (§8.6).
func TestClientUnexpectedMessages(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	syn := wire.Packet(handofftest.SYN(client1))
	for _, c := range []struct {
		name string
		msgs []wire.Message
	}{
		{"an echo first", []wire.Message{syn}},
		{"an echo after an INVALIDATE", []wire.Message{&wire.Invalidate{Port: 1030, Generation: 1}, syn}},
		{"a LOOKUP", []wire.Message{&wire.Lookup{Port: 1030}}},
		{"a MAP of an unknown status", []wire.Message{&wire.Map{Status: wire.StatusRefused + 1, Port: 1030, Generation: 1, Client: client1}}},
		{"a MAP outside the slots", []wire.Message{&wire.Map{Status: wire.StatusNew, Port: 1036, Generation: 1, Client: client1}}},
		{"a MAP below the slots", []wire.Message{&wire.Map{Status: wire.StatusNew, Port: 1027, Generation: 1, Client: client1}}},
	} {
		before := tb.cli.Stats().UnexpectedMessages
		tb.answer(0, c.msgs...)
		if n := tb.cli.Stats().UnexpectedMessages - before; n != 1 || len(tb.delivered) != 0 || tb.cli.Peers()[0].Entries != 0 {
			t.Errorf("%s: %d unexpected, %d delivered, %d entries", c.name, n, len(tb.delivered), tb.cli.Peers()[0].Entries)
		}
	}
	tb.answer(0, &wire.Map{Status: wire.StatusNew, Port: 1035, Generation: 1, Client: client1})
	if port, _, _, ok := tb.cli.lookup(sAddr, client1); !ok || port != 1035 {
		t.Errorf("a MAP on the last slot: %d %v", port, ok)
	}
}

// §5.5: echoed packets are delivered only if they belong to the MAP before
// them: an IPv6 packet from its client to S, an IPv4 packet from S to its
// port on N.
func TestClientEchoes(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	other := netip.MustParseAddr("192.0.2.3")
	m := &wire.Map{Status: wire.StatusNew, Port: 1030, Generation: 1, Client: client1}
	to := func(dst netip.Addr) []byte {
		d := netip.AddrFrom16(netip.MustParseAddr("64:ff9b::").As16())
		b := d.As16()
		copy(b[12:], dst.AsSlice())
		d = netip.AddrFrom16(b)
		return testpkt.IPv6{Src: client1.Addr(), Dst: d, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(client1.Addr(), d, client1.Port(), 53, nil))
	}
	from := func(src, dst netip.Addr, port uint16) []byte {
		return testpkt.IPv4{Src: src, Dst: dst, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(src, dst, 53, port, nil))
	}
	frag := from(sAddr, n1, 1030)
	header.IPv4(frag).SetFlagsOffset(1)
	for _, c := range []struct {
		name string
		pkt  []byte
		ok   bool
		to4  bool
	}{
		{"IPv6 from the client to S", to(sAddr), true, true},
		{"IPv6 to another server", to(other), false, false},
		{"IPv6 from another client", handofftest.SYN(client2), false, false},
		{"IPv4 from S to the port", from(sAddr, n1, 1030), true, false},
		{"IPv4 from another server", from(other, n1, 1030), false, false},
		{"IPv4 to another address", from(sAddr, other, 1030), false, false},
		{"IPv4 to another port", from(sAddr, n1, 1031), false, false},
		{"IPv4 a later fragment", frag, false, false},
	} {
		before := tb.cli.Stats().EchoMismatch
		tb.answer(0, m, wire.Packet(c.pkt))
		d := tb.takeDelivered()
		mismatch := tb.cli.Stats().EchoMismatch - before
		if c.ok && (len(d) != 1 || !bytes.Equal(d[0].pkt, c.pkt) || d[0].to4 != c.to4 || mismatch != 0) ||
			!c.ok && (len(d) != 0 || mismatch != 1) {
			t.Errorf("%s: delivered %d, %d mismatches", c.name, len(d), mismatch)
		}
	}
}

// flowOf reads what a data packet says about its binding, and refuses
// what it cannot read.
func TestClientFlowOf(t *testing.T) {
	tb := newTestbed(t, Config{})
	s6 := netip.MustParseAddr("64:ff9b::192.0.2.2")
	c6 := client1.Addr()
	six := func(proto uint8, l4 []byte) []byte {
		return testpkt.IPv6{Src: c6, Dst: s6, HopLimit: 64}.Packet(proto, l4)
	}
	four := func(proto uint8, l4 []byte) []byte {
		return testpkt.IPv4{Src: sAddr, Dst: n1, TTL: 64}.Packet(proto, l4)
	}
	echo6 := testpkt.Echo(c6, s6, header.ICMPv6EchoRequest, 0x1234, 1, nil)
	reply6 := testpkt.Echo(c6, s6, header.ICMPv6EchoReply, 0x1235, 1, nil)
	unreach6 := testpkt.ICMPError(c6, s6, 1, 0, 0, nil)
	echo4 := testpkt.Echo(sAddr, n1, header.ICMPv4EchoRequest, 0x4321, 1, nil)
	reply4 := testpkt.Echo(sAddr, n1, header.ICMPv4EchoReply, 0x4322, 1, nil)
	unreach4 := testpkt.ICMPError(sAddr, n1, 3, 1, 0, nil)
	tcp6 := six(header.ProtoTCP, testpkt.TCP(c6, s6, 40000, 80, header.TCPFlagSYN, nil))
	tcp4 := four(header.ProtoTCP, testpkt.TCP(sAddr, n1, 80, 1030, header.TCPFlagACK, nil))
	frag4 := append([]byte(nil), tcp4...)
	header.IPv4(frag4).SetFlagsOffset(1) // offset 8 octets
	ihl4 := append([]byte(nil), tcp4...)
	ihl4[0] = 0x44
	for _, c := range []struct {
		name string
		pkt  []byte
		six  bool
		want clientFlow // zero: refused
	}{
		{"IPv6 TCP", tcp6, true, clientFlow{server: sAddr, client: netip.AddrPortFrom(c6, 40000)}},
		{"IPv6 TCP, ports only", tcp6[:44], true, clientFlow{server: sAddr, client: netip.AddrPortFrom(c6, 40000)}},
		{"IPv6 TCP, short of the ports", tcp6[:43], true, clientFlow{}},
		{"IPv6 UDP", six(header.ProtoUDP, testpkt.UDP(c6, s6, 5353, 53, nil)), true, clientFlow{server: sAddr, client: netip.AddrPortFrom(c6, 5353)}},
		{"IPv6 echo request", six(header.ProtoICMPv6, echo6), true, clientFlow{server: sAddr, client: netip.AddrPortFrom(c6, 0x1234)}},
		{"IPv6 echo reply", six(header.ProtoICMPv6, reply6), true, clientFlow{server: sAddr, client: netip.AddrPortFrom(c6, 0x1235)}},
		{"IPv6 echo, identifier cut", six(header.ProtoICMPv6, echo6)[:47], true, clientFlow{}},
		{"IPv6 echo, identifier only", six(header.ProtoICMPv6, echo6)[:48], true, clientFlow{server: sAddr, client: netip.AddrPortFrom(c6, 0x1234)}},
		{"IPv6 other ICMPv6", six(header.ProtoICMPv6, unreach6), true, clientFlow{}},
		{"IPv6 no next header", six(59, nil), true, clientFlow{}},
		{"IPv6 outside pool6", testpkt.IPv6{Src: c6, Dst: c6, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(c6, c6, 1, 2, nil)), true, clientFlow{}},
		{"IPv6 header cut", tcp6[:39], true, clientFlow{}},
		{"IPv6 read as IPv4", tcp6, false, clientFlow{}},
		{"IPv4 TCP", tcp4, false, clientFlow{server: sAddr, port: 1030, dst4: n1}},
		{"IPv4 TCP, ports only", tcp4[:24], false, clientFlow{server: sAddr, port: 1030, dst4: n1}},
		{"IPv4 TCP, short of the ports", tcp4[:23], false, clientFlow{}},
		{"IPv4 UDP", four(header.ProtoUDP, testpkt.UDP(sAddr, n1, 53, 1031, nil)), false, clientFlow{server: sAddr, port: 1031, dst4: n1}},
		{"IPv4 echo request", four(header.ProtoICMPv4, echo4), false, clientFlow{server: sAddr, port: 0x4321, dst4: n1}},
		{"IPv4 echo reply", four(header.ProtoICMPv4, reply4), false, clientFlow{server: sAddr, port: 0x4322, dst4: n1}},
		{"IPv4 echo, identifier cut", four(header.ProtoICMPv4, echo4)[:27], false, clientFlow{}},
		{"IPv4 echo, identifier only", four(header.ProtoICMPv4, echo4)[:28], false, clientFlow{server: sAddr, port: 0x4321, dst4: n1}},
		{"IPv4 other ICMP", four(header.ProtoICMPv4, unreach4), false, clientFlow{}},
		{"IPv4 a later fragment", frag4, false, clientFlow{}},
		{"IPv4 header length 16", ihl4, false, clientFlow{}},
		{"IPv4 header cut", tcp4[:19], false, clientFlow{}},
		{"IPv4 read as IPv6", tcp4, true, clientFlow{}},
	} {
		f, ok := tb.cli.flowOf(c.pkt, c.six)
		if want := c.want != (clientFlow{}); ok != want || ok && f != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.name, f, ok, c.want)
		}
	}
}

// A MAP answers the request it is for (§8.6): a MAP_REQUEST of its
// client, an ADOPT of its client on its port (or refused), a LOOKUP of its
// port; nothing else.
func TestClientAnswered(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.blocked = true
	c3 := netip.AddrPortFrom(client2.Addr(), 7)
	tb.cli.Out(sAddr, client1, false) // MAP_REQUEST
	tb.cli.In(sAddr, 1032, false)     // LOOKUP
	tb.cli.mu.Lock()
	p := tb.cli.peers[sAddr]
	tb.cli.queueAdopt(p, tb.cli.install(p, client2, 1030, 0, true, tb.now), tb.now) // ADOPT
	tb.cli.unlockAndFlush()
	pending := func() int { return tb.cli.Peers()[0].Pending }
	for _, c := range []struct {
		name    string
		m       wire.Map
		answers bool
	}{
		{"a MAP of another client", wire.Map{Status: wire.StatusNew, Port: 1033, Generation: 1, Client: c3}, false},
		{"the ADOPT's client on another port", wire.Map{Status: wire.StatusExisting, Port: 1031, Generation: 1, Client: client2}, false},
		{"a refused LOOKUP port", wire.Map{Status: wire.StatusRefused, Port: 1032, Client: c3}, false},
		{"the MAP_REQUEST's client", wire.Map{Status: wire.StatusNew, Port: 1028, Generation: 1, Client: client1}, true},
		{"the ADOPT's client, refused", wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonInvalid, Client: client2}, true},
		{"the LOOKUP's port", wire.Map{Status: wire.StatusExisting, Port: 1032, Generation: 1, Client: c3}, true},
	} {
		before := pending()
		m := c.m
		tb.answer(0, &m)
		if answered := pending() < before; answered != c.answers {
			t.Errorf("%s: answered %v", c.name, answered)
		}
	}
	// The ADOPT answered on its port.
	tb.cli.mu.Lock()
	tb.cli.queueAdopt(p, tb.cli.install(p, netip.AddrPortFrom(client1.Addr(), 9), 1034, 0, true, tb.now), tb.now)
	tb.cli.unlockAndFlush()
	tb.answer(0, &wire.Map{Status: wire.StatusAdopted, Port: 1034, Generation: 1, Client: netip.AddrPortFrom(client1.Addr(), 9)})
	if n := pending(); n != 0 {
		t.Errorf("%d requests pending after every answer", n)
	}
}

// §8.3: an ADOPT refused for RATE stays queued and goes out again; one
// refused for another reason leaves the entry LOCAL and unrequested.
func TestClientAdoptRefused(t *testing.T) {
	for _, c := range []struct {
		reason uint8
		again  bool
	}{{wire.ReasonRate, true}, {wire.ReasonInvalid, false}} {
		tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
		tb.blocked = true
		tb.cli.mu.Lock()
		p := tb.cli.peers[sAddr]
		tb.cli.queueAdopt(p, tb.cli.install(p, client2, 1030, 0, true, tb.now), tb.now)
		tb.cli.unlockAndFlush()
		tb.takeSent()
		tb.answer(0, &wire.Map{Status: wire.StatusRefused, Reason: c.reason, Client: client2})
		sent := tb.takeSent()
		again := len(sent) == 1 && len(sent[0].Messages) == 1 && *sent[0].Messages[0].(*wire.MapRequest) ==
			wire.MapRequest{Flags: wire.FlagAdopt, Port: 1030, Client: client2}
		if again != c.again || tb.cli.Peers()[0].Pending != len(sent) {
			t.Errorf("reason %d: sent %d datagrams, adopted again %v, %d pending", c.reason, len(sent), again, tb.cli.Peers()[0].Pending)
		}
		if _, _, local, ok := tb.cli.lookup(sAddr, client2); !ok || !local {
			t.Errorf("reason %d: the LOCAL entry is gone", c.reason)
		}
	}
}

// §8.4: the NOTE goes with notifications (ADOPTs while PROBING or
// NOT_CAPABLE) when one is configured, and with nothing else.
func TestClientNote(t *testing.T) {
	hasNote := func(d *wire.Datagram) bool {
		for _, m := range d.Messages {
			if n, ok := m.(*wire.Note); ok {
				return n.Text == "why"
			}
		}
		return false
	}
	for _, c := range []struct {
		name  string
		note  string
		state PeerState
		adopt bool
		want  bool
	}{
		{"a notification, probing", "why", Unknown, true, true},
		{"a notification, not capable", "why", NotCapable, true, true},
		{"a notification without a note configured", "", Unknown, true, false},
		{"an ADOPT to a capable server", "why", Capable, true, false},
		{"a MAP_REQUEST", "why", Capable, false, false},
	} {
		tb := newTestbed(t, Config{Note: c.note})
		tb.blocked = true
		tb.cli.mu.Lock()
		p := tb.cli.peer(sAddr, tb.now)
		p.state = c.state
		tb.cli.mu.Unlock()
		switch {
		case c.adopt && c.state != Capable:
			tb.cli.SessionCreated(sAddr, client1, 1030)
		case c.adopt:
			tb.cli.mu.Lock()
			tb.cli.queueAdopt(p, tb.cli.install(p, client1, 1030, 0, true, tb.now), tb.now)
			tb.cli.unlockAndFlush()
		default:
			tb.cli.Out(sAddr, client1, false)
		}
		sent := tb.takeSent()
		if len(sent) != 1 || hasNote(sent[0]) != c.want {
			t.Errorf("%s: %d datagrams, NOTE %v", c.name, len(sent), !c.want)
		}
	}
}
