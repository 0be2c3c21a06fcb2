package checksum

import (
	"encoding/binary"
	"math/rand"
	"net/netip"
	"strconv"
	"testing"

	"github.com/v6xlat/xlat/internal/fixture"
)

// reference is the RFC 1071 §1 algorithm word by word, deliberately naive.
func reference(b []byte, initial uint16) uint16 {
	s := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = s&0xffff + s>>16
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// CK-1, CK-2, CK-3, CK-4: RFC 1071 §3 numerical examples.
func TestRFC1071Examples(t *testing.T) {
	data := fixture.Hex(t, "0001f203f4f5f6f7")
	if got := Checksum(data, 0); got != 0xddf2 {
		t.Errorf("CK-1 sum = %#04x, want 0xddf2", got)
	}
	if got := ^Checksum(data, 0); got != 0x220d {
		t.Errorf("CK-1 field = %#04x, want 0x220d", got)
	}
	// CK-2: the same bytes as byte-swapped words give the swapped sum.
	swapped := fixture.Hex(t, "010003f2f5f4f7f6")
	if got := Checksum(swapped, 0); got != 0xf2dd {
		t.Errorf("CK-2 swapped sum = %#04x, want 0xf2dd", got)
	}
	// CK-3: 32-bit words fold to the same sum.
	s := uint64(0x0001f203) + uint64(0xf4f5f6f7)
	if s != 0x0f4f7e8fa {
		t.Fatalf("CK-3 32-bit sum = %#x", s)
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	if s != 0xddf2 {
		t.Errorf("CK-3 folded = %#x, want 0xddf2", s)
	}
	// CK-4: an odd split; the second piece, summed from an even start, is
	// byte-swapped before being added.
	p1 := Checksum(data[:3], 0)
	p2 := Checksum(data[3:], 0)
	if p1 != 0xf201 || p2 != 0xf0eb {
		t.Errorf("CK-4 pieces = %#04x %#04x, want 0xf201 0xf0eb", p1, p2)
	}
	if got := Combine(p1, p2<<8|p2>>8); got != 0xddf2 {
		t.Errorf("CK-4 combined = %#04x, want 0xddf2", got)
	}
}

// CK-5 … CK-10: RFC 1624 §4 and §5, the -0/+0 boundary case.
func TestRFC1624BoundaryCase(t *testing.T) {
	const c, m, m2 = 0xcd7a, 0x5555, 0x3285
	hc := ^Combine(c, m)
	if hc != 0xdd2f {
		t.Fatalf("CK-5 HC = %#04x, want 0xdd2f", hc)
	}
	scratch := ^Combine(c, m2)
	if scratch != 0x0000 {
		t.Fatalf("CK-6 recomputed = %#04x, want 0x0000", scratch)
	}
	// CK-7: RFC 1141's eqn. 2 gives -0; our update must not.
	eqn2 := Combine(Combine(hc, m), ^uint16(m2))
	if eqn2 != 0xffff {
		t.Fatalf("CK-7 eqn. 2 = %#04x, want 0xffff (the wrong answer)", eqn2)
	}
	if got := Update16(hc, m, m2); got != 0x0000 {
		t.Errorf("CK-8 Update16 (eqn. 3) = %#04x, want 0x0000", got)
	}
	if got := Update16(hc, m, m2); got == eqn2 {
		t.Errorf("CK-8 Update16 reproduced RFC 1141's -0")
	}
	// CK-9: eqn. 4, HC - ~m - m'.
	if got := Sub(Sub(hc, ^uint16(m)), m2); got != 0x0000 {
		t.Errorf("CK-9 eqn. 4 = %#04x, want 0x0000", got)
	}
	// CK-10: both zero encodings verify.
	for _, field := range []uint16{0xffff, 0x0000} {
		b := make([]byte, 6)
		binary.BigEndian.PutUint16(b[0:], c)
		binary.BigEndian.PutUint16(b[2:], m2)
		binary.BigEndian.PutUint16(b[4:], field)
		if !Verify(b, 0) {
			t.Errorf("CK-10 field %#04x does not verify", field)
		}
	}
}

// CK-11, CK-12: an IPv4 header and a TTL decrement by eqn. 3.
func TestIPv4HeaderVectors(t *testing.T) {
	h := fixture.Hex(t, "4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7")
	field := ^Checksum(h, 0)
	if field != 0xb861 {
		t.Fatalf("CK-11 = %#04x, want 0xb861", field)
	}
	binary.BigEndian.PutUint16(h[10:], field)
	if !Verify(h, 0) {
		t.Fatal("CK-11 header does not verify")
	}
	upd := Update16(field, 0x4011, 0x3f11)
	if upd != 0xb961 {
		t.Errorf("CK-12 = %#04x, want 0xb961", upd)
	}
	h[8] = 0x3f
	binary.BigEndian.PutUint16(h[10:], 0)
	if scratch := ^Checksum(h, 0); scratch != upd {
		t.Errorf("CK-12 recomputed %#04x != updated %#04x", scratch, upd)
	}
}

// CK-13: prefix sums, neutrality.
func TestPrefixSums(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want uint16
	}{
		{"64:ff9b::", 0xffff},
		{"fd01:203:405:1::1234", 0x153f},
		{"2001:db8:1:d550::1234", 0x153f},
	} {
		if got := AddrSum(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("CK-13 sum(%s) = %#04x, want %#04x", tc.addr, got, tc.want)
		}
	}
	if !IsNeutral(AddrSum(netip.MustParseAddr("64:ff9b::"))) {
		t.Error("64:ff9b:: is not neutral")
	}
	if IsNeutral(AddrSum(netip.MustParseAddr("2001:db8::"))) {
		t.Error("2001:db8:: reported neutral")
	}
}

// CK-14 … CK-20: the end-to-end translation vectors.
func TestTranslationVectors(t *testing.T) {
	v4src, v4dst := netip.MustParseAddr("192.0.2.33"), netip.MustParseAddr("198.51.100.2")
	wkpSrc, wkpDst := netip.MustParseAddr("64:ff9b::c000:221"), netip.MustParseAddr("64:ff9b::c633:6402")
	nspSrc, nspDst := netip.MustParseAddr("2001:db8:1c0:2:21::"), netip.MustParseAddr("2001:db8:1c6:3364:2::")

	ip := fixture.Hex(t, "45000020 00004000 40110000 c0000221 c6336402")
	if got := ^Checksum(ip, 0); got != 0x4e76 {
		t.Errorf("CK-14 header = %#04x, want 0x4e76", got)
	}

	udp := fixture.Hex(t, "1234 0035 000c 0000 61626364")
	udp4 := UDPField(^Checksum(udp, PseudoHeader4(v4src, v4dst, 17, 12)))
	if udp4 != 0x3c4f {
		t.Errorf("CK-15 = %#04x, want 0x3c4f", udp4)
	}
	udpWKP := UDPField(^Checksum(udp, PseudoHeader6(wkpSrc, wkpDst, 17, 12)))
	if udpWKP != 0x3c4f {
		t.Errorf("CK-16 = %#04x, want 0x3c4f", udpWKP)
	}
	udpNSP := UDPField(^Checksum(udp, PseudoHeader6(nspSrc, nspDst, 17, 12)))
	if udpNSP != 0x9625 {
		t.Errorf("CK-17 from scratch = %#04x, want 0x9625", udpNSP)
	}
	oldSum := Combine(AddrSum(v4src), AddrSum(v4dst))
	newSum := Combine(AddrSum(nspSrc), AddrSum(nspDst))
	if oldSum != 0xec57 || newSum != 0x9281 {
		t.Errorf("CK-17 address sums = %#04x %#04x, want 0xec57 0x9281", oldSum, newSum)
	}
	if got := UDPField(Adjust(udp4, oldSum, newSum)); got != 0x9625 {
		t.Errorf("CK-17 by eqn. 3 = %#04x, want 0x9625", got)
	}
	s4 := netip.MustParseAddr("192.0.2.33").As4()
	n6 := nspSrc.As16()
	if got := UpdateBytes(UpdateAddr(udp4, v4dst, nspDst), s4[:], n6[:]); got != 0x9625 {
		t.Errorf("CK-17 by UpdateBytes/UpdateAddr = %#04x, want 0x9625", got)
	}

	echo := fixture.Hex(t, "0800 0000 0001 0001 61626364")
	if got := ^Checksum(echo, 0); got != 0x3337 {
		t.Errorf("CK-18 = %#04x, want 0x3337", got)
	}
	echo6 := fixture.Hex(t, "8000 0000 0001 0001 61626364")
	if got := ^Checksum(echo6, PseudoHeader6(wkpSrc, wkpDst, 58, 12)); got != 0xce98 {
		t.Errorf("CK-19 = %#04x, want 0xce98", got)
	}
	if got := ^Checksum(echo6, PseudoHeader6(nspSrc, nspDst, 58, 12)); got != 0x286f {
		t.Errorf("CK-20 = %#04x, want 0x286f", got)
	}
	// CK-18 -> CK-20 incrementally: type word 0x0800 -> 0x8000, pseudo-header added.
	inc := Adjust(Update16(0x3337, 0x0800, 0x8000), 0, PseudoHeader6(nspSrc, nspDst, 58, 12))
	if inc != 0x286f {
		t.Errorf("CK-20 incrementally = %#04x, want 0x286f", inc)
	}
}

func TestPseudoHeaderBytesMatches(t *testing.T) {
	s, d := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("64:ff9b::c633:6402")
	sb, db := s.As16(), d.As16()
	if a, b := PseudoHeader6(s, d, 6, 1400), PseudoHeaderBytes(sb[:], db[:], 6, 1400); a != b {
		t.Errorf("PseudoHeader6 %#04x != PseudoHeaderBytes %#04x", a, b)
	}
	s4, d4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	sb4, db4 := s4.As4(), d4.As4()
	if a, b := PseudoHeader4(s4, d4, 17, 1400), PseudoHeaderBytes(sb4[:], db4[:], 17, 1400); a != b {
		t.Errorf("PseudoHeader4 %#04x != PseudoHeaderBytes %#04x", a, b)
	}
	// Jumbo lengths carry into the upper word of the IPv6 pseudo-header.
	big := PseudoHeader6(s, d, 17, 0x12345)
	small := PseudoHeader6(s, d, 17, 0x2345)
	if Sub(big, small) != 1 {
		t.Errorf("32-bit length not summed: %#04x vs %#04x", big, small)
	}
}

// Every length 0…9001 at every alignment 0…7, each implementation against
// the reference.
func TestAllLengthsAndAlignments(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 9001+8)
	rng.Read(buf)
	for align := 0; align < 8; align++ {
		for n := 0; n <= 9001; n++ {
			b := buf[align : align+n]
			init := uint16(n * 7919)
			want := reference(b, init)
			if got := Checksum(b, init); got != want {
				t.Fatalf("Checksum(len %d, align %d) = %#04x, want %#04x", n, align, got, want)
			}
			if got := Combine(fold(sumGeneric(b)), init); got != want {
				t.Fatalf("generic(len %d, align %d) = %#04x, want %#04x", n, align, got, want)
			}
		}
	}
}

