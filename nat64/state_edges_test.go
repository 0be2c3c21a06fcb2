package nat64

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// RFC 6146 §3.5.3: an ICMP query session lives ICMP_DEFAULT after its
// last packet, and a session ends at exactly its lifetime, not a Tick
// later.
func TestICMPLifetime(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	d6 := wkp.Embed(h2)
	echo := testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, header.ICMPv6EchoRequest, 7, 1, nil))
	xl(x, echo)
	clock.advance(50 * time.Second)
	clock.tick(x)
	xl(x, echo) // refreshed: 60 s from here
	clock.advance(DefaultICMPTimeout - time.Second)
	clock.tick(x)
	if x.Sessions() != 1 {
		t.Fatal("the refreshed ICMP session expired early")
	}
	clock.advance(time.Second)
	clock.tick(x)
	if x.Sessions() != 0 || x.Bindings() != 0 {
		t.Errorf("at its lifetime: %d sessions, %d bindings", x.Sessions(), x.Bindings())
	}
}

// The per-source and per-/64 counts follow the sessions down: once a
// source's sessions are gone it may open new ones, and nothing is left
// of it in the counts.
func TestSourceCountsForgotten(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.MaxSessionsPerSource, cfg.MaxSessionsPer64 = 1, 1
	x := newTest(t, cfg)
	for round := 0; round < 3; round++ {
		if _, r := xl(x, udp6(h1, uint16(4000+round), h2, 53)); r.Verdict != translate.Forward {
			t.Fatalf("round %d: %v", round, r)
		}
		if _, r := xl(x, udp6(h1, uint16(5000+round), h2, 53)); r.Reason != translate.ReasonLimit {
			t.Fatalf("round %d: a second session %v", round, r)
		}
		clock.advance(DefaultUDPTimeout)
		clock.tick(x)
		if x.Sessions() != 0 || len(x.bib.perSource) != 0 || len(x.bib.perPrefix) != 0 {
			t.Fatalf("round %d: %d sessions, counts %v %v", round, x.Sessions(), x.bib.perSource, x.bib.perPrefix)
		}
	}
}

// A binding made by a simultaneous open (§3.5.2.2) counts its session:
// it goes when the session does.
func TestSimultaneousOpenBinding(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	xl(x, tcp4(h2, 5001, pool, 6001, header.TCPFlagSYN))
	if _, r := xl(x, tcp6(h1, 6001, h2, 5001, header.TCPFlagSYN)); r.Verdict != translate.Forward {
		t.Fatalf("IPv6 SYN: %v", r)
	}
	if x.Bindings() != 1 {
		t.Fatalf("%d bindings", x.Bindings())
	}
	xl(x, tcp6(h1, 6001, h2, 5001, header.TCPFlagRST))
	clock.advance(DefaultTCPTransTimeout + time.Second)
	clock.tick(x)
	if x.Sessions() != 0 || x.Bindings() != 0 {
		t.Errorf("after the reset: %d sessions, %d bindings", x.Sessions(), x.Bindings())
	}
}

// Unsolicited SYNs are held up to maximum-simultaneous-opens and within
// max-sessions; beyond either they are refused.
func TestHeldSYNLimits(t *testing.T) {
	for _, c := range []struct {
		name        string
		opens, max  int
		established int // sessions made first
		held        int // of five SYNs
	}{
		{"two opens", 2, 0, 0, 2},
		{"no session limit", 10, 0, 0, 5},
		{"one session left", 10, 3, 2, 1},
		{"no session left", 10, 2, 2, 0},
	} {
		clock := newClock()
		cfg := testConfig(clock)
		cfg.MaxSimultaneousOpens, cfg.MaxSessions = c.opens, c.max
		x := newTest(t, cfg)
		for i := 0; i < c.established; i++ {
			xl(x, udp6(h1, uint16(4000+i), h2, 53))
		}
		held := 0
		for i := 0; i < 5; i++ {
			_, r := xl(x, tcp4(h2, 5000, pool, uint16(7000+i), header.TCPFlagSYN))
			switch r.Reason {
			case translate.ReasonHeld:
				held++
			case translate.ReasonLimit:
			default:
				t.Errorf("%s: SYN %d: %v", c.name, i, r)
			}
		}
		if held != c.held {
			t.Errorf("%s: %d SYNs held, want %d", c.name, held, c.held)
		}
	}
}

// A static binding listed twice is one binding; two that share an
// endpoint are refused.
func TestStaticBIBListedTwice(t *testing.T) {
	clock := newClock()
	s := StaticBIB{Protocol: TCP, IPv6: Endpoint{netip.AddrPortFrom(h1, 80)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 8080)}}
	other := s
	other.IPv4 = Endpoint{netip.AddrPortFrom(pool, 8081)}
	cfg := testConfig(clock)
	cfg.StaticBIB = []StaticBIB{s, s}
	x := newTest(t, cfg)
	if x.Bindings() != 1 {
		t.Errorf("%d bindings for one listed twice", x.Bindings())
	}
	cfg.StaticBIB = []StaticBIB{s, other}
	if _, err := New(cfg, fixedRandom()); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("one IPv6 endpoint bound twice: %v", err)
	}
}

