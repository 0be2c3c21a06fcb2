package map66

import (
	"bytes"
	"math/rand"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/internal/tunbatch"
)

func rule(in, ex string) Rule {
	return Rule{Internal: netip.MustParsePrefix(in), External: netip.MustParsePrefix(ex)}
}

func mapper(t testing.TB, opts Options, rules ...Rule) *Mapper {
	t.Helper()
	m, err := New(rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// NPT-1 … NPT-16 of the spec digest (erratum 3033 applied).
func TestNPTVectors(t *testing.T) {
	r48 := rule("fd01:203:405::/48", "2001:db8:1::/48")
	for _, tc := range []struct {
		id       string
		r        Rule
		in       string
		outbound bool
		want     string // "" = refused
		reason   Reason
		opts     Options
	}{
		{"NPT-1", r48, "fd01:203:405:1::1234", true, "2001:db8:1:d550::1234", 0, Options{}},
		{"NPT-2", r48, "2001:db8:1:d550::1234", false, "fd01:203:405:1::1234", 0, Options{}},
		{"NPT-4", r48, "fd01:203:405::1234", true, "2001:db8:1:d54f::1234", 0, Options{}},
		{"NPT-5", r48, "fd01:203:405:fffe::1234", true, "2001:db8:1:d54e::1234", 0, Options{}},
		{"NPT-6", r48, "fd01:203:405:2ab0::1234", true, "2001:db8:1::1234", 0, Options{}},
		{"NPT-7", r48, "fd01:203:405:2aaf::1234", true, "2001:db8:1:fffe::1234", 0, Options{}},
		{"NPT-8", r48, "fd01:203:405:ffff::1234", true, "", ReasonSubnetFFFF, Options{}},
		{"NPT-9", r48, "2001:db8:1:ffff::1234", false, "fd01:203:405:2ab0::1234", 0, Options{}},
		{"NPT-9 strict", r48, "2001:db8:1:ffff::1234", false, "", ReasonSubnetFFFF, Options{StrictInbound: true}},
		{"NPT-10", rule("fd01:203:405:1::/64", "2001:db8:1::/64"), "fd01:203:405:1:1::1234", true, "2001:db8:1:0:d551::1234", 0, Options{}},
		{"NPT-11", rule("fd01:203:405::/64", "2001:db8:1::/64"), "fd01:203:405:0:1::1234", true, "2001:db8:1:0:d550::1234", 0, Options{}},
		{"NPT-12", rule("fd01:203:405::/48", "2001:db8:1:100::/56"), "fd01:203:405:ff:1::1234", true, "2001:db8:1:1ff:d450::1234", 0, Options{}},
		{"NPT-13", rule("fd01:203:405::/48", "2001:db8:1:100::/56"), "fd01:203:405:1ff:1::1234", true, "", ReasonNotMine, Options{}},
		{"NPT-14", rule("fd01:203:405:1::/64", "2001:db8:1::/64"), "fd01:203:405:1:ffff:1::1", true, "2001:db8:1:0:ffff:d551:0:1", 0, Options{}},
		{"NPT-15", rule("fd01:203:405:1::/64", "2001:db8:1::/64"), "fd01:203:405:1:ffff:ffff:ffff:ffff", true, "", ReasonIIDAllOnes, Options{}},
		{"NPT-16", rule("fd01:203:405:1::/64", "2001:db8:1::/64"), "fd01:203:405:1::", true, "2001:db8:1:0:d550::", 0, Options{}},
		{"NPT-16 FreeBSD", rule("fd01:203:405:1::/64", "2001:db8:1::/64"), "fd01:203:405:1::", true, "", ReasonIIDZero, Options{RefuseZeroIID: true}},
	} {
		m := mapper(t, tc.opts, tc.r)
		in := netip.MustParseAddr(tc.in)
		got, why := m.MapAddr(in, tc.outbound)
		if tc.want == "" {
			if why != tc.reason {
				t.Errorf("%s: %v -> %v (%v), want refusal %v", tc.id, in, got, why, tc.reason)
			}
			continue
		}
		if why != ReasonNone || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s: %v -> %v (%v), want %s", tc.id, in, got, why, tc.want)
			continue
		}
		if checksum.AddrSum(got) != checksum.AddrSum(in) && !checksum.IsNeutral(checksum.Sub(checksum.AddrSum(got), checksum.AddrSum(in))) {
			t.Errorf("%s: not checksum neutral", tc.id)
		}
		if back, why := m.MapAddr(got, !tc.outbound); why != ReasonNone || back != in && tc.id != "NPT-9" {
			t.Errorf("%s: round trip %v -> %v -> %v (%v)", tc.id, in, got, back, why)
		}
	}
	// NPT-3: the adjustment.
	if mp, _ := compile(r48); mp.adj != 0xd54f || ^mp.adj != 0x2ab0 {
		t.Errorf("NPT-3: adjustment %#04x", mp.adj)
	}
}

// RFC 6296 Appendix B: every internal subnet but 0xFFFF maps, neutrally,
// to a distinct external one and back.
func TestExhaustiveSubnets(t *testing.T) {
	m := mapper(t, Options{}, rule("fd01:203:405::/48", "2001:db8:1::/48"))
	seen := map[netip.Addr]bool{}
	for s := 0; s < 0xffff; s++ {
		a := netip.AddrFrom16([16]byte{0xfd, 0x01, 0x02, 0x03, 0x04, 0x05, byte(s >> 8), byte(s), 15: 0x34, 14: 0x12})
		got, why := m.MapAddr(a, true)
		if why != ReasonNone {
			t.Fatalf("subnet %#04x: %v", s, why)
		}
		if seen[got] {
			t.Fatalf("subnet %#04x collides at %v", s, got)
		}
		seen[got] = true
		if !checksum.IsNeutral(checksum.Sub(checksum.AddrSum(got), checksum.AddrSum(a))) && checksum.AddrSum(got) != checksum.AddrSum(a) {
			t.Fatalf("subnet %#04x not neutral", s)
		}
		if back, _ := m.MapAddr(got, false); back != a {
			t.Fatalf("subnet %#04x: back to %v", s, back)
		}
	}
}

// MAP66 lengths beyond /64 (the adjustment moves into the suffix), partial
// words, and /113../128 with explicit checksum updates.
func TestLongPrefixes(t *testing.T) {
	for _, r := range []Rule{
		rule("fd00:1:2:3:4::/80", "2001:db8:9:9:9::/80"),
		rule("fd00:1:2:3:4:5::/96", "2001:db8:9:9:9:9::/96"),
		rule("fd00:1:2:3:4:5:6:0/112", "2001:db8:9:9:9:9:9:0/112"),
		rule("fd00:1:2:3:4:5:0:0/100", "2001:db8:9:9:9:9:0:0/100"),
		rule("fd00::1/128", "2001:db8::99/128"),
		rule("fd00::100/120", "2001:db8::9900/120"),
	} {
		m := mapper(t, Options{}, r)
		in := r.Internal.Addr().Next()
		if r.Internal.Bits() == 128 {
			in = r.Internal.Addr()
		}
		src, dst := in, netip.MustParseAddr("2001:db8:ffff::1")
		pkt := testpkt.IPv6{Src: src, Dst: dst}.Packet(6, testpkt.TCP(src, dst, 1000, 80, header.TCPFlagSYN, []byte("data")))
		orig := append([]byte(nil), pkt...)
		if why := m.Outbound(pkt); why != ReasonNone {
			t.Fatalf("%v: %v", r, why)
		}
		ip := header.IPv6(pkt)
		if !r.External.Contains(ip.Src()) {
			t.Errorf("%v: mapped to %v", r, ip.Src())
		}
		if !checksum.Verify(pkt[40:], ip.PseudoHeaderSum(6, len(pkt)-40)) {
			t.Errorf("%v: TCP checksum no longer verifies", r)
		}
		// Back: swap addresses as a reply would, then map inbound.
		reply := testpkt.IPv6{Src: dst, Dst: ip.Src()}.Packet(6, testpkt.TCP(dst, ip.Src(), 80, 1000, header.TCPFlagACK, nil))
		if why := m.Inbound(reply); why != ReasonNone || header.IPv6(reply).Dst() != src {
			t.Errorf("%v: inbound %v -> %v", r, why, header.IPv6(reply).Dst())
		}
		if m.Inbound(pkt) != ReasonNotMine {
			t.Errorf("%v: inbound mapped a packet it should not", r)
		}
		if !bytes.Equal(pkt[40:], orig[40:]) && r.Internal.Bits() <= 112 {
			t.Errorf("%v: a neutral mapping touched the transport header", r)
		}
	}
}

// ICMPv6 errors from beyond the mapper reach the internal host.
func TestICMPv6ErrorInbound(t *testing.T) {
	m := mapper(t, Options{}, rule("fd01:203:405::/48", "2001:db8:1::/48"))
	internal := netip.MustParseAddr("fd01:203:405:1::1234")
	server := netip.MustParseAddr("2001:db8:ffff::80")
	router := netip.MustParseAddr("2001:db8:ffff::1")
	pkt := testpkt.IPv6{Src: internal, Dst: server}.Packet(17, testpkt.UDP(internal, server, 5000, 53, []byte("query")))
	if m.Outbound(pkt) != ReasonNone {
		t.Fatal("outbound")
	}
	ext := header.IPv6(pkt).Src()
	body := make([]byte, 8+len(pkt))
	body[0], body[1] = 1, 4 // port unreachable
	copy(body[8:], pkt)
	testpkt.ICMPChecksum(router, ext, body)
	errPkt := testpkt.IPv6{Src: router, Dst: ext}.Packet(58, body)
	if why := m.Inbound(errPkt); why != ReasonNone {
		t.Fatal(why)
	}
	ip := header.IPv6(errPkt)
	if ip.Dst() != internal || header.IPv6(errPkt[48:]).Src() != internal {
		t.Errorf("error to %v quoting %v", ip.Dst(), header.IPv6(errPkt[48:]).Src())
	}
	if !checksum.Verify(errPkt[40:], ip.PseudoHeaderSum(58, len(errPkt)-40)) {
		t.Error("ICMPv6 checksum changed by a neutral mapping")
	}
}

// The local-address check gives the same answers whether the mapper scans
// a few addresses or, past localScan, looks them up in a set.
func TestLocalManyAddresses(t *testing.T) {
	r := rule("fd01:203:405::/48", "2001:db8:1::/48")
	for _, n := range []int{1, localScan, localScan + 1, 64} {
		var local []netip.Addr
		for i := 0; i < n; i++ {
			local = append(local, netip.AddrFrom16([16]byte{0xfd, 0x01, 0x02, 0x03, 0x04, 0x05, 0, 1, 15: byte(i + 1)}))
		}
		m := mapper(t, Options{Local: local}, r)
		dst := netip.MustParseAddr("2001:db8:ffff::1")
		for _, c := range []struct {
			src  netip.Addr
			want Reason
		}{
			{local[0], ReasonLocalAddress},
			{local[n-1], ReasonLocalAddress},
			{netip.MustParseAddr("fd01:203:405:1::ff00"), ReasonNone},
		} {
			pkt := testpkt.IPv6{Src: c.src, Dst: dst}.Packet(17, testpkt.UDP(c.src, dst, 1, 2, nil))
			if why := m.Outbound(pkt); why != c.want {
				t.Errorf("%d local addresses, from %v: %v, want %v", n, c.src, why, c.want)
			}
		}
	}
}

func TestLocalAndHairpin(t *testing.T) {
	self := netip.MustParseAddr("fd01:203:405:1::1")
	m := mapper(t, Options{Local: []netip.Addr{self}}, rule("fd01:203:405::/48", "2001:db8:1::/48"))
	dst := netip.MustParseAddr("2001:db8:ffff::1")
	pkt := testpkt.IPv6{Src: self, Dst: dst}.Packet(17, testpkt.UDP(self, dst, 1, 2, nil))
	if why := m.Outbound(pkt); why != ReasonLocalAddress || header.IPv6(pkt).Src() != self {
		t.Errorf("local address mapped: %v", why)
	}
	// Hairpin: an internal host reaching another through its external name.
	a, b := netip.MustParseAddr("fd01:203:405:1::a"), netip.MustParseAddr("fd01:203:405:2::b")
	bExt, _ := m.MapAddr(b, true)
	pkt = testpkt.IPv6{Src: a, Dst: bExt}.Packet(17, testpkt.UDP(a, bExt, 1, 2, []byte("x")))
	if why := m.Outbound(pkt); why != ReasonNone || header.IPv6(pkt).Dst() != b {
		t.Errorf("hairpin: %v to %v", why, header.IPv6(pkt).Dst())
	}
	if aExt, _ := m.MapAddr(a, true); header.IPv6(pkt).Src() != aExt {
		t.Errorf("hairpin source %v, want %v", header.IPv6(pkt).Src(), aExt)
	}
	if !checksum.Verify(pkt[40:], header.IPv6(pkt).PseudoHeaderSum(17, len(pkt)-40)) {
		t.Error("hairpin checksum")
	}
}

func TestRuleValidation(t *testing.T) {
	for _, tc := range []struct {
		rules []Rule
		want  string
	}{
		{[]Rule{rule("fd00::1/48", "2001:db8::/48")}, "rule 0"},
		{[]Rule{rule("ff00::/48", "2001:db8::/48")}, "unicast"},
		{[]Rule{rule("fd00::/48", "fd00::/48")}, "same"},
		{[]Rule{rule("::/16", "2001:db8::/16")}, "::/16 is not a unicast prefix"},
		{[]Rule{rule("::/0", "::/0")}, "same"},
		{[]Rule{rule("fd00::/48", "2001:db8::/48"), rule("fd00::/48", "2001:db8:1::/48")}, "rule 1"},
		{[]Rule{{Internal: netip.MustParsePrefix("10.0.0.0/8"), External: netip.MustParsePrefix("2001:db8::/48")}}, "not an IPv6"},
	} {
		if _, err := New(tc.rules, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.rules, err)
		}
	}
}

