package translate

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// The first and last addresses of each forbidden class, and their
// neighbours outside it.
func TestForbiddenEdges(t *testing.T) {
	for a, want := range map[string]bool{
		"0.0.0.0": true, "0.255.255.255": true, "1.0.0.0": false, "126.255.255.255": false,
		"127.0.0.0": true, "127.255.255.255": true, "128.0.0.0": false,
		"169.253.255.255": false, "169.254.0.0": true, "169.254.255.255": true, "169.255.0.0": false,
		"223.255.255.255": false, "224.0.0.0": true, "239.255.255.255": true, "240.0.0.0": true, "255.255.255.255": true,
		"::": true, "::1": true, "::2": false, "fe7f:ffff::1": false, "fe80::": true, "febf:ffff::1": true,
		"fec0::": false, "feff::1": false, "ff00::": true, "ffff::1": true, "2001:db8::": false,
	} {
		if got := forbidden(netip.MustParseAddr(a)); got != want {
			t.Errorf("forbidden(%s) = %v", a, got)
		}
	}
}

// The ends of each configurable range are accepted; one past is refused.
func TestConfigEdges(t *testing.T) {
	for _, c := range []Config{{LowestIPv6MTU: 1280}, {LowestIPv6MTU: 65535}, {IPv4MTU: 68}, {IPv4MTU: 65535},
		{IPv6MTU: 1280}, {IPv6MTU: 65535}, {MSSClamp: 65535}, {MSSClamp: -1}, {ICMPErrorBurst: 1}} {
		if _, err := New(c, &PrefixPolicy{Prefix: nsp}); err != nil {
			t.Errorf("%+v refused: %v", c, err)
		}
	}
	for _, c := range []Config{{LowestIPv6MTU: 1279}, {LowestIPv6MTU: 65536}, {IPv4MTU: 67}, {IPv4MTU: 65536},
		{IPv6MTU: 1279}, {IPv6MTU: 65536}, {MSSClamp: 65536}, {ICMPErrorBurst: -1}} {
		if _, err := New(c, &PrefixPolicy{Prefix: nsp}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// The plain path takes plain packets right up to its limits (it is the
// fast path for them) and leaves what lies past them to the general path.
func TestPlainPathEdges(t *testing.T) {
	x := newTestTranslator(t, testCf)
	udp6 := func(payload int, hop uint8) []byte {
		return testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: hop}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, payload)))
	}
	udp4 := func(payload int, ttl uint8, df bool) []byte {
		return testpkt.IPv4{Src: h4, Dst: h6v4, TTL: ttl, DF: df}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, make([]byte, payload)))
	}
	for _, c := range []struct {
		name  string
		to4   bool
		pkt   []byte
		plain bool
	}{
		{"6to4: the smallest UDP", true, udp6(0, 64), true},
		{"6to4: Hop Limit 2", true, udp6(10, 2), true},
		{"6to4: Hop Limit 1", true, udp6(10, 1), false},
		{"6to4: the IPv4 MTU exactly", true, udp6(1500-20-8, 64), true},
		{"6to4: one past the IPv4 MTU", true, udp6(1500-20-8+1, 64), false},
		{"4to6: the smallest UDP", false, udp4(0, 64, false), true},
		{"4to6: TTL 2", false, udp4(10, 2, false), true},
		{"4to6: TTL 1", false, udp4(10, 1, false), false},
		{"4to6: DF, the IPv6 MTU exactly", false, udp4(1500-40-8, 64, true), true},
		{"4to6: DF, one past the IPv6 MTU", false, udp4(1500-40-8+1, 64, true), false},
		{"4to6: no DF, the lowest IPv6 MTU exactly", false, udp4(1280-40-8, 64, false), true},
		{"4to6: no DF, one past the lowest IPv6 MTU", false, udp4(1280-40-8+1, 64, false), false},
	} {
		if _, ok := x.plainFor(c.to4, c.pkt); ok != c.plain {
			t.Errorf("%s: plain path took it: %v, want %v", c.name, ok, c.plain)
		}
	}
	// IPv4 to IPv6 grows the packet by 20 bytes in front: exactly 20
	// bytes of headroom is enough.
	pkt := udp4(10, 64, false)
	buf := make([]byte, 20+len(pkt))
	copy(buf[20:], pkt)
	if _, ok := x.plain4to6(x.cfg.Load(), buf, 20, len(pkt)); !ok {
		t.Error("plain path refused a packet with 20 bytes of headroom")
	}
	if _, ok := x.plain4to6(x.cfg.Load(), buf[1:], 19, len(pkt)); ok {
		t.Error("plain path took a packet with 19 bytes of headroom")
	}
}

// RFC 4443 §2.4(c): an ICMPv6 error carries as much of the invoking
// packet as fits in 1280 bytes; RFC 1812 §4.3.2.7: ICMPv4 errors only
// about a first fragment.
func TestReplySizeAndFragments(t *testing.T) {
	x := newTestTranslator(t, testCf)
	big := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, 1400)))
	out, r := run(x.To4, big)
	if r.Verdict != Reply || len(out) != 1280 || string(out[48:]) != string(big[:1232]) {
		t.Errorf("Time Exceeded for a 1448-byte packet: %v, %d bytes", r, len(out))
	}
	first := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1, MF: true}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, make([]byte, 64)))
	if _, r := run(x.To6, first); r.Verdict != Reply {
		t.Errorf("TTL 1 on a first fragment: %v, want a Time Exceeded", r)
	}
	later := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1, MF: true, FragOff: 100}.Packet(header.ProtoUDP, make([]byte, 64))
	if _, r := run(x.To6, later); r.Verdict != Drop {
		t.Errorf("TTL 1 on a later fragment: %v, want a silent drop", r)
	}
	// An Echo Request with no data to the translator's own address.
	echo := testpkt.IPv6{Src: h6, Dst: xlat6, HopLimit: 64}.Packet(header.ProtoICMPv6, testpkt.Echo(h6, xlat6, header.ICMPv6EchoRequest, 0x1234, 1, nil))
	if len(echo) != 48 {
		t.Fatalf("echo is %d bytes", len(echo))
	}
	if out, r := run(x.To4, echo); r.Verdict != Reply || len(out) != 48 || out[40] != header.ICMPv6EchoReply {
		t.Errorf("empty Echo Request to the own address: %v % x", r, out)
	}
}

// Reply4 and Reply6 need a whole fixed header.
func TestReplyNeedsHeader(t *testing.T) {
	x := newTestTranslator(t, testCf)
	p4 := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, nil))
	p6 := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, nil))
	for _, c := range []struct {
		name  string
		reply func([]byte, int, int, uint8, uint8, uint32) Result
		pkt   []byte
		n     int
		want  Verdict
	}{
		{"Reply4, 19 bytes", x.Reply4, p4, 19, Drop}, {"Reply4, 20 bytes", x.Reply4, p4, 20, Reply},
		{"Reply6, 39 bytes", x.Reply6, p6, 39, Drop}, {"Reply6, 40 bytes", x.Reply6, p6, 40, Reply},
	} {
		buf := make([]byte, Headroom+len(c.pkt))
		copy(buf[Headroom:], c.pkt)
		if r := c.reply(buf, Headroom, c.n, 3, 1, 0); r.Verdict != c.want {
			t.Errorf("%s: %v, want %v", c.name, r.Verdict, c.want)
		}
	}
}