// A state beyond the table has a name too.
func TestTCPStateNames(t *testing.T) {
	if s := tcpState(len(tcpStateNames)).String(); s != "?" {
		t.Errorf("state %d: %q", len(tcpStateNames), s)
	}
	if s := tcpState(len(tcpStateNames) - 1).String(); s != "TRANS" {
		t.Errorf("the last state: %q", s)
	}
}

// Translate picks the direction by the version nibble at off, and copes
// with offsets at either end of the buffer.
func TestTranslateBounds(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	pkt := udp6(h1, 4000, h2, 53)
	buf := append(append([]byte(nil), pkt...), make([]byte, 64)...)
	if r := x.Translate(buf, 0, len(pkt)); r.Verdict != translate.Forward {
		t.Errorf("an IPv6 packet at offset 0: %v", r)
	}
	for _, off := range []int{len(buf), len(buf) + 1, -1} {
		if r := x.Translate(buf, off, 1); r.Verdict != translate.Drop {
			t.Errorf("offset %d: %v", off, r)
		}
	}
	// A length past the buffer, on a packet to a pool4 address (the
	// hairpin path): dropped.
	hp := testpkt.IPv6{Src: h1, Dst: wkp.Embed(pool)}.Packet(6, testpkt.TCP(h1, wkp.Embed(pool), 4000, 5000, header.TCPFlagSYN, nil))
	if r := x.To4(hp, 0, len(hp)+10); r.Verdict != translate.Drop {
		t.Errorf("a length past the buffer: %v", r)
	}
}

// The hairpinned unsolicited SYN's ICMP error quotes the IPv6 original
// (RFC 6146 §3.8, RFC 5382 REQ-4), wherever it sits in its buffer.
func TestHairpinHeldSYNQuotesOriginal(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	// h1 talks to h3 through the NAT64 (so h3 has pool:t), then h1's
	// SYN to h3's pool4 address comes back in.
	h3 := addr("2001:db8::3")
	out, _ := xl(x, udp6(h3, 6000, h2, 53))
	t3, _ := ports4(out)
	syn := testpkt.IPv6{Src: h1, Dst: wkp.Embed(pool)}.Packet(6, testpkt.TCP(h1, wkp.Embed(pool), 4000, t3, header.TCPFlagSYN, nil))
	buf := append(make([]byte, 0, len(syn)), syn...) // the packet fills its buffer
	if r := x.Translate(buf, 0, len(syn)); r.Reason != translate.ReasonHeld {
		t.Fatalf("hairpinned SYN: %v", r)
	}
	clock.advance(TCPIncomingSYNTimeout + time.Second)
	e := clock.tick(x)
	if len(e) < 48 || e[0]>>4 != 6 || header.IPv6(e).Dst() != h1 {
		t.Fatalf("error % x", e)
	}
	q := header.IPv6(e[48:])
	if q.Src() != h1 || q.Dst() != wkp.Embed(pool) {
		t.Errorf("the error quotes %v -> %v, want the original %v -> %v", q.Src(), q.Dst(), h1, wkp.Embed(pool))
	}
}

// RFC 6146 §3.4: a datagram's first translation is kept fragmentLifetime
// seconds after its last fragment (FRAGMENT_MIN, 2 s), up to
// maxFragments datagrams; beyond that a first fragment still goes out,
// and its later fragments are dropped.
func TestFragmentMemory(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	clock.tick(x)
	step := func(d time.Duration) { clock.advance(d); clock.tick(x) }
	xl(x, udpFragment6(1, true))
	step(fragmentLifetime * time.Second) // exactly the lifetime: still known
	if _, r := xl(x, udpFragment6(1, false)); r.Verdict != translate.Forward {
		t.Fatalf("a later fragment at the lifetime: %v", r)
	}
	step(fragmentLifetime * time.Second) // the later fragment renewed it
	if _, r := xl(x, udpFragment6(1, false)); r.Verdict != translate.Forward {
		t.Fatalf("a later fragment a lifetime after the last: %v", r)
	}
	step((fragmentLifetime + 1) * time.Second)
	if _, r := xl(x, udpFragment6(1, false)); r.Verdict != translate.Drop {
		t.Fatalf("a later fragment past the lifetime: %v", r)
	}
	// The bound: the memory full but for one.
	x.frags.mu.Lock()
	for i := uint32(0); len(x.frags.m) < maxFragments-1; i++ {
		x.frags.m[fragKey{id: 1000 + i}] = fragVal{expires: 1 << 30}
	}
	x.frags.mu.Unlock()
	for _, id := range []uint32{2, 3} {
		if _, r := xl(x, udpFragment6(id, true)); r.Verdict != translate.Forward {
			t.Fatalf("first fragment %d: %v", id, r)
		}
	}
	if _, r := xl(x, udpFragment6(2, false)); r.Verdict != translate.Forward {
		t.Errorf("the last datagram remembered: %v", r)
	}
	if _, r := xl(x, udpFragment6(3, false)); r.Verdict != translate.Drop {
		t.Errorf("one past the bound remembered: %v", r)
	}
}

