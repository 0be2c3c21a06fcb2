package nat64

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/translate"
)

// benchTable builds a translator holding n UDP sessions, four per binding
// (each IPv6 endpoint talks to four servers), and returns the heap bytes
// the tables took per session.
func benchTable(b *testing.B, n int) (*Translator, float64) {
	clock := newClock()
	cfg := Config{
		Pool6: wkp, AllowNonGlobalWKP: true,
		Pool4:            []Pool4Entry{{Protocol: UDP, Prefix: netip.MustParsePrefix("203.0.113.0/24"), Ports: PortRange{1024, 65535}}},
		ExpectedSessions: n,
		Config:           translate.Config{Now: clock.now},
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	x, err := New(cfg, fixedRandom())
	if err != nil {
		b.Fatal(err)
	}
	x.Tick(nil)
	p := (*policy)(x)
	for i := 0; i < n; i++ {
		src, sport, dst, dport := benchFlow(i)
		if _, _, _, r := p.To4(src, dst, translate.MakePorts(sport, dport), translate.MakeMeta(header.ProtoUDP, 0, 0)); r != translate.ReasonNone {
			b.Fatalf("creating session %d: %v", i, r)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return x, float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// benchFlow is flow i: endpoint i/4 (an IPv6 host with eight sockets) to
// one of four servers.
func benchFlow(i int) (src netip.Addr, sport uint16, dst netip.Addr, dport uint16) {
	ep := i / 4
	src = ipword.From6(0x20010db800000000, uint64(ep/8+1))
	sport = uint16(10000 + ep%8)
	dst = wkp.Embed(netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 4)}))
	return src, sport, dst, 53
}

func BenchmarkSessions(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000, 10_000_000} {
		if testing.Short() && n > 10_000 {
			continue
		}
		x, perSession := benchTable(b, n)
		p := (*policy)(x)
		// The IPv4 side of every flow, for inbound lookups.
		t4s := make([]translate.Ports, 0, 4096)
		flows := make([]int, 4096)
		for j := range flows {
			flows[j] = (j * 7919) % n
			src, sport, dst, dport := benchFlow(flows[j])
			_, _, ps, _ := p.To4(src, dst, translate.MakePorts(sport, dport), translate.MakeMeta(header.ProtoUDP, 0, 0))
			t4s = append(t4s, ps)
		}
		t4addr := make([]netip.Addr, len(flows))
		for j := range flows {
			src, sport, dst, dport := benchFlow(flows[j])
			t4addr[j], _, _, _ = p.To4(src, dst, translate.MakePorts(sport, dport), translate.MakeMeta(header.ProtoUDP, 0, 0))
		}
		meta := translate.MakeMeta(header.ProtoUDP, 0, 0)
		keys := make([]key6, len(flows))
		for j := range flows {
			src, sport, dst, dport := benchFlow(flows[j])
			z, _ := wkp.Extract(dst)
			keys[j] = key6{z4: v4u(z), xp: sport, zp: dport, proto: header.ProtoUDP}
			keys[j].xhi, keys[j].xlo = ipword.Words(src)
		}
		st := x.st.Load()
		b.Run(fmt.Sprintf("sessions=%d/op=table6", n), func(b *testing.B) {
			// The session table alone: home shard, lock, index, refresh.
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				k := keys[i&4095]
				if _, _, ok := x.lookup6(st, x.shards[x.home(k.xhi, k.xlo, k.xp, k.proto)], k, meta); !ok {
					b.Fatal("miss")
				}
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/op=lookup6", n), func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(perSession, "B/session")
			for i := 0; i < b.N; i++ {
				src, sport, dst, dport := benchFlow(flows[i&4095])
				if _, _, _, r := p.To4(src, dst, translate.MakePorts(sport, dport), meta); r != translate.ReasonNone {
					b.Fatal(r)
				}
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/op=lookup4", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				j := i & 4095
				_, _, dst, _ := benchFlow(flows[j])
				z, _ := wkp.Extract(dst)
				if _, _, _, r := p.To6(z, t4addr[j], translate.MakePorts(53, t4s[j].Src()), meta); r != translate.ReasonNone {
					b.Fatal(r)
				}
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/op=lookup6-parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			var gid atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(gid.Add(1)) * 1031 // goroutines on different flows
				for pb.Next() {
					src, sport, dst, dport := benchFlow(flows[i&4095])
					p.To4(src, dst, translate.MakePorts(sport, dport), meta)
					i += 17
				}
			})
		})
		next := n
		b.Run(fmt.Sprintf("sessions=%d/op=create", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, sport, dst, dport := benchFlow(next)
				next++
				src := ipword.From6(0x20010db8ffff0000, uint64(next)) // fresh hosts: a new binding each
				if _, _, _, r := p.To4(src, dst, translate.MakePorts(sport, dport), meta); r != translate.ReasonNone && r != translate.ReasonLimit {
					b.Fatal(r)
				}
			}
		})
		x = nil
		runtime.GC()
	}
}

// BenchmarkTranslateEstablished is the whole datapath for an established
// UDP flow through a table of 1M sessions: parse, session lookup, rewrite.
func BenchmarkTranslateEstablished(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	x, _ := benchTable(b, n)
	src, sport, dst, dport := benchFlow(n / 2)
	pkt := testUDP6(src, sport, dst, dport, 1400)
	buf := make([]byte, translate.Headroom+len(pkt))
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(buf[translate.Headroom:translate.Headroom+48], pkt[:48])
		if r := x.To4(buf, translate.Headroom, len(pkt)); r.Verdict != translate.Forward {
			b.Fatal(r.Reason)
		}
	}
}

func testUDP6(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, size int) []byte {
	b := make([]byte, size)
	h := header.IPv6(b)
	h.SetVersionClassFlow(0, 0)
	h.SetPayloadLen(uint16(size - 40))
	h.SetNextHeader(17)
	h.SetHopLimit(64)
	h.SetSrc(src)
	h.SetDst(dst)
	binary.BigEndian.PutUint16(b[40:], sport)
	binary.BigEndian.PutUint16(b[42:], dport)
	binary.BigEndian.PutUint16(b[44:], uint16(size-40))
	binary.BigEndian.PutUint16(b[46:], 0x1234)
	return b
}

func TestEstablishedZeroAllocs(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	out, _ := xl(x, tcp6(h1, 1500, h2, 80, header.TCPFlagSYN))
	t4, _ := ports4(out)
	xl(x, tcp4(h2, 80, pool, t4, header.TCPFlagSYN|header.TCPFlagACK))
	p6 := tcp6(h1, 1500, h2, 80, header.TCPFlagACK)
	p4 := tcp4(h2, 80, pool, t4, header.TCPFlagACK)
	buf := make([]byte, 256)
	for name, tc := range map[string]struct {
		pkt []byte
		f   func([]byte, int, int) translate.Result
	}{"outbound": {p6, x.To4}, "inbound": {p4, x.To6}} {
		n := testing.AllocsPerRun(200, func() {
			copy(buf[translate.Headroom:], tc.pkt)
			if r := tc.f(buf, translate.Headroom, len(tc.pkt)); r.Verdict != translate.Forward {
				t.Fatal(r.Reason)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per packet", name, n)
		}
	}
}