// Several rules: the longest internal (out) or external (in) prefix wins.
func TestLongestMatch(t *testing.T) {
	m := mapper(t, Options{}, rule("fd00::/16", "2001:db8::/32"), rule("fd00:1::/32", "2001:db8:aaaa::/48"))
	got, _ := m.MapAddr(netip.MustParseAddr("fd00:1::1"), true)
	if !netip.MustParsePrefix("2001:db8:aaaa::/48").Contains(got) {
		t.Errorf("longest match: %v", got)
	}
	// Rules whose prefixes overlap at their own lengths, given in either
	// order, each way: the /48 inside the /32 wins for what it covers.
	wide, narrow := rule("fd00::/32", "2001:db8::/32"), rule("fd00:0:1::/48", "2001:db8:aaaa::/48")
	for _, rules := range [][]Rule{{wide, narrow}, {narrow, wide}} {
		m := mapper(t, Options{}, rules...)
		for _, tc := range []struct {
			in       string
			outbound bool
			want     netip.Prefix
		}{
			{"fd00:0:1::1", true, narrow.External},
			{"fd00:0:2::1", true, wide.External},
			{"2001:db8:aaaa::1", false, narrow.Internal},
			{"2001:db8:bbbb::1", false, wide.Internal},
		} {
			if got, why := m.MapAddr(netip.MustParseAddr(tc.in), tc.outbound); why != ReasonNone || !tc.want.Contains(got) {
				t.Errorf("rules %v: %s maps to %v (%v), want under %v", rules, tc.in, got, why, tc.want)
			}
		}
	}
}

