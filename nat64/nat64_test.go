package nat64

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

var (
	wkp  = translate.WellKnownPrefix
	h1   = netip.MustParseAddr("2001:db8::1")
	h2   = netip.MustParseAddr("192.0.2.1")
	pool = netip.MustParseAddr("203.0.113.1")
	addr = netip.MustParseAddr
)

// fakeClock is a settable clock for timer tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{time.Unix(1_700_000_000, 0)} }
func (c *fakeClock) tick(x *Translator) []byte {
	var out []byte
	x.Tick(func(p []byte) { out = append([]byte(nil), p...) })
	return out
}

func testConfig(clock *fakeClock) Config {
	return Config{
		Pool6:             wkp,
		AllowNonGlobalWKP: true,
		Pool4: []Pool4Entry{
			{Protocol: TCP, Prefix: netip.PrefixFrom(pool, 32), Ports: PortRange{1, 65535}},
			{Protocol: UDP, Prefix: netip.PrefixFrom(pool, 32), Ports: PortRange{1, 65535}},
			{Protocol: ICMP, Prefix: netip.PrefixFrom(pool, 32), Ports: PortRange{1, 65535}},
		},
		Config: translate.Config{Addr4: pool, Addr6: addr("2001:db8::ffff"), Now: clock.now},
	}
}

// fixedRandom makes the port secret, and so the ports, the same every run.
func fixedRandom() Collaborators {
	return Collaborators{Random: bytes.NewReader(make([]byte, 64))}
}

func newTest(t testing.TB, cfg Config) *Translator {
	t.Helper()
	x, err := New(cfg, fixedRandom())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// xl runs one packet through x; it returns the output and the result.
func xl(x *Translator, pkt []byte) ([]byte, translate.Result) {
	buf := make([]byte, translate.Headroom+len(pkt)+128)
	copy(buf[translate.Headroom:], pkt)
	r := x.Translate(buf, translate.Headroom, len(pkt))
	if r.Verdict == translate.Drop {
		return nil, r
	}
	return append([]byte(nil), r.Packet(buf)...), r
}

func tcp6(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, flags uint8) []byte {
	d := wkp.Embed(dst)
	return testpkt.IPv6{Src: src, Dst: d}.Packet(6, testpkt.TCP(src, d, sport, dport, flags, nil))
}

// host is the i-th IPv6 host, 2001:db8::i.
func host(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
}

func tcp4(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, flags uint8) []byte {
	return testpkt.IPv4{Src: src, Dst: dst}.Packet(6, testpkt.TCP(src, dst, sport, dport, flags, nil))
}

func udp6(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	d := wkp.Embed(dst)
	return testpkt.IPv6{Src: src, Dst: d}.Packet(17, testpkt.UDP(src, d, sport, dport, []byte("abcd")))
}

func udp4(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	return testpkt.IPv4{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, sport, dport, []byte("abcd")))
}

// udpFragment6 is one of two fragments of a UDP datagram from h1:4000 to
// h2:53 behind the well-known prefix, Identification id: the first (with
// the ports) or the later one (offset 32 octets).
func udpFragment6(id uint32, first bool) []byte {
	d6 := wkp.Embed(h2)
	udp := testpkt.UDP(h1, d6, 4000, 53, make([]byte, 64))
	if first {
		return testpkt.IPv6{Src: h1, Dst: d6, Frag: true, FragID: id, FragMore: true}.Packet(17, udp[:32])
	}
	return testpkt.IPv6{Src: h1, Dst: d6, Frag: true, FragID: id, FragOff: 4}.Packet(17, udp[32:])
}

func ports4(p []byte) (uint16, uint16) {
	hl := header.IPv4(p).HeaderLen()
	return binary.BigEndian.Uint16(p[hl:]), binary.BigEndian.Uint16(p[hl+2:])
}

func sessionOf(t *testing.T, x *Translator, proto Protocol, x6 netip.AddrPort) Session {
	t.Helper()
	var found Session
	ok := false
	x.RangeSessions(func(s Session) bool {
		if s.Proto == proto && s.IPv6Src == x6 {
			found, ok = s, true
			return false
		}
		return true
	})
	if !ok {
		t.Fatalf("no %v session for %v", proto, x6)
	}
	return found
}