// What the policy refuses before any state: protocols other than TCP,
// UDP and ICMP either way (RFC 6146 §3.5), and ICMPv6 informational
// messages when drop-icmpv6-info is set.
func TestPolicyRefusals(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	x := newTest(t, cfg)
	d6 := wkp.Embed(h2)
	gre6 := testpkt.IPv6{Src: h1, Dst: d6}.Packet(47, make([]byte, 8))
	gre4 := testpkt.IPv4{Src: h2, Dst: pool}.Packet(47, make([]byte, 8))
	echo := testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, header.ICMPv6EchoRequest, 7, 1, nil))
	for name, c := range map[string]struct {
		pkt  []byte
		want translate.Reason
	}{
		"IPv6 GRE": {gre6, translate.ReasonUnsupported}, "IPv4 GRE": {gre4, translate.ReasonUnsupported}, "an echo": {echo, translate.ReasonNone},
	} {
		if _, r := xl(x, c.pkt); r.Reason != c.want {
			t.Errorf("%s: %v, want %v", name, r, c.want)
		}
	}
	cfg.DropICMPv6Info = true
	x = newTest(t, cfg)
	if _, r := xl(x, echo); r.Reason != translate.ReasonPolicyProhibited {
		t.Errorf("an echo with drop-icmpv6-info: %v", r)
	}
	if _, r := xl(x, udp6(h1, 4000, h2, 53)); r.Verdict != translate.Forward {
		t.Errorf("UDP with drop-icmpv6-info: %v", r)
	}
}

// §3.5.2.2: an outbound TCP segment that is not a SYN, with no session,
// goes out through its endpoint's binding without creating state, and is
// dropped when there is none.
func TestTCPNonSYNThroughBinding(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	out, _ := xl(x, tcp6(h1, 4000, h2, 80, header.TCPFlagSYN))
	t4, _ := ports4(out)
	h3 := addr("198.51.100.3")
	out, r := xl(x, tcp6(h1, 4000, h3, 80, header.TCPFlagACK))
	if p, _ := ports4(out); r.Verdict != translate.Forward || p != t4 || x.Sessions() != 1 {
		t.Errorf("an ACK to a new destination: %v from port %d (binding %d), %d sessions", r, p, t4, x.Sessions())
	}
	if _, r := xl(x, tcp6(h1, 4001, h3, 80, header.TCPFlagACK)); r.Reason != translate.ReasonNoBinding {
		t.Errorf("an ACK with no binding: %v", r)
	}
}

// With address-dependent filtering an IPv4 SYN through a binding is held
// (RFC 6146 §3.5.2.2 V4 SYN); the IPv6 SYN that answers it in time takes
// it out, so no ICMP error follows (RFC 5382 REQ-4) and it no longer
// counts against maximum-simultaneous-opens.
func TestHeldSYNAnsweredThroughBinding(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.AddressDependentFiltering, cfg.MaxSimultaneousOpens = true, 1
	cfg.StaticBIB = []StaticBIB{{Protocol: TCP, IPv6: Endpoint{netip.AddrPortFrom(h1, 80)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 80)}}}
	x := newTest(t, cfg)
	clock.tick(x)
	xl(x, tcp6(h1, 80, h2, 1, header.TCPFlagSYN)) // h1 has talked to h2
	if _, r := xl(x, tcp4(h2, 40000, pool, 80, header.TCPFlagSYN)); r.Reason != translate.ReasonHeld {
		t.Fatalf("V4 SYN under ADF: %v", r)
	}
	if _, r := xl(x, tcp6(h1, 80, h2, 40000, header.TCPFlagSYN|header.TCPFlagACK)); r.Verdict != translate.Forward {
		t.Fatalf("V6 SYN: %v", r)
	}
	// Nor does it keep a place among the simultaneous opens.
	if _, r := xl(x, tcp4(h2, 40001, pool, 6000, header.TCPFlagSYN)); r.Reason != translate.ReasonHeld {
		t.Errorf("another unsolicited SYN with one open allowed: %v", r)
	}
	clock.advance(TCPIncomingSYNTimeout + time.Second)
	if p := clock.tick(x); p == nil || header.IPv4(p).Dst() != h2 || header.UDP(p[48:]).SrcPort() != 40001 {
		t.Errorf("one ICMP error, for the unanswered SYN: % x", p)
	}
}