func FuzzMapRoundTrip(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x12, 0x34}, uint8(0))
	f.Add([]byte{0xff, 0xff, 0, 0}, uint8(1))
	rules := []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48"), rule("fd02::/64", "2001:db8:2::/64"), rule("fd03::/96", "2001:db8:3::/96"), rule("fd04::1:0/124", "2001:db8:4::1:0/124")}
	m, _ := New(rules, Options{})
	f.Fuzz(func(t *testing.T, suffix []byte, which uint8) {
		r := rules[int(which)%len(rules)]
		a := r.Internal.Addr().As16()
		for i, c := range suffix {
			if p := 15 - i; p >= 0 && p*8 >= r.Internal.Bits() {
				a[p] = c
			}
		}
		src, dst := netip.AddrFrom16(a), netip.MustParseAddr("2001:db8:ffff::1")
		pkt := testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, suffix))
		orig := append([]byte(nil), pkt...)
		if m.Outbound(pkt) != ReasonNone {
			return
		}
		ip := header.IPv6(pkt)
		if !checksum.Verify(pkt[40:], ip.PseudoHeaderSum(17, len(pkt)-40)) {
			t.Fatalf("mapped UDP checksum does not verify: %v", ip.Src())
		}
		// Back again: swap src/dst bytes so the mapped source becomes the
		// destination, map inbound, swap back; the packet is the original.
		swap := func(p []byte) {
			var s [16]byte
			copy(s[:], p[8:24])
			copy(p[8:24], p[24:40])
			copy(p[24:40], s[:])
		}
		swap(pkt)
		if why := m.Inbound(pkt); why != ReasonNone {
			t.Fatalf("inbound: %v", why)
		}
		swap(pkt)
		if !bytes.Equal(pkt, orig) {
			t.Fatalf("map then unmap changed the packet:\n % x\n % x", orig, pkt)
		}
	})
}