// 6146-1: the §1.2.2 walk-through.
func TestRFC6146Walkthrough(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	out, r := xl(x, tcp6(h1, 1500, h2, 80, header.TCPFlagSYN))
	if r.Verdict != translate.Forward {
		t.Fatalf("SYN: %v %v", r.Verdict, r.Reason)
	}
	ip := header.IPv4(out)
	sp, dp := ports4(out)
	if ip.Src() != pool || ip.Dst() != h2 || dp != 80 || sp < 1024 {
		t.Fatalf("6146-1: %v:%d -> %v:%d", ip.Src(), sp, ip.Dst(), dp)
	}
	if !checksum.Verify(out[20:], checksum.PseudoHeader4(ip.Src(), ip.Dst(), 6, uint16(len(out)-20))) {
		t.Error("6146-1: TCP checksum after the port change")
	}
	if s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 1500)); s.State != "V6_INIT" || s.IPv4Src != netip.AddrPortFrom(pool, sp) {
		t.Errorf("6146-1 session %+v", s)
	}
	back, r := xl(x, tcp4(h2, 80, pool, sp, header.TCPFlagSYN|header.TCPFlagACK))
	if r.Verdict != translate.Forward {
		t.Fatalf("SYN+ACK: %v %v", r.Verdict, r.Reason)
	}
	ip6 := header.IPv6(back)
	if ip6.Src() != wkp.Embed(h2) || ip6.Dst() != h1 || binary.BigEndian.Uint16(back[40:]) != 80 || binary.BigEndian.Uint16(back[42:]) != 1500 {
		t.Errorf("6146-1 reply % x", back[:44])
	}
	if !checksum.Verify(back[40:], ip6.PseudoHeaderSum(6, len(back)-40)) {
		t.Error("6146-1: reply checksum")
	}
	if s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 1500)); s.State != "ESTABLISHED" {
		t.Errorf("6146-1: state %s", s.State)
	}
}

// 6146-2: port range and parity preservation.
func TestRFC6146PortPreservation(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	for _, tc := range []struct {
		sport uint16
		low   bool
	}{{53, true}, {40000, false}, {40001, false}, {1023, true}, {1024, false}, {7, true}} {
		out, r := xl(x, udp6(h1, tc.sport, h2, 9))
		if r.Verdict != translate.Forward {
			t.Fatalf("%d: %v", tc.sport, r.Reason)
		}
		sp, _ := ports4(out)
		if (sp < 1024) != tc.low || sp&1 != tc.sport&1 {
			t.Errorf("6146-2: source port %d got %d", tc.sport, sp)
		}
	}
	// Endpoint-independent mapping: the same source to another destination
	// keeps its binding.
	a, _ := xl(x, udp6(h1, 40000, h2, 9))
	b, _ := xl(x, udp6(h1, 40000, addr("198.51.100.9"), 99))
	if pa, _ := ports4(a); pa != func() uint16 { p, _ := ports4(b); return p }() {
		t.Error("EIM: the binding changed with the destination")
	}
}

// 6146-3: an unsolicited SYN is held, answered after 6 s, or dropped
// silently when the IPv6 side opens in time.
func TestRFC6146UnsolicitedSYN(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	if out, r := xl(x, tcp4(h2, 5000, pool, 6000, header.TCPFlagSYN)); out != nil || r.Reason != translate.ReasonHeld {
		t.Fatalf("held: %v %v", r.Verdict, r.Reason)
	}
	clock.advance(5 * time.Second)
	if p := clock.tick(x); p != nil {
		t.Fatal("answered before 6 s")
	}
	clock.advance(2 * time.Second)
	p := clock.tick(x)
	if p == nil || p[9] != 1 || p[20] != 3 || p[21] != 3 || header.IPv4(p).Dst() != h2 || header.IPv4(p).Src() != pool {
		t.Fatalf("6146-3: no port unreachable after 6 s: % x", p)
	}
	if x.Sessions() != 0 {
		t.Errorf("%d sessions left", x.Sessions())
	}

	// Simultaneous open: the IPv6 SYN comes within 6 s and takes the held
	// SYN's IPv4 transport address.
	xl(x, tcp4(h2, 5001, pool, 6001, header.TCPFlagSYN))
	out, r := xl(x, tcp6(h1, 6001, h2, 5001, header.TCPFlagSYN))
	if r.Verdict != translate.Forward {
		t.Fatalf("IPv6 SYN: %v", r.Reason)
	}
	if sp, _ := ports4(out); sp != 6001 || header.IPv4(out).Src() != pool {
		t.Errorf("simultaneous open used port %d", sp)
	}
	if s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 6001)); s.State != "ESTABLISHED" {
		t.Errorf("simultaneous open state %s", s.State)
	}
	clock.advance(7 * time.Second)
	if p := clock.tick(x); p != nil {
		t.Error("the held SYN was answered after the IPv6 side opened")
	}
}