// All-ones data stresses the carries: every word is 0xffff.
func TestCarryStress(t *testing.T) {
	for _, n := range []int{64, 65, 1 << 16, 1<<20 + 3, 3<<20 + 64} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		if got, want := Checksum(b, 0xffff), reference(b, 0xffff); got != want {
			t.Errorf("all ones, len %d: %#04x, want %#04x", n, got, want)
		}
		if got, want := Combine(fold(sumGeneric(b)), 0), reference(b, 0); got != want {
			t.Errorf("generic all ones, len %d: %#04x, want %#04x", n, got, want)
		}
	}
}

// Property: for random data and a random word change, eqn. 3 equals
// recomputation, including the field value of zero.
func TestIncrementalEqualsRecompute(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 100000; i++ {
		n := 2 + 2*rng.Intn(40)
		b := make([]byte, n+2) // last word is the field
		rng.Read(b[:n])
		if i%10 == 0 {
			// Force the RFC 1624 boundary: make the data sum to 0xffff.
			binary.BigEndian.PutUint16(b[0:], 0)
			binary.BigEndian.PutUint16(b[0:], ^Checksum(b[:n], 0))
		}
		field := ^Checksum(b[:n], 0)
		at := 2 * rng.Intn(n/2)
		old := binary.BigEndian.Uint16(b[at:])
		nw := uint16(rng.Uint32())
		if i%7 == 0 {
			nw = old ^ 0xffff
		}
		binary.BigEndian.PutUint16(b[at:], nw)
		want := ^Checksum(b[:n], 0)
		got := Update16(field, old, nw)
		if allZero(b[:n]) {
			// RFC 1624 §3 assumes some word is non-zero; for all-zero data
			// either encoding of zero is a correct field.
			if IsNeutral(got) {
				continue
			}
		}
		if got != want {
			t.Fatalf("Update16(%#04x, %#04x, %#04x) = %#04x, recomputed %#04x", field, old, nw, got, want)
		}
		binary.BigEndian.PutUint16(b[n:], want)
		if !Verify(b, 0) {
			t.Fatalf("updated packet does not verify")
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestUpdate32AndBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 10000; i++ {
		b := make([]byte, 40)
		rng.Read(b)
		field := ^Checksum(b, 0)
		at := 4 * rng.Intn(10)
		old := binary.BigEndian.Uint32(b[at:])
		nw := rng.Uint32()
		binary.BigEndian.PutUint32(b[at:], nw)
		want := ^Checksum(b, 0)
		if got := Update32(field, old, nw); got != want {
			t.Fatalf("Update32 = %#04x, want %#04x", got, want)
		}
	}
	// UpdateBytes across lengths: 4 bytes replaced by 16.
	b := []byte{1, 2, 3, 4, 9, 9}
	field := ^Checksum(b, 0)
	n := make([]byte, 18)
	rng.Read(n[:16])
	copy(n[16:], b[4:])
	if got, want := UpdateBytes(field, b[:4], n[:16]), ^Checksum(n, 0); got != want {
		t.Errorf("UpdateBytes 4->16 = %#04x, want %#04x", got, want)
	}
}

func TestUDPField(t *testing.T) {
	if UDPField(0) != 0xffff || UDPField(0x1234) != 0x1234 || UDPField(0xffff) != 0xffff {
		t.Error("UDPField mapping wrong")
	}
}

func TestAdjustment(t *testing.T) {
	// RFC 6296 §3.6: internal fd01:203:405::/48, external 2001:db8:1::/48.
	in := Checksum([]byte{0xfd, 0x01, 0x02, 0x03, 0x04, 0x05}, 0)
	ex := Checksum([]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01}, 0)
	if in != 0x030a || ex != 0x2dba {
		t.Fatalf("prefix sums %#04x %#04x, want 0x030a 0x2dba", in, ex)
	}
	adj := Adjustment(in, ex)
	if adj != 0xd54f {
		t.Fatalf("adjustment = %#04x, want 0xd54f", adj)
	}
	// Subnet word 0x0001 becomes 0xd550 (RFC 6296 §3.6).
	if got := ApplyAdjustment(0x0001, adj); got != 0xd550 {
		t.Errorf("outbound word = %#04x, want 0xd550", got)
	}
	if got := ApplyAdjustment(0xd550, ^adj); got != 0x0001 {
		t.Errorf("inbound word = %#04x, want 0x0001", got)
	}
	// A result of 0xffff is written as 0.
	if got := ApplyAdjustment(0xffff-adj, adj); got != 0 {
		t.Errorf("0xffff result written as %#04x, want 0", got)
	}
}

func TestZeroAllocs(t *testing.T) {
	b := make([]byte, 1500)
	a4, a6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	var sink uint16
	var ok bool
	for name, f := range map[string]func(){
		"Checksum":          func() { sink = Checksum(b, 1) },
		"Verify":            func() { ok = Verify(b, 1) },
		"Combine":           func() { sink = Combine(sink, 3) },
		"Sub":               func() { sink = Sub(sink, 3) },
		"Adjust":            func() { sink = Adjust(sink, 1, 2) },
		"Update16":          func() { sink = Update16(sink, 1, 2) },
		"Update32":          func() { sink = Update32(sink, 1, 2) },
		"UpdateBytes":       func() { sink = UpdateBytes(sink, b[:4], b[4:20]) },
		"UpdateAddr":        func() { sink = UpdateAddr(sink, a4, a6) },
		"AddrSum":           func() { sink = AddrSum(a6) },
		"PseudoHeader4":     func() { sink = PseudoHeader4(a4, a4, 6, 20) },
		"PseudoHeader6":     func() { sink = PseudoHeader6(a6, a6, 6, 20) },
		"PseudoHeaderBytes": func() { sink = PseudoHeaderBytes(b[:16], b[16:32], 6, 20) },
		"UDPField":          func() { sink = UDPField(sink) },
		"IsNeutral":         func() { ok = IsNeutral(sink) },
		"Adjustment":        func() { sink = Adjustment(sink, 1) },
		"ApplyAdjustment":   func() { sink = ApplyAdjustment(sink, 1) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
	_, _ = sink, ok
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint16(0), uint8(0))
	f.Add([]byte{0xff}, uint16(0xffff), uint8(1))
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint16(0), uint8(0))
	f.Add(make([]byte, 200), uint16(0x1234), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, initial uint16, off uint8) {
		if int(off) > len(b) {
			off = uint8(len(b))
		}
		b = b[off:]
		want := reference(b, initial)
		if got := Checksum(b, initial); got != want {
			t.Fatalf("Checksum(%x, %#04x) = %#04x, want %#04x", b, initial, got, want)
		}
		if got := Combine(fold(sumGeneric(b)), initial); got != want {
			t.Fatalf("generic(%x, %#04x) = %#04x, want %#04x", b, initial, got, want)
		}
	})
}