// BenchmarkMap measures one mapping of a UDP packet, outbound and
// inbound, beside copying the packet. It maps a ring of 64 packets, as a
// TUN batch holds: one pass maps their sources out, the next maps them
// back with the reverse rule, so no packet is restored by a copy the
// mapping would be charged for, and one packet's mapping does not wait
// for the last one's stores. The packets are in buffers laid out as
// map66d reads into them (tunbatch.Buffers): each header in its own L1
// set, where buffers of one size class would crowd a few (1536 bytes
// apart, 8 of the 64) and evict each other.
func BenchmarkMap(b *testing.B) {
	m := mapper(b, Options{}, rule("fd01:203:405::/48", "2001:db8:1::/48"))
	back := mapper(b, Options{}, rule("2001:db8:1::/48", "fd01:203:405::/48"))
	for _, size := range []int{64, 1500} {
		src, dst := netip.MustParseAddr("fd01:203:405:1::1234"), netip.MustParseAddr("2001:db8:ffff::1")
		pkt := testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, make([]byte, size-48)))
		// op=map: sources out; op=unmap: destinations in (the reply's
		// header, addresses swapped).
		reply := append([]byte(nil), pkt...)
		copy(reply[8:24], pkt[24:40])
		copy(reply[24:40], pkt[8:24])
		mapped, _ := m.MapAddr(src, true)
		copy(reply[24:40], mapped.AsSlice())
		for _, op := range []struct {
			name string
			pkt  []byte
			f    func(*Mapper, []byte) Reason
		}{{"map", pkt, (*Mapper).Outbound}, {"unmap", reply, (*Mapper).Inbound}} {
			b.Run("op="+op.name+"/size="+strconv.Itoa(size), func(b *testing.B) {
				ring := daemonRing(op.pkt)
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				b.ResetTimer() // the ring's buffers are not the measured work
				ms := [2]*Mapper{m, back}
				for i := 0; i < b.N; i++ {
					if op.f(ms[i>>6&1], ring[i&63]) != ReasonNone {
						b.Fatal("refused")
					}
				}
				if b.N%128 == 0 && !bytes.Equal(ring[0], op.pkt) {
					b.Fatal("mapping there and back changed the packet")
				}
			})
		}
		// The same, a burst of 64 per call (OutboundBatch, InboundBatch).
		for _, op := range []struct {
			name string
			pkt  []byte
			f    func(*Mapper, [][]byte, []Reason)
		}{{"map-batch", pkt, (*Mapper).OutboundBatch}, {"unmap-batch", reply, (*Mapper).InboundBatch}} {
			b.Run("op="+op.name+"/size="+strconv.Itoa(size), func(b *testing.B) {
				ring := daemonRing(op.pkt)
				why := make([]Reason, len(ring))
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				b.ResetTimer() // the ring's buffers are not the measured work
				ms := [2]*Mapper{m, back}
				for i := 0; i < b.N; i += len(ring) {
					n := min(len(ring), b.N-i)
					op.f(ms[i>>6&1], ring[:n], why)
					if why[n-1] != ReasonNone {
						b.Fatal("refused:", why[n-1])
					}
				}
				if b.N%128 == 0 && !bytes.Equal(ring[0], op.pkt) {
					b.Fatal("mapping there and back changed the packet")
				}
			})
		}
		dst2 := make([]byte, len(pkt))
		b.Run("op=copy/size="+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(dst2, pkt)
			}
		})
	}
}