// 6146-4: ICMP echo identifiers.
func TestRFC6146Echo(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	dst := addr("198.51.100.7")
	d6 := wkp.Embed(dst)
	out, r := xl(x, testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, 128, 0x1234, 1, []byte("ping"))))
	if r.Verdict != translate.Forward || out[20] != 8 {
		t.Fatalf("echo: %v %v", r.Verdict, r.Reason)
	}
	id := binary.BigEndian.Uint16(out[24:])
	if header.IPv4(out).Src() != pool || !checksum.Verify(out[20:], 0) {
		t.Errorf("6146-4 request % x", out)
	}
	reply := testpkt.IPv4{Src: dst, Dst: pool}.Packet(1, testpkt.Echo(dst, pool, 0, id, 1, []byte("ping")))
	back, r := xl(x, reply)
	if r.Verdict != translate.Forward || back[40] != 129 || binary.BigEndian.Uint16(back[44:]) != 0x1234 || header.IPv6(back).Dst() != h1 {
		t.Fatalf("6146-4 reply: %v % x", r.Reason, back)
	}
	if !checksum.Verify(back[40:], header.IPv6(back).PseudoHeaderSum(58, len(back)-40)) {
		t.Error("6146-4 reply checksum")
	}
	// An echo reply for an unknown identifier is dropped (3/1 optional).
	unknown := testpkt.IPv4{Src: dst, Dst: pool}.Packet(1, testpkt.Echo(dst, pool, 0, id+1, 1, nil))
	if _, r := xl(x, unknown); r.Verdict == translate.Forward {
		t.Error("6146-4: unknown identifier translated")
	}
}

// Every row of the §3.5.2.2 transition table, with the lifetime it sets.
func TestTCPStateTable(t *testing.T) {
	const (
		syn = header.TCPFlagSYN
		ack = header.TCPFlagACK
		fin = header.TCPFlagFIN
		rst = header.TCPFlagRST
	)
	type step struct {
		from6 bool
		flags uint8
	}
	for _, tc := range []struct {
		name  string
		steps []step
		state string
		life  time.Duration
	}{
		{"CLOSED V6 SYN", []step{{true, syn}}, "V6_INIT", DefaultTCPTransTimeout},
		{"V6 INIT V4 SYN", []step{{true, syn}, {false, syn | ack}}, "ESTABLISHED", DefaultTCPEstTimeout},
		{"V6 INIT V6 SYN", []step{{true, syn}, {true, syn}}, "V6_INIT", DefaultTCPTransTimeout},
		{"ESTABLISHED other", []step{{true, syn}, {false, syn | ack}, {true, ack}}, "ESTABLISHED", DefaultTCPEstTimeout},
		// FIN leaves the lifetime as it was (a second has passed).
		{"ESTABLISHED V4 FIN", []step{{true, syn}, {false, syn | ack}, {false, fin | ack}}, "V4_FIN_RCV", DefaultTCPEstTimeout - time.Second},
		{"ESTABLISHED V6 FIN", []step{{true, syn}, {false, syn | ack}, {true, fin | ack}}, "V6_FIN_RCV", DefaultTCPEstTimeout - time.Second},
		{"ESTABLISHED V6 RST", []step{{true, syn}, {false, syn | ack}, {true, rst}}, "TRANS", DefaultTCPTransTimeout},
		{"ESTABLISHED V4 RST", []step{{true, syn}, {false, syn | ack}, {false, rst}}, "TRANS", DefaultTCPTransTimeout},
		{"V4 FIN RCV V6 FIN", []step{{true, syn}, {false, syn | ack}, {false, fin}, {true, fin}}, "V4_FIN_V6_FIN_RCV", DefaultTCPTransTimeout},
		{"V6 FIN RCV V4 FIN", []step{{true, syn}, {false, syn | ack}, {true, fin}, {false, fin}}, "V4_FIN_V6_FIN_RCV", DefaultTCPTransTimeout},
		{"V4 FIN RCV other", []step{{true, syn}, {false, syn | ack}, {false, fin}, {true, ack}}, "V4_FIN_RCV", DefaultTCPEstTimeout},
		// RFC 6146 §3.5.2.2: only a FIN from the other side moves on; a
		// retransmitted FIN from the same side is "any other packet".
		{"V4 FIN RCV V4 FIN", []step{{true, syn}, {false, syn | ack}, {false, fin}, {false, fin}}, "V4_FIN_RCV", DefaultTCPEstTimeout},
		{"V6 FIN RCV V6 FIN", []step{{true, syn}, {false, syn | ack}, {true, fin}, {true, fin}}, "V6_FIN_RCV", DefaultTCPEstTimeout},
		{"V6 FIN RCV other", []step{{true, syn}, {false, syn | ack}, {true, fin}, {false, ack}}, "V6_FIN_RCV", DefaultTCPEstTimeout},
		// Both FINs seen: nothing refreshes the lifetime any more.
		{"V4 FIN V6 FIN RCV any", []step{{true, syn}, {false, syn | ack}, {false, fin}, {true, fin}, {false, ack}}, "V4_FIN_V6_FIN_RCV", DefaultTCPTransTimeout - time.Second},
		{"V4 FIN V6 FIN RCV FIN", []step{{true, syn}, {false, syn | ack}, {true, fin}, {false, fin}, {true, fin | ack}}, "V4_FIN_V6_FIN_RCV", DefaultTCPTransTimeout - time.Second},
		{"TRANS non-RST", []step{{true, syn}, {false, syn | ack}, {true, rst}, {false, ack}}, "ESTABLISHED", DefaultTCPEstTimeout},
		{"TRANS RST", []step{{true, syn}, {false, syn | ack}, {true, rst}, {false, rst}}, "TRANS", DefaultTCPTransTimeout - time.Second},
		{"V6 INIT other", []step{{true, syn}, {true, ack}}, "V6_INIT", DefaultTCPTransTimeout - time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			x := newTest(t, testConfig(clock))
			var t4 uint16
			for i, s := range tc.steps {
				clock.advance(time.Second)
				clock.tick(x)
				var r translate.Result
				var out []byte
				if s.from6 {
					out, r = xl(x, tcp6(h1, 1500, h2, 80, s.flags))
					if i == 0 {
						t4, _ = ports4(out)
					}
				} else {
					_, r = xl(x, tcp4(h2, 80, pool, t4, s.flags))
				}
				if r.Verdict != translate.Forward {
					t.Fatalf("step %d: %v %v", i, r.Verdict, r.Reason)
				}
			}
			s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 1500))
			if s.State != tc.state {
				t.Errorf("state %s, want %s", s.State, tc.state)
			}
			if got := s.Expires.Sub(clock.t); got != tc.life {
				t.Errorf("lifetime %v, want %v", got, tc.life)
			}
		})
	}
}