var benchSizes = []int{20, 40, 64, 576, 1280, 1500, 9000, 65535}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range benchSizes {
		buf := make([]byte, n)
		rand.New(rand.NewSource(int64(n))).Read(buf)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var s uint16
			for i := 0; i < b.N; i++ {
				s = Checksum(buf, s)
			}
			sinkBench = s
		})
	}
}

func BenchmarkChecksumGeneric(b *testing.B) {
	for _, n := range benchSizes {
		buf := make([]byte, n)
		rand.New(rand.NewSource(int64(n))).Read(buf)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var s uint16
			for i := 0; i < b.N; i++ {
				s = Combine(fold(sumGeneric(buf)), s)
			}
			sinkBench = s
		})
	}
}

var sinkBench uint16

func sizeName(n int) string {
	return "size=" + strconv.Itoa(n)
}

// TestWordSum holds WordSum to the naive sum of the same 16 bytes, at the
// words where folding carries most and at random ones.
func TestWordSum(t *testing.T) {
	edges := []uint64{0, 1, 0xffff, 0xffffffff, 0xffff_0000_ffff_0000, 0x8000_8000_8000_8000, ^uint64(0) - 1, ^uint64(0)}
	rng := rand.New(rand.NewSource(3))
	check := func(hi, lo uint64) {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], hi)
		binary.BigEndian.PutUint64(b[8:], lo)
		if got, want := WordSum(hi, lo), reference(b[:], 0); got != want {
			t.Fatalf("WordSum(%#x, %#x) = %#04x, want %#04x", hi, lo, got, want)
		}
	}
	for _, hi := range edges {
		for _, lo := range edges {
			check(hi, lo)
		}
	}
	for range 100000 {
		check(rng.Uint64(), rng.Uint64())
	}
}

// RFC 1624 §5 eqn. 4: a - b with end-around borrow, both ways round.
func TestSubBorrow(t *testing.T) {
	for _, tc := range []struct{ a, b, want uint16 }{
		{2, 1, 1},
		{1, 2, 0xfffe}, // -1: the borrow goes around
		{0, 0xffff, 0}, // 0 - (-0)
		{0x1234, 0x1234, 0},
		{0x0001, 0xffff, 1}, // 1 - (-0)
	} {
		if got := Sub(tc.a, tc.b); got != tc.want {
			t.Errorf("Sub(%#04x, %#04x) = %#04x, want %#04x", tc.a, tc.b, got, tc.want)
		}
		// What Sub returns, added back, gives a again (up to the sign of zero).
		if back := Combine(Sub(tc.a, tc.b), tc.b); back != tc.a && back != tc.a^0xffff {
			t.Errorf("Sub(%#04x, %#04x) + %#04x = %#04x", tc.a, tc.b, tc.b, back)
		}
	}
}