// daemonRing returns 64 copies of pkt in buffers as map66d's TUN reader
// has them.
func daemonRing(pkt []byte) [][]byte {
	const offset = 16 // wireguard-go's virtio header, as in map66d
	bufs := tunbatch.Buffers(64, offset+65535)
	for i, buf := range bufs {
		bufs[i] = buf[offset : offset+copy(buf[offset:], pkt)]
	}
	return bufs
}

func TestZeroAllocs(t *testing.T) {
	m := mapper(t, Options{}, rule("fd01:203:405::/48", "2001:db8:1::/48"))
	src, dst := netip.MustParseAddr("fd01:203:405:1::1234"), netip.MustParseAddr("2001:db8:ffff::1")
	pkt := testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, make([]byte, 100)))
	buf := make([]byte, len(pkt))
	if n := testing.AllocsPerRun(100, func() { copy(buf, pkt); m.Outbound(buf); m.Inbound(buf) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

// The quick path of Outbound and Inbound for /48-and-shorter rules must
// give what the general path gives, byte for byte, on every kind of
// packet: mapped, not mine, subnet 0xFFFF, the interface's own address,
// hairpinned, ICMPv6 (which always takes the general path).
func TestQuickMatchesGeneral(t *testing.T) {
	rules := []Rule{
		rule("fd01:203:405::/48", "2001:db8:1::/48"),
		rule("fd01:203::/32", "2001:db8:2::/48"),
		rule("fd02::/40", "2001:db8:100::/40"),
	}
	local := []netip.Addr{netip.MustParseAddr("fd01:203:405:1::1"), netip.MustParseAddr("fd02::1")}
	prefixes := []netip.Prefix{}
	for _, r := range rules {
		prefixes = append(prefixes, r.Internal, r.External)
	}
	prefixes = append(prefixes, netip.MustParsePrefix("2001:db8:ffff::/48"))
	rng := rand.New(rand.NewSource(1))
	addr := func() netip.Addr {
		if rng.Intn(8) == 0 {
			return local[rng.Intn(len(local))]
		}
		p := prefixes[rng.Intn(len(prefixes))]
		var b [16]byte
		rng.Read(b[:])
		if rng.Intn(4) == 0 {
			b[6], b[7] = 0xff, 0xff // subnet 0xFFFF
		}
		a := p.Addr().As16()
		for i := p.Bits() / 8; i < 16; i++ {
			a[i] = b[i]
		}
		return netip.AddrFrom16(a)
	}
	for _, opts := range []Options{{}, {Local: local}, {StrictInbound: true}} {
		m := mapper(t, opts, rules...)
		if !m.short {
			t.Fatal("rules of /48 and shorter do not take the inline path")
		}
		for i := 0; i < 20000; i++ {
			src, dst := addr(), addr()
			var pkt []byte
			switch rng.Intn(3) {
			case 0:
				pkt = testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, []byte("data")))
			case 1:
				pkt = testpkt.IPv6{Src: src, Dst: dst}.Packet(6, testpkt.TCP(src, dst, 1, 2, 0x10, nil))
			default:
				pkt = testpkt.IPv6{Src: src, Dst: dst}.Packet(58, testpkt.Echo(src, dst, 128, 1, 1, nil))
			}
			for _, dir := range []struct {
				name           string
				quick, general func([]byte) Reason
			}{{"outbound", m.Outbound, m.outbound}, {"inbound", m.Inbound, m.inbound}} {
				inline, general := bytes.Clone(pkt), bytes.Clone(pkt)
				a, b := dir.quick(inline), dir.general(general)
				if a != b || !bytes.Equal(inline, general) {
					t.Fatalf("%s %v -> %v (%+v): quick %v % x\ngeneral %v % x", dir.name, src, dst, opts, a, inline[8:40], b, general[8:40])
				}
			}
		}
	}
}