// CLOSED + V4 SYN with a binding (ADF off): V4 INIT, forwarded, and the
// IPv6 SYN completes it; with no binding the SYN is held (6146-3).
func TestTCPInboundSYNWithBinding(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.StaticBIB = []StaticBIB{{Protocol: TCP, IPv6: Endpoint{netip.AddrPortFrom(h1, 80)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 80)}}}
	x := newTest(t, cfg)
	clock.tick(x)
	if _, r := xl(x, tcp4(h2, 40000, pool, 80, header.TCPFlagSYN)); r.Verdict != translate.Forward {
		t.Fatalf("V4 SYN with binding: %v %v", r.Verdict, r.Reason)
	}
	s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 80))
	if s.State != "V4_INIT" || s.Expires.Sub(clock.t) != DefaultTCPTransTimeout {
		t.Errorf("state %s lifetime %v", s.State, s.Expires.Sub(clock.t))
	}
	if _, r := xl(x, tcp6(h1, 80, h2, 40000, header.TCPFlagSYN|header.TCPFlagACK)); r.Verdict != translate.Forward {
		t.Fatal(r.Reason)
	}
	if s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 80)); s.State != "ESTABLISHED" {
		t.Errorf("after the V6 SYN: %s", s.State)
	}
	// With address-dependent filtering, a host the IPv6 node has not
	// talked to is refused (3/13).
	cfg.AddressDependentFiltering = true
	cfg.StaticBIB = append(cfg.StaticBIB, StaticBIB{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(h1, 53)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 53)}})
	x = newTest(t, cfg)
	if p, r := xl(x, udp4(h2, 1, pool, 53)); r.Verdict != translate.Reply || p[20] != 3 || p[21] != 13 {
		t.Errorf("ADF let an unknown host through: %v %v", r.Verdict, r.Reason)
	}
	xl(x, udp6(h1, 53, h2, 7)) // the IPv6 node talks to h2 first
	if _, r := xl(x, udp4(h2, 1, pool, 53)); r.Verdict != translate.Forward {
		t.Errorf("ADF refused a host the IPv6 node talked to: %v", r.Reason)
	}
}

