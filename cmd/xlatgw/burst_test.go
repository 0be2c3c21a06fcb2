package main

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// burstGateway is a gateway without a TUN device: a NAT64 instance and a
// SIIT instance beside it, for the datapath alone.
func burstGateway(t testing.TB) *gateway {
	t.Helper()
	l, err := parseConfig([]byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
	  "instances": [
	    {"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
	      "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}, {"protocol": "TCP", "prefix": "203.0.113.1/32"}]}},
	    {"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:46::/96"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	g.cur.Store(l)
	g.attach(l)
	return g
}

// burst returns 64 packets as a TUN read leaves them, readOffset into
// buffers of their own: 32 UDP datagrams of 16 flows through the NAT64,
// and 16 TCP segments each way through the SIIT instance.
func burst() (templates [][]byte, sizes []int) {
	c6 := netip.MustParseAddr("2001:db8:c::10")
	s6 := netip.MustParseAddr("2001:db8:64::c000:250")  // 192.0.2.80
	a6 := netip.MustParseAddr("2001:db8:46::c633:640a") // 198.51.100.10
	b6 := netip.MustParseAddr("2001:db8:46::c000:250")
	a4, b4 := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("192.0.2.80")
	var pkts [][]byte
	for i := 0; i < 32; i++ {
		sport := uint16(1000 + i%16)
		pkts = append(pkts, testpkt.IPv6{Src: c6, Dst: s6}.Packet(header.ProtoUDP, testpkt.UDP(c6, s6, sport, 53, make([]byte, 16))))
	}
	for i := 0; i < 16; i++ {
		pkts = append(pkts,
			testpkt.IPv6{Src: a6, Dst: b6}.Packet(header.ProtoTCP, testpkt.TCP(a6, b6, 2000, 80, header.TCPFlagACK, make([]byte, 4))),
			testpkt.IPv4{Src: b4, Dst: a4}.Packet(header.ProtoTCP, testpkt.TCP(b4, a4, 80, 2000, header.TCPFlagACK, make([]byte, 4))))
	}
	for _, p := range pkts {
		buf := make([]byte, readOffset+len(p)+translate.Headroom)
		copy(buf[readOffset:], p)
		templates = append(templates, buf)
		sizes = append(sizes, len(p))
	}
	return templates, sizes
}

// The datapath allocates nothing per packet once its flows exist.
func TestBurstAllocs(t *testing.T) {
	g := burstGateway(t)
	templates, sizes := burst()
	bufs := make([][]byte, len(templates))
	for i, tpl := range templates {
		bufs[i] = make([]byte, len(tpl))
	}
	out := make([][]byte, 0, 2*len(bufs))
	var rs results
	run := func() {
		for i, tpl := range templates {
			copy(bufs[i], tpl)
		}
		out = g.translateBurst(bufs, sizes, out[:0], &rs)
	}
	run() // creates the NAT64 sessions
	if len(out) != len(bufs) {
		t.Fatalf("%d of %d packets translated", len(out), len(bufs))
	}
	for i, p := range out {
		want := byte(4)
		if templates[i][readOffset]>>4 == 4 {
			want = 6
		}
		if v := p[tunOffset] >> 4; v != want {
			t.Fatalf("packet %d left as IPv%d, want IPv%d", i, v, want)
		}
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per burst of %d packets", n, len(bufs))
	}
	// Every packet counted: the first burst, AllocsPerRun's warm-up
	// and its 100 runs.
	const bursts = 102
	nat, siit := g.cur.Load().insts[0], g.cur.Load().insts[1]
	if in, out := nat.rx6.Load(), nat.tx4.Load(); in != bursts*32 || out != bursts*32 {
		t.Errorf("nat64 counted %d IPv6 packets in and %d IPv4 out, want %d each", in, out, bursts*32)
	}
	if in, out := siit.rx4.Load(), siit.tx6.Load(); in != bursts*16 || out != bursts*16 {
		t.Errorf("siit counted %d IPv4 packets in and %d IPv6 out, want %d each", in, out, bursts*16)
	}
}

// BenchmarkBurst is the gateway's user-space cost per packet: choosing the
// instance, translating, counting, collecting the packets to write (and
// restoring the 64-byte-ish input, as a TUN read would have filled it).
func BenchmarkBurst(b *testing.B) {
	g := burstGateway(b)
	templates, sizes := burst()
	bufs := make([][]byte, len(templates))
	for i, tpl := range templates {
		bufs[i] = make([]byte, len(tpl))
	}
	out := make([][]byte, 0, 2*len(bufs))
	var rs results
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(bufs) {
		for j, tpl := range templates {
			copy(bufs[j], tpl)
		}
		out = g.translateBurst(bufs, sizes, out[:0], &rs)
	}
}