// OutboundBatch and InboundBatch must give, packet by packet, what
// Outbound and Inbound give: the same bytes and the same reason, whether
// their first pass runs (one short rule) or not (several rules, a /64, a
// local address under the prefix), on bursts that mix what the first
// pass maps with what it leaves: other protocols, ICMPv6 errors,
// truncated packets, subnet 0xFFFF, hairpins, addresses not ours.
func TestBatchMatchesOne(t *testing.T) {
	local := netip.MustParseAddr("fd01:203:405:1::1")
	cases := []struct {
		name  string
		opts  Options
		rules []Rule
		pass  bool // the first pass runs, outbound
	}{
		{"one-48", Options{}, []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48")}, true},
		{"one-32", Options{}, []Rule{rule("fd01:203::/32", "2001:db8::/32")}, true},
		{"one-48-strict", Options{StrictInbound: true}, []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48")}, true},
		{"one-48-local-elsewhere", Options{Local: []netip.Addr{netip.MustParseAddr("2001:db8:ffff::1")}}, []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48")}, true},
		{"one-48-local-under", Options{Local: []netip.Addr{local}}, []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48")}, false},
		{"one-64", Options{}, []Rule{rule("fd01:203:405:1::/64", "2001:db8:1:2::/64")}, false},
		{"two", Options{}, []Rule{rule("fd01:203:405::/48", "2001:db8:1::/48"), rule("fd02::/40", "2001:db8:100::/40")}, false},
	}
	rng := rand.New(rand.NewSource(2))
	for _, c := range cases {
		m := mapper(t, c.opts, c.rules...)
		if m.burstOut != c.pass {
			t.Fatalf("%s: first pass %v, want %v", c.name, m.burstOut, c.pass)
		}
		var prefixes []netip.Prefix
		for _, r := range c.rules {
			prefixes = append(prefixes, r.Internal, r.External)
		}
		prefixes = append(prefixes, netip.MustParsePrefix("2001:db8:ffff::/48"))
		addr := func() netip.Addr {
			if rng.Intn(10) == 0 {
				return local
			}
			p := prefixes[rng.Intn(len(prefixes))]
			var b [16]byte
			rng.Read(b[:])
			if rng.Intn(5) == 0 {
				b[6], b[7] = 0xff, 0xff
			}
			a := p.Addr().As16()
			for i := p.Bits() / 8; i < 16; i++ {
				a[i] = b[i]
			}
			return netip.AddrFrom16(a)
		}
		for round := 0; round < 300; round++ {
			n := 1 + rng.Intn(64)
			var pkts [][]byte
			for range n {
				src, dst := addr(), addr()
				var p []byte
				switch rng.Intn(6) {
				case 5:
					// An ICMPv6 error, whose quoted packet the general
					// path maps too: never the first pass's.
					q := testpkt.IPv6{Src: dst, Dst: src}.Packet(17, testpkt.UDP(dst, src, 2, 1, []byte("data")))
					p = testpkt.IPv6{Src: src, Dst: dst}.Packet(58, testpkt.ICMPError(src, dst, 1, 0, 0, q))
				case 0:
					p = testpkt.IPv6{Src: src, Dst: dst}.Packet(6, testpkt.TCP(src, dst, 1, 2, 0x10, nil))
				case 1:
					p = testpkt.IPv6{Src: src, Dst: dst}.Packet(58, testpkt.Echo(src, dst, 128, 1, 1, nil))
				case 2:
					p = testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, []byte("data")))
					p = p[:rng.Intn(len(p))] // truncated, maybe below the header
				default:
					p = testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, []byte("data")))
				}
				pkts = append(pkts, p)
			}
			for _, dir := range []struct {
				name  string
				one   func([]byte) Reason
				batch func([][]byte, []Reason)
			}{{"outbound", m.Outbound, m.OutboundBatch}, {"inbound", m.Inbound, m.InboundBatch}} {
				batch := make([][]byte, n)
				for i, p := range pkts {
					batch[i] = bytes.Clone(p)
				}
				why := make([]Reason, n+3) // longer than the burst
				dir.batch(batch, why)
				for i, p := range pkts {
					one := bytes.Clone(p)
					r := dir.one(one)
					if why[i] != r || !bytes.Equal(batch[i], one) {
						t.Fatalf("%s %s, packet %d of %d: batch %v % x\none by one %v % x", c.name, dir.name, i, n, why[i], batch[i], r, one)
					}
				}
			}
		}
	}
}