// Timers: sessions and bindings go when their lifetime ends, not before;
// an idle ESTABLISHED connection gets TCP_TRANS first.
func TestTimers(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	clock.tick(x)
	xl(x, udp6(h1, 4000, h2, 53))
	d6 := wkp.Embed(h2)
	xl(x, testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, 128, 7, 1, nil)))
	out, _ := xl(x, tcp6(h1, 4001, h2, 80, header.TCPFlagSYN))
	t4, _ := ports4(out)
	xl(x, tcp4(h2, 80, pool, t4, header.TCPFlagSYN|header.TCPFlagACK))
	if x.Sessions() != 3 {
		t.Fatalf("%d sessions", x.Sessions())
	}
	count := func() (n int) { x.RangeBIB(func(BIBEntry) bool { n++; return true }); return }
	clock.advance(DefaultICMPTimeout - time.Second)
	clock.tick(x)
	if x.Sessions() != 3 {
		t.Error("ICMP session expired early")
	}
	clock.advance(2 * time.Second)
	clock.tick(x)
	if x.Sessions() != 2 || count() != 2 {
		t.Errorf("after 61 s: %d sessions, %d bindings", x.Sessions(), count())
	}
	clock.advance(DefaultUDPTimeout)
	clock.tick(x)
	if x.Sessions() != 1 || count() != 1 {
		t.Errorf("after UDP timeout: %d sessions, %d bindings", x.Sessions(), count())
	}
	clock.advance(DefaultTCPEstTimeout)
	probe := clock.tick(x)
	if s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 4001)); s.State != "TRANS" {
		t.Errorf("idle ESTABLISHED became %s, want TRANS", s.State)
	}
	// The probe (§3.5.2.2): an ACK with sequence 0 to the IPv6 end, from
	// the remote's IPv6 representation.
	if len(probe) != 60 || header.IPv6(probe).Dst() != h1 || header.IPv6(probe).Src() != wkp.Embed(h2) ||
		binary.BigEndian.Uint16(probe[40:]) != 80 || binary.BigEndian.Uint16(probe[42:]) != 4001 || probe[53] != header.TCPFlagACK ||
		!checksum.Verify(probe[40:], header.IPv6(probe).PseudoHeaderSum(6, 20)) {
		t.Errorf("probe % x", probe)
	}
	clock.advance(DefaultTCPTransTimeout + time.Second)
	clock.tick(x)
	if x.Sessions() != 0 || count() != 0 {
		t.Errorf("after TCP_TRANS: %d sessions, %d bindings", x.Sessions(), count())
	}
}

// Static bindings survive their sessions; conflicting ones are refused.
func TestStaticBIB(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.StaticBIB = []StaticBIB{{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(h1, 53)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 53)}}}
	x := newTest(t, cfg)
	// Inbound traffic to the static binding works without prior outbound.
	out, r := xl(x, udp4(h2, 9999, pool, 53))
	if r.Verdict != translate.Forward || header.IPv6(out).Dst() != h1 {
		t.Fatalf("static inbound: %v %v", r.Verdict, r.Reason)
	}
	clock.advance(time.Hour)
	clock.tick(x)
	n := 0
	x.RangeBIB(func(e BIBEntry) bool { n++; return true })
	if n != 1 || x.Sessions() != 0 {
		t.Errorf("static binding: %d bindings, %d sessions", n, x.Sessions())
	}
	if err := x.AddStaticBIB(StaticBIB{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(addr("2001:db8::2"), 53)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 53)}}); err == nil {
		t.Error("a second binding for the same IPv4 endpoint was accepted")
	}
	// Inbound without any binding: UDP gets port unreachable.
	if p, r := xl(x, udp4(h2, 9999, pool, 54)); r.Verdict != translate.Reply || p[20] != 3 || p[21] != 3 {
		t.Errorf("no binding: %v %v", r.Verdict, r.Reason)
	}
}

