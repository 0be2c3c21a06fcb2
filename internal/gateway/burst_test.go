package gateway

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// burstGateway is a gateway without a TUN device: a NAT64 instance and a
// SIIT instance beside it, for the datapath alone.
func burstGateway(t testing.TB) *Gateway {
	t.Helper()
	l, err := parseConfig([]byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
	  "instances": [
	    {"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
	      "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}, {"protocol": "TCP", "prefix": "203.0.113.1/32"}]}},
	    {"name": "siit", "type": "siit", "siit": {"pool6": "2001:db8:46::/96"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return quietGateway(l)
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

// burstRun translates the same burst again and again, restoring its
// packets from the templates first, as a TUN read would have filled them.
type burstRun struct {
	g         *Gateway
	templates [][]byte
	bufs, out [][]byte
	sizes     []int
	rs        results
}

func newBurstRun(t testing.TB) *burstRun {
	b := &burstRun{g: burstGateway(t)}
	b.templates, b.sizes = burst()
	for _, tpl := range b.templates {
		b.bufs = append(b.bufs, make([]byte, len(tpl)))
	}
	b.out = make([][]byte, 0, 2*len(b.bufs))
	return b
}

func (b *burstRun) run() {
	for i, tpl := range b.templates {
		copy(b.bufs[i], tpl)
	}
	b.out = b.g.translateBurst(b.bufs, b.sizes, b.out[:0], &b.rs)
}

// The datapath allocates nothing per packet once its flows exist.
func TestBurstAllocs(t *testing.T) {
	b := newBurstRun(t)
	b.run() // creates the NAT64 sessions
	if len(b.out) != len(b.bufs) {
		t.Fatalf("%d of %d packets translated", len(b.out), len(b.bufs))
	}
	for i, p := range b.out {
		want := byte(4)
		if b.templates[i][readOffset]>>4 == 4 {
			want = 6
		}
		if v := p[tunOffset] >> 4; v != want {
			t.Fatalf("packet %d left as IPv%d, want IPv%d", i, v, want)
		}
	}
	if n := testing.AllocsPerRun(100, b.run); n != 0 {
		t.Errorf("%v allocations per burst of %d packets", n, len(b.bufs))
	}
	// Every packet counted: the first burst, AllocsPerRun's warm-up
	// and its 100 runs.
	const bursts = 102
	nat, siit := b.g.cur.Load().insts[0], b.g.cur.Load().insts[1]
	if in, out := nat.counters.RX6.Load(), nat.counters.TX4.Load(); in != bursts*32 || out != bursts*32 {
		t.Errorf("nat64 counted %d IPv6 packets in and %d IPv4 out, want %d each", in, out, bursts*32)
	}
	if in, out := siit.counters.RX4.Load(), siit.counters.TX6.Load(); in != bursts*16 || out != bursts*16 {
		t.Errorf("siit counted %d IPv4 packets in and %d IPv6 out, want %d each", in, out, bursts*16)
	}
}

// BenchmarkBurst is the gateway's user-space cost per packet: choosing the
// instance, translating, counting, collecting the packets to write (and
// restoring the small input packets).
func BenchmarkBurst(b *testing.B) {
	r := newBurstRun(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(r.bufs) {
		r.run()
	}
}