func TestBatchZeroAllocs(t *testing.T) {
	m := mapper(t, Options{}, rule("fd01:203:405::/48", "2001:db8:1::/48"))
	src, dst := netip.MustParseAddr("fd01:203:405:1::1234"), netip.MustParseAddr("2001:db8:ffff::1")
	ext, _ := m.MapAddr(src, true)
	out := [][]byte{ // the second is left to the second pass
		testpkt.IPv6{Src: src, Dst: dst}.Packet(17, testpkt.UDP(src, dst, 1, 2, make([]byte, 100))),
		testpkt.IPv6{Src: src, Dst: dst}.Packet(58, testpkt.Echo(src, dst, 128, 1, 1, nil)),
	}
	in := [][]byte{
		testpkt.IPv6{Src: dst, Dst: ext}.Packet(17, testpkt.UDP(dst, ext, 2, 1, make([]byte, 100))),
		testpkt.IPv6{Src: dst, Dst: ext}.Packet(58, testpkt.Echo(dst, ext, 129, 1, 1, nil)),
	}
	pkts := make([][]byte, 2)
	var whyOut, whyIn [2]Reason
	if n := testing.AllocsPerRun(100, func() {
		for i := range pkts {
			pkts[i] = append(pkts[i][:0], out[i]...)
		}
		m.OutboundBatch(pkts, whyOut[:])
		for i := range pkts {
			pkts[i] = append(pkts[i][:0], in[i]...)
		}
		m.InboundBatch(pkts, whyIn[:])
	}); n != 0 {
		t.Errorf("%v allocs", n)
	}
	if whyOut != [2]Reason{} || whyIn != [2]Reason{} {
		t.Errorf("reasons %v out, %v in; want none", whyOut, whyIn)
	}
}

// adjustWord is ApplyAdjustment for every word but 0xFFFF.
func TestAdjustWord(t *testing.T) {
	adjs := []uint16{0, 1, 2, 0x7fff, 0x8000, 0xfffe, 0xffff}
	rng := rand.New(rand.NewSource(3))
	for range 200 {
		adjs = append(adjs, uint16(rng.Uint32()))
	}
	for _, adj := range adjs {
		for w := range 0xffff {
			if got, want := adjustWord(uint64(w), uint64(adj)), checksum.ApplyAdjustment(uint16(w), adj); got != uint64(want) {
				t.Fatalf("adjustWord(%#x, %#x) = %#x, want %#x", w, adj, got, want)
			}
		}
	}
}