// RemoveStaticBIB turns a manual binding back into a dynamic one: with no
// session it goes at once; with one, when the session does.
func TestRemoveStaticBIB(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	s := StaticBIB{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(h1, 53)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 53)}}
	s2 := StaticBIB{Protocol: UDP, IPv6: Endpoint{netip.AddrPortFrom(h1, 54)}, IPv4: Endpoint{netip.AddrPortFrom(pool, 54)}}
	cfg.StaticBIB = []StaticBIB{s, s2}
	x := newTest(t, cfg)
	unreachable := func(port uint16) bool {
		p, r := xl(x, udp4(h2, 9999, pool, port))
		return r.Verdict == translate.Reply && header.ICMPv4(p[20:]).Type() == header.ICMPv4DstUnreachable
	}

	if !x.RemoveStaticBIB(s) || x.Bindings() != 1 || !unreachable(53) {
		t.Fatalf("removing an idle static binding left %d bindings", x.Bindings())
	}
	if x.RemoveStaticBIB(s) {
		t.Error("removed the same binding twice")
	}

	// A session keeps the other one until it expires.
	if _, r := xl(x, udp4(h2, 9999, pool, 54)); r.Verdict != translate.Forward {
		t.Fatalf("static inbound: %v %v", r.Verdict, r.Reason)
	}
	if !x.RemoveStaticBIB(s2) || x.Bindings() != 1 || unreachable(54) {
		t.Fatalf("a binding with a session: %d bindings", x.Bindings())
	}
	clock.advance(time.Hour)
	clock.tick(x)
	if x.Bindings() != 0 || !unreachable(54) {
		t.Errorf("after its session expired: %d bindings", x.Bindings())
	}
}

// Hairpinning (§3.8): host A reaches host B through B's IPv4 transport
// address and B sees A's external one.
func TestHairpin(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	hostA, hostB := addr("2001:db8::1"), addr("2001:db8::2")
	out, _ := xl(x, udp6(hostB, 5000, h2, 9))
	tB, _ := ports4(out)
	back, r := xl(x, udp6(hostA, 1500, pool, tB))
	if r.Verdict != translate.Forward || back[0]>>4 != 6 {
		t.Fatalf("hairpin: %v %v", r.Verdict, r.Reason)
	}
	ip := header.IPv6(back)
	if ip.Dst() != hostB || binary.BigEndian.Uint16(back[42:]) != 5000 {
		t.Errorf("hairpin reached %v:%d", ip.Dst(), binary.BigEndian.Uint16(back[42:]))
	}
	if v4, _ := wkp.Extract(ip.Src()); v4 != pool || binary.BigEndian.Uint16(back[40:]) == 1500 && false {
		t.Errorf("hairpin source %v is not A's external address", ip.Src())
	}
	if !checksum.Verify(back[40:], ip.PseudoHeaderSum(17, len(back)-40)) {
		t.Error("hairpin checksum")
	}
}

// Limits: a flood of new flows from one /64 stops at its bounds, others
// are not affected, established flows keep working.
func TestFloodFromOnePrefix(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.MaxSessions = 20000
	cfg.MaxSessionsPerSource = 1000
	cfg.MaxSessionsPer64 = 5000
	x := newTest(t, cfg)
	victim := addr("2001:db8:aaaa::1")
	out, _ := xl(x, tcp6(victim, 1000, h2, 443, header.TCPFlagSYN))
	vport, _ := ports4(out)
	xl(x, tcp4(h2, 443, pool, vport, header.TCPFlagSYN|header.TCPFlagACK))

	flows := 1_000_000
	if testing.Short() {
		flows = 100_000
	}
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, translate.Headroom+80)
	base := netip.MustParseAddr("2001:db8:bad::").As16()
	refused := 0
	for i := 0; i < flows; i++ {
		a := base
		binary.BigEndian.PutUint64(a[8:], rng.Uint64()%64) // 64 hosts in one /64
		src := netip.AddrFrom16(a)
		dst := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		pkt := tcp6(src, uint16(1024+i%60000), dst, uint16(i), header.TCPFlagSYN)
		copy(buf[translate.Headroom:], pkt)
		if r := x.To4(buf, translate.Headroom, len(pkt)); r.Verdict != translate.Forward {
			refused++
		}
	}
	if x.Sessions() > cfg.MaxSessionsPer64+1 {
		t.Errorf("%d sessions after the flood, bound %d", x.Sessions(), cfg.MaxSessionsPer64+1)
	}
	if refused < flows-cfg.MaxSessionsPer64 {
		t.Errorf("only %d of %d refused", refused, flows)
	}
	// Other sources are unaffected, and the victim's connection still flows.
	if _, r := xl(x, tcp6(addr("2001:db8:cafe::1"), 2000, h2, 80, header.TCPFlagSYN)); r.Verdict != translate.Forward {
		t.Errorf("another /64 refused: %v", r.Reason)
	}
	if _, r := xl(x, tcp6(victim, 1000, h2, 443, header.TCPFlagACK)); r.Verdict != translate.Forward {
		t.Errorf("established flow refused: %v", r.Reason)
	}
	if _, r := xl(x, tcp4(h2, 443, pool, vport, header.TCPFlagACK)); r.Verdict != translate.Forward {
		t.Errorf("established flow (inbound) refused: %v", r.Reason)
	}
	t.Logf("%d flows from one /64: %d refused, %d sessions kept", flows, refused, x.Sessions())
}

// Many goroutines create, use and expire sessions at once (run with -race).
func TestConcurrency(t *testing.T) {
	clock := &fakeClock{time.Unix(1_700_000_000, 0)}
	var mu sync.Mutex
	cfg := testConfig(clock)
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock.t }
	x := newTest(t, cfg)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(g + 1)})
			for i := 0; i < 2000; i++ {
				out, r := xl(x, udp6(src, uint16(2000+i%500), h2, uint16(i%50)))
				if r.Verdict != translate.Forward {
					t.Errorf("g%d: %v", g, r.Reason)
					return
				}
				sp, _ := ports4(out)
				if _, r := xl(x, udp4(h2, uint16(i%50), pool, sp)); r.Verdict != translate.Forward {
					t.Errorf("g%d inbound: %v", g, r.Reason)
					return
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			mu.Lock()
			clock.t = clock.t.Add(10 * time.Second)
			mu.Unlock()
			x.Tick(nil)
		}
	}()
	wg.Wait()
}

func TestConfigErrors(t *testing.T) {
	for in, field := range map[string]string{
		`{"pool4": [{"protocol": "TCP", "prefix": "192.0.2.0/24"}]}`:                                                          "pool6",
		`{"pool6": "64:ff9b::/96"}`:                                                                                           "pool4",
		`{"pool6": "64:ff9b::/96", "pool4": [{"protocol": "SCTP", "prefix": "192.0.2.0/24"}]}`:                                `"pool4"`,
		`{"pool6": "64:ff9b::/96", "pool4": [{"protocol": "TCP", "prefix": "192.0.2.0/24", "ports": "9-3"}]}`:                 `"pool4"`,
		`{"pool6": "64:ff9b::/96", "pool4": [{"protocol": "TCP", "prefix": "192.0.2.0/24"}], "timeouts": {"udp": "0:01:00"}}`: "timeouts.udp",
		`{"pool6": "64:ff9b::/96", "pool4": [{"protocol": "TCP", "prefix": "192.0.2.0/24"}], "nonsense": 1}`:                  "nonsense",
	} {
		c, err := ParseConfig([]byte(in))
		if err == nil {
			_, err = New(c, Collaborators{})
		}
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(field)) {
			t.Errorf("%s: error %v does not name %s", in, err, field)
		}
	}
}

// Fragments of one datagram reach the session of their first fragment,
// both ways; a later fragment with no first is dropped.
func TestFragments(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	clock.tick(x)
	first, later := udpFragment6(0xabcd1234, true), udpFragment6(0xabcd1234, false)
	o1, r := xl(x, first)
	if r.Verdict != translate.Forward {
		t.Fatalf("first fragment: %v", r.Reason)
	}
	o2, r := xl(x, later)
	if r.Verdict != translate.Forward {
		t.Fatalf("later fragment: %v", r.Reason)
	}
	if header.IPv4(o2).Src() != header.IPv4(o1).Src() || header.IPv4(o2).Dst() != h2 || header.IPv4(o2).ID() != 0x1234 || header.IPv4(o2).FragOffset() != 4 {
		t.Errorf("later fragment % x", o2[:20])
	}
	t4, _ := ports4(o1)
	// And back: an IPv4 datagram in two fragments.
	u4 := testpkt.UDP(h2, pool, 53, t4, make([]byte, 64))
	f1 := testpkt.IPv4{Src: h2, Dst: pool, ID: 77, MF: true}.Packet(17, u4[:32])
	f2 := testpkt.IPv4{Src: h2, Dst: pool, ID: 77, FragOff: 4}.Packet(17, u4[32:])
	b1, r := xl(x, f1)
	if r.Verdict != translate.Forward {
		t.Fatalf("IPv4 first fragment: %v", r.Reason)
	}
	b2, r := xl(x, f2)
	if r.Verdict != translate.Forward || header.IPv6(b2).Dst() != h1 || header.IPv6(b1).Dst() != h1 {
		t.Fatalf("IPv4 later fragment: %v", r.Reason)
	}
	// A later fragment of an unknown datagram, and one after the memory of
	// its first has expired, are dropped.
	stray := udpFragment6(99, false)
	if _, r := xl(x, stray); r.Verdict != translate.Drop {
		t.Error("stray fragment translated")
	}
	clock.advance(3 * time.Second)
	clock.tick(x)
	if _, r := xl(x, later); r.Verdict != translate.Drop {
		t.Error("fragment translated after its datagram expired")
	}
}

// Dynamic bindings are aligned: the port's shard is the IPv6 endpoint's
// home, so outbound packets need no BIB lookup; parity and class still
// hold.
func TestBindingsAligned(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	for i := 0; i < 500; i++ {
		src := host(i)
		sport := uint16(1024 + i*7)
		out, r := xl(x, udp6(src, sport, h2, 53))
		if r.Verdict != translate.Forward {
			t.Fatal(r.Reason)
		}
		tp, _ := ports4(out)
		hi, lo := binary.BigEndian.Uint64(src.AsSlice()[:8]), binary.BigEndian.Uint64(src.AsSlice()[8:])
		if x.shard4(tp) != x.shards[x.home(hi, lo, sport, header.ProtoUDP)] {
			t.Fatalf("binding %v:%d -> %d is not aligned", src, sport, tp)
		}
		if tp&1 != sport&1 || tp < 1024 {
			t.Fatalf("port %d for source port %d", tp, sport)
		}
	}
}

// A refreshed session outlives the expiry it was queued with (the lists
// re-queue it lazily) and still goes when traffic stops.
func TestRefreshExtendsLifetime(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	clock.tick(x)
	xl(x, udp6(h1, 4000, h2, 53))
	for i := 0; i < 10; i++ {
		clock.advance(DefaultUDPTimeout - 10*time.Second)
		xl(x, udp6(h1, 4000, h2, 53))
		clock.tick(x)
		if x.Sessions() != 1 {
			t.Fatalf("refresh %d: session expired while in use", i)
		}
	}
	clock.advance(DefaultUDPTimeout + time.Second)
	clock.tick(x)
	if x.Sessions() != 0 {
		t.Error("session outlived its last refresh")
	}
}

// BindingsOf counts pool4 use per protocol, as bindings come and go.
func TestBindingsOf(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	xl(x, tcp6(h1, 1000, h2, 80, header.TCPFlagSYN))
	xl(x, udp6(h1, 1000, h2, 53))
	xl(x, udp6(h1, 1001, h2, 53))
	if tcp, udp, icmp := x.BindingsOf(TCP), x.BindingsOf(UDP), x.BindingsOf(ICMP); tcp != 1 || udp != 2 || icmp != 0 || tcp+udp+icmp != x.Bindings() {
		t.Errorf("TCP %d, UDP %d, ICMP %d of %d bindings; want 1, 2, 0", tcp, udp, icmp, x.Bindings())
	}
	clock.advance(DefaultUDPTimeout + time.Minute)
	clock.tick(x)
	if udp := x.BindingsOf(UDP); udp != 0 || x.BindingsOf(TCP)+udp != x.Bindings() {
		t.Errorf("after the UDP timeout: UDP %d, TCP %d of %d", udp, x.BindingsOf(TCP), x.Bindings())
	}
}

// max-sessions-per-source stops one IPv6 source at its bound while
// another source in the same /64 still opens flows: the only limit set.
func TestSessionLimitPerSource(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.MaxSessions, cfg.MaxSessionsPer64, cfg.MaxSessionsPerSource = 0, 0, 3
	x := newTest(t, cfg)
	greedy, other := addr("2001:db8:aaaa::1"), addr("2001:db8:aaaa::2")
	forwarded := 0
	for i := 0; i < 5; i++ {
		if _, r := xl(x, tcp6(greedy, uint16(1000+i), h2, 80, header.TCPFlagSYN)); r.Verdict == translate.Forward {
			forwarded++
		}
	}
	if forwarded != 3 || x.Sessions() != 3 {
		t.Errorf("one source opened %d flows (%d sessions), want its limit of 3", forwarded, x.Sessions())
	}
	if _, r := xl(x, tcp6(other, 1000, h2, 80, header.TCPFlagSYN)); r.Verdict != translate.Forward {
		t.Errorf("another source of the same /64 refused: %v", r.Reason)
	}
	// The greedy source's own flows still pass.
	if _, r := xl(x, tcp6(greedy, 1000, h2, 80, header.TCPFlagACK)); r.Verdict != translate.Forward {
		t.Errorf("an existing flow of the limited source: %v", r.Reason)
	}
}
