package translate

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// The RFC 7915 Appendix A network: NSP 2001:db8:100::/40, H6 = 192.0.2.33,
// H4 = 198.51.100.2.
var (
	nsp    = MustParsePrefix("2001:db8:100::/40")
	h4     = netip.MustParseAddr("198.51.100.2")
	h6v4   = netip.MustParseAddr("192.0.2.33")
	h6     = netip.MustParseAddr("2001:db8:1c0:2:21::")
	h4v6   = netip.MustParseAddr("2001:db8:1c6:3364:2::")
	xlat4  = netip.MustParseAddr("198.51.100.1")
	xlat6  = netip.MustParseAddr("2001:db8:1c0:2:1::")
	abcd   = []byte("abcd")
	testCf = Config{Addr4: xlat4, Addr6: xlat6}
)

func newTestTranslator(t testing.TB, cfg Config) *Translator {
	t.Helper()
	x, err := New(cfg, &PrefixPolicy{Prefix: nsp})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// run translates pkt with f and returns a copy of the output.
func run(f func([]byte, int, int) Result, pkt []byte) ([]byte, Result) {
	buf := make([]byte, Headroom+len(pkt)+256)
	copy(buf[Headroom:], pkt)
	r := f(buf, Headroom, len(pkt))
	if r.Verdict == Drop {
		return nil, r
	}
	return append([]byte(nil), buf[r.Start:r.End]...), r
}

// CK-14 -> CK-17: the UDP datagram of checksum.md translated with the
// Appendix A NSP.
func TestUDP4to6Vector(t *testing.T) {
	x := newTestTranslator(t, testCf)
	udp := testpkt.UDP(h6v4, h4, 0x1234, 53, abcd)
	in := testpkt.IPv4{Src: h6v4, Dst: h4, DF: true, TTL: 64}.Packet(header.ProtoUDP, udp)
	if cs := binary.BigEndian.Uint16(in[26:]); cs != 0x3c4f {
		t.Fatalf("CK-15 fixture checksum %#04x", cs)
	}
	out, r := run(x.To6, in)
	if r.Verdict != Forward {
		t.Fatalf("verdict %v %v", r.Verdict, r.Reason)
	}
	ip := header.IPv6(out)
	if len(out) != 40+12 || ip.PayloadLen() != 12 || ip.NextHeader() != 17 || ip.HopLimit() != 63 || ip.FlowLabel() != 0 {
		t.Fatalf("bad IPv6 header % x", out[:40])
	}
	if ip.Src() != h6 || ip.Dst() != h4v6 {
		t.Errorf("addresses %v -> %v", ip.Src(), ip.Dst())
	}
	if cs := binary.BigEndian.Uint16(out[46:]); cs != 0x9625 {
		t.Errorf("CK-17 UDP checksum %#04x, want 0x9625", cs)
	}
	// And back: 6->4 restores the IPv4 datagram (TTL one lower again).
	back, r := run(x.To4, out)
	if r.Verdict != Forward {
		t.Fatalf("back: %v %v", r.Verdict, r.Reason)
	}
	want := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 62}.Packet(header.ProtoUDP, udp)
	if !bytes.Equal(back[20:], want[20:]) || header.IPv4(back).TTL() != 62 || !header.IPv4(back).ValidChecksum() {
		t.Errorf("round trip:\n got % x\nwant % x", back, want)
	}
}

// CK-18 -> CK-20: ICMP echo.
func TestEcho4to6Vector(t *testing.T) {
	x := newTestTranslator(t, testCf)
	echo := testpkt.Echo(h6v4, h4, header.ICMPv4EchoRequest, 1, 1, abcd)
	in := testpkt.IPv4{Src: h6v4, Dst: h4}.Packet(header.ProtoICMPv4, echo)
	out, r := run(x.To6, in)
	if r.Verdict != Forward {
		t.Fatalf("verdict %v %v", r.Verdict, r.Reason)
	}
	if out[6] != header.ProtoICMPv6 || out[40] != header.ICMPv6EchoRequest {
		t.Fatalf("not ICMPv6 echo: % x", out)
	}
	if cs := binary.BigEndian.Uint16(out[42:]); cs != 0x286f {
		t.Errorf("CK-20 checksum %#04x, want 0x286f", cs)
	}
	back, r := run(x.To4, out)
	if r.Verdict != Forward || back[9] != 1 || back[20] != 8 || !checksum.Verify(back[20:], 0) {
		t.Errorf("echo back: %v % x", r, back)
	}
}

// Derived case 1: IPv4 UDP, DF=0, 100 bytes, TTL 64.
func TestCase1Plain4to6(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv4{Src: h6v4, Dst: h4, TOS: 0xb8}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1, 2, make([]byte, 72)))
	out, r := run(x.To6, in)
	ip := header.IPv6(out)
	if r.Verdict != Forward || len(out) != 120 || ip.PayloadLen() != 80 || ip.HopLimit() != 63 || ip.TrafficClass() != 0xb8 || ip.NextHeader() != 17 {
		t.Errorf("case 1: %v % x", r, out[:40])
	}
}

// Derived case 2: TTL 1 -> Time Exceeded from the translator.
func TestCase2TimeExceeded(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd))
	out, r := run(x.To6, in)
	if r.Verdict != Reply || r.Reason != ReasonHopLimit {
		t.Fatalf("verdict %v %v", r.Verdict, r.Reason)
	}
	ip := header.IPv4(out)
	if ip.Src() != xlat4 || ip.Dst() != h4 || out[20] != 11 || out[21] != 0 || !ip.ValidChecksum() || !checksum.Verify(out[20:], 0) {
		t.Errorf("time exceeded: % x", out)
	}
	if !bytes.Equal(out[28:], in) {
		t.Error("quoted packet differs from the input")
	}
	if x.Stats().Reason(ReasonHopLimit) != 1 || x.Stats().Verdicts(Reply) != 1 {
		t.Error("not counted")
	}
}

// Derived case 3: an IPv4 fragment gets a Fragment header.
func TestCase3Fragment4to6(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv4{Src: h6v4, Dst: h4, ID: 0xabcd, MF: true}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1, 2, make([]byte, 16)))
	out, r := run(x.To6, in)
	if r.Verdict != Forward || header.IPv6(out).NextHeader() != header.ProtoFragment {
		t.Fatalf("%v % x", r, out)
	}
	fh := header.IPv6Fragment(out[40:])
	if fh.ID() != 0xabcd || !fh.More() || fh.Offset() != 0 || fh.NextHeader() != 17 || header.IPv6(out).PayloadLen() != uint16(8+8+16) {
		t.Errorf("fragment header % x", out[40:48])
	}
}

// Derived case 4: DF=0, 1500 bytes -> fragments of at most 1280.
func TestCase4Split(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv4{Src: h6v4, Dst: h4, ID: 7}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1, 2, make([]byte, 1472)))
	out, r := run(x.To6, in)
	if r.Verdict != Fragment || r.MTU != 1280 {
		t.Fatalf("%v", r)
	}
	frags := buffers(4, 1280)
	n := SplitIPv6(frags, out, r.MTU)
	if n != 2 {
		t.Fatalf("%d fragments", n)
	}
	total := 0
	for i, f := range frags[:n] {
		if len(f) > 1280 {
			t.Errorf("fragment %d is %d bytes", i, len(f))
		}
		fh := header.IPv6Fragment(f[40:])
		if fh.ID() != 7 || fh.More() != (i == 0) {
			t.Errorf("fragment %d header % x", i, f[40:48])
		}
		total += len(f) - 48
	}
	if total != 1480 {
		t.Errorf("payload bytes %d, want 1480", total)
	}
}

// Derived case 5: DF=1, 1500 bytes, IPv6 MTU 1280 -> Fragmentation Needed 1260.
func TestCase5FragNeeded(t *testing.T) {
	cfg := testCf
	cfg.IPv6MTU = 1280
	x := newTestTranslator(t, cfg)
	in := testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, make([]byte, 1472)))
	out, r := run(x.To6, in)
	if r.Verdict != Reply || out[20] != 3 || out[21] != 4 || binary.BigEndian.Uint16(out[26:]) != 1260 || len(out) != 576 {
		t.Errorf("%v % x", r, out[:28])
	}
}

// Derived case 6: an unexpired LSRR option -> Source Route Failed.
func TestCase6SourceRoute(t *testing.T) {
	x := newTestTranslator(t, testCf)
	lsrr := []byte{131, 7, 4, 192, 0, 2, 1, 0} // pointer 4 <= length 7: unexpired
	in := testpkt.IPv4{Src: h4, Dst: h6v4, Options: lsrr}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd))
	out, r := run(x.To6, in)
	if r.Verdict != Reply || r.Reason != ReasonSourceRoute || out[20] != 3 || out[21] != 5 {
		t.Errorf("%v % x", r, out)
	}
	// Expired (pointer past the end): translated, options dropped.
	lsrr[2] = 8
	in = testpkt.IPv4{Src: h4, Dst: h6v4, Options: lsrr}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd))
	out, r = run(x.To6, in)
	if r.Verdict != Forward || len(out) != 40+12 {
		t.Errorf("expired route: %v %d bytes", r, len(out))
	}
}

// Derived case 9: Routing header with Segments Left 2 -> Parameter Problem
// pointing at offset 43.
func TestCase9RoutingHeader(t *testing.T) {
	x := newTestTranslator(t, testCf)
	rh := []byte{header.ProtoUDP, 0, 0, 2, 0, 0, 0, 0}
	in := testpkt.IPv6{Src: h6, Dst: h4v6, Ext: rh, ExtNH: header.ProtoRouting}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, abcd))
	out, r := run(x.To4, in)
	if r.Verdict != Reply || out[40] != 4 || out[41] != 0 || binary.BigEndian.Uint32(out[44:]) != 43 {
		t.Errorf("%v % x", r, out[:48])
	}
	// Segments Left 0 is skipped.
	rh[3] = 0
	in = testpkt.IPv6{Src: h6, Dst: h4v6, Ext: rh, ExtNH: header.ProtoRouting}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, abcd))
	out, r = run(x.To4, in)
	if r.Verdict != Forward || len(out) != 20+12 || out[9] != 17 || binary.BigEndian.Uint16(out[2:]) != 32 {
		t.Errorf("SL 0: %v % x", r, out)
	}
}

// Derived case 10: DF only above 1260 bytes.
func TestCase10DF(t *testing.T) {
	x := newTestTranslator(t, testCf)
	for _, tc := range []struct {
		size int
		df   bool
	}{{1240, false}, {1280, false}, {1281, true}, {1300, true}} {
		in := testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, tc.size-48)))
		out, r := run(x.To4, in)
		if r.Verdict != Forward || len(out) != tc.size-20 || header.IPv4(out).DF() != tc.df {
			t.Errorf("size %d: %v len %d DF %v", tc.size, r, len(out), header.IPv4(out).DF())
		}
	}
}

// Derived case 11: IPv6 fragment -> IPv4 fragment with the low ID bits.
func TestCase11Fragment6to4(t *testing.T) {
	x := newTestTranslator(t, testCf)
	in := testpkt.IPv6{Src: h6, Dst: h4v6, Frag: true, FragID: 0x12345678, FragMore: true}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, 16)))
	out, r := run(x.To4, in)
	ip := header.IPv4(out)
	if r.Verdict != Forward || ip.ID() != 0x5678 || ip.DF() || !ip.MF() || ip.TotalLen() != 20+24 {
		t.Errorf("%v % x", r, out[:20])
	}
}

// Derived cases 12, 13 and 8: ICMP errors both ways.
func TestICMPErrors(t *testing.T) {
	x := newTestTranslator(t, testCf)
	// An IPv4 packet H4 sent to H6 and an error about it from H6.
	quoted6 := testpkt.IPv6{Src: h4v6, Dst: h6}.Packet(header.ProtoUDP, testpkt.UDP(h4v6, h6, 53, 0x1234, abcd))
	mkErr6 := func(typ, code uint8, rest uint32) []byte {
		return testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoICMPv6, testpkt.ICMPError(h6, h4v6, typ, code, rest, quoted6))
	}
	for _, tc := range []struct {
		typ, code uint8
		rest      uint32
		t4, c4    uint8
		rest4     uint32
		drop      bool
	}{
		{2, 0, 1280, 3, 4, 1260, false},  // case 12
		{1, 4, 0, 3, 3, 0, false},        // case 13
		{4, 1, 6, 3, 2, 0, false},        // case 13
		{1, 7, 0, 0, 0, 0, true},         // case 13
		{4, 0, 6, 12, 0, 9 << 24, false}, // pointer 6 -> 9
		{4, 0, 2, 0, 0, 0, true},         // flow label pointer -> drop
	} {
		out, r := run(x.To4, mkErr6(tc.typ, tc.code, tc.rest))
		if tc.drop {
			if r.Verdict != Drop {
				t.Errorf("%d/%d not dropped", tc.typ, tc.code)
			}
			continue
		}
		if r.Verdict != Forward || out[20] != tc.t4 || out[21] != tc.c4 || binary.BigEndian.Uint32(out[24:]) != tc.rest4 {
			t.Errorf("%d/%d -> %v % x", tc.typ, tc.code, r, out[20:28])
			continue
		}
		if !checksum.Verify(out[20:], 0) || !header.IPv4(out).ValidChecksum() {
			t.Errorf("%d/%d: checksums do not verify", tc.typ, tc.code)
		}
		q := header.IPv4(out[28:])
		if q.Src() != h4 || q.Dst() != h6v4 || q.TTL() != 64 || q.TotalLen() != 32 {
			t.Errorf("%d/%d quoted header % x", tc.typ, tc.code, out[28:48])
		}
		// The quoted UDP checksum was updated for the new addresses.
		if !checksum.Verify(out[48:], checksum.PseudoHeader4(h4, h6v4, 17, 12)) {
			t.Errorf("%d/%d quoted UDP checksum not updated", tc.typ, tc.code)
		}
	}

	// Case 8: ICMPv4 3/2 -> ICMPv6 4/1 pointer 6; 12/0 pointer 9 -> 4/0
	// pointer 6; pointer 5 -> dropped.
	quoted4 := testpkt.IPv4{Src: h6v4, Dst: h4}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 0x1234, 53, abcd))
	mkErr4 := func(typ, code uint8, rest uint32) []byte {
		return testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(header.ProtoICMPv4, testpkt.ICMPError(h4, h6v4, typ, code, rest, quoted4))
	}
	for _, tc := range []struct {
		typ, code uint8
		rest      uint32
		t6, c6    uint8
		rest6     uint32
		drop      bool
	}{
		{3, 2, 0, 4, 1, 6, false},
		{12, 0, 9 << 24, 4, 0, 6, false},
		{12, 0, 5 << 24, 0, 0, 0, true},
		{3, 4, 1400, 2, 0, 1420, false},
		{11, 0, 0, 3, 0, 0, false},
	} {
		out, r := run(x.To6, mkErr4(tc.typ, tc.code, tc.rest))
		if tc.drop {
			if r.Verdict != Drop {
				t.Errorf("%d/%d not dropped", tc.typ, tc.code)
			}
			continue
		}
		if r.Verdict != Forward || out[40] != tc.t6 || out[41] != tc.c6 || binary.BigEndian.Uint32(out[44:]) != tc.rest6 {
			t.Errorf("%d/%d -> %v % x", tc.typ, tc.code, r, out[40:48])
			continue
		}
		ip := header.IPv6(out)
		if !checksum.Verify(out[40:], ip.PseudoHeaderSum(58, len(out)-40)) {
			t.Errorf("%d/%d ICMPv6 checksum", tc.typ, tc.code)
		}
		q := header.IPv6(out[48:])
		if q.Src() != h6 || q.Dst() != h4v6 || q.HopLimit() != 64 || q.PayloadLen() != 12 {
			t.Errorf("%d/%d quoted % x", tc.typ, tc.code, out[48:88])
		}
		if !checksum.Verify(out[88:], q.PseudoHeaderSum(17, 12)) {
			t.Errorf("%d/%d quoted UDP checksum not updated", tc.typ, tc.code)
		}
	}
}

// Derived case 14: UDP checksum 0.
func TestCase14UDPChecksumZero(t *testing.T) {
	udp := testpkt.UDP(h4, h6v4, 1, 2, abcd)
	udp[6], udp[7] = 0, 0
	in := testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(header.ProtoUDP, udp)
	x := newTestTranslator(t, testCf)
	out, r := run(x.To6, in)
	if r.Verdict != Reply || r.Reason != ReasonUDPChecksumZero || out[20] != 3 || out[21] != 13 {
		t.Errorf("refuse: %v % x", r, out)
	}
	cfg := testCf
	cfg.AmendUDPChecksumZero = true
	x = newTestTranslator(t, cfg)
	out, r = run(x.To6, in)
	if r.Verdict != Forward || binary.BigEndian.Uint16(out[46:]) == 0 || !checksum.Verify(out[40:], header.IPv6(out).PseudoHeaderSum(17, 12)) {
		t.Errorf("amend: %v % x", r, out)
	}
}

func TestMTUVectors(t *testing.T) {
	for _, tc := range []struct {
		id           string
		mtu4, inner  uint16
		v6mtu, v4mtu int
		want         uint32
	}{
		{"7915-M1", 1400, 1500, 1500, 1500, 1420},
		{"7915-M2", 1000, 1500, 1500, 1500, 1280},
		{"7915-M3", 1492, 1500, 1500, 1500, 1500},
		{"7915-M4", 0, 1500, 9000, 9000, 1512},
		{"7915-M5", 0, 1400, 9000, 9000, 1280},
		{"7915-M6", 0, 4000, 9000, 9000, 2022},
	} {
		c, _ := Config{IPv6MTU: tc.v6mtu, IPv4MTU: tc.v4mtu}.compile()
		if got := c.mtu4to6(tc.mtu4, tc.inner); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.id, got, tc.want)
		}
	}
	for _, tc := range []struct {
		id           string
		mtu6         uint32
		v4mtu, v6mtu int
		want         uint16
	}{
		{"7915-P1", 1280, 1500, 1500, 1260},
		{"7915-P2", 1500, 1500, 1500, 1480},
		{"7915-P3", 1400, 1300, 9000, 1300},
	} {
		c, _ := Config{IPv6MTU: tc.v6mtu, IPv4MTU: tc.v4mtu}.compile()
		if got := c.mtu6to4(tc.mtu6); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.id, got, tc.want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{LowestIPv6MTU: 1000},
		{IPv4MTU: 20},
		{IPv6MTU: 1000},
		{Addr4: xlat6},
		{Addr6: xlat4},
		{MTUPlateaus: []uint16{1500, 0}},
	} {
		if _, err := New(c, &PrefixPolicy{Prefix: nsp}); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("nil policy accepted")
	}
}

func TestMalformedDropped(t *testing.T) {
	x := newTestTranslator(t, testCf)
	good4 := testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd))
	good6 := testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, abcd))
	for i := 0; i < len(good4); i++ {
		if _, r := run(x.To6, good4[:i]); r.Verdict != Drop {
			t.Errorf("4->6 truncated to %d: %v", i, r)
		}
	}
	for i := 0; i < len(good6); i++ {
		if _, r := run(x.To4, good6[:i]); r.Verdict != Drop {
			t.Errorf("6->4 truncated to %d: %v", i, r)
		}
	}
	bad := append([]byte(nil), good4...)
	bad[10] ^= 1
	if _, r := run(x.To6, bad); r.Reason != ReasonBadChecksum {
		t.Errorf("bad header checksum: %v", r)
	}
	if r := x.To6(good4, 10, 100); r.Verdict != Drop {
		t.Error("out-of-bounds slice accepted")
	}
}

// A deliberately wrong TCP checksum stays wrong by the same amount.
func TestWrongChecksumStaysWrong(t *testing.T) {
	x := newTestTranslator(t, testCf)
	tcp := testpkt.TCP(h6, h4v6, 1000, 80, header.TCPFlagSYN, abcd)
	binary.BigEndian.PutUint16(tcp[16:], checksum.Combine(binary.BigEndian.Uint16(tcp[16:]), 0x1234))
	in := testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoTCP, tcp)
	out, r := run(x.To4, in)
	if r.Verdict != Forward {
		t.Fatal(r)
	}
	if checksum.Verify(out[20:], checksum.PseudoHeader4(h6v4, h4, 6, uint16(len(out)-20))) {
		t.Error("a wrong checksum became right")
	}
	binary.BigEndian.PutUint16(out[36:], checksum.Sub(binary.BigEndian.Uint16(out[36:]), 0x1234))
	if !checksum.Verify(out[20:], checksum.PseudoHeader4(h6v4, h4, 6, uint16(len(out)-20))) {
		t.Error("the error was not carried over unchanged")
	}
}

func TestZeroAllocs(t *testing.T) {
	x := newTestTranslator(t, testCf)
	cases := map[string]struct {
		pkt []byte
		f   func([]byte, int, int) Result
	}{
		"tcp 6->4":   {testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(6, testpkt.TCP(h6, h4v6, 1, 2, header.TCPFlagACK, make([]byte, 100))), x.To4},
		"udp 6->4":   {testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(17, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, 100))), x.To4},
		"echo 6->4":  {testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(58, testpkt.Echo(h6, h4v6, 128, 1, 1, abcd)), x.To4},
		"tcp 4->6":   {testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(6, testpkt.TCP(h4, h6v4, 1, 2, header.TCPFlagACK, make([]byte, 100))), x.To6},
		"udp 4->6":   {testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(17, testpkt.UDP(h4, h6v4, 1, 2, make([]byte, 100))), x.To6},
		"echo 4->6":  {testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(1, testpkt.Echo(h4, h6v4, 8, 1, 1, abcd)), x.To6},
		"error 6->4": {icmpError6(), x.To4},
		"error 4->6": {icmpError4(), x.To6},
	}
	for name, tc := range cases {
		buf := make([]byte, Headroom+len(tc.pkt)+64)
		allocs := testing.AllocsPerRun(100, func() {
			copy(buf[Headroom:], tc.pkt)
			if r := tc.f(buf, Headroom, len(tc.pkt)); r.Verdict != Forward {
				t.Fatalf("%s: %v %v", name, r.Verdict, r.Reason)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per packet", name, allocs)
		}
	}
}

func icmpError6() []byte {
	q := testpkt.IPv6{Src: h4v6, Dst: h6}.Packet(17, testpkt.UDP(h4v6, h6, 53, 1, make([]byte, 64)))
	return testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(58, testpkt.ICMPError(h6, h4v6, 1, 4, 0, q))
}

func icmpError4() []byte {
	q := testpkt.IPv4{Src: h6v4, Dst: h4}.Packet(17, testpkt.UDP(h6v4, h4, 1, 53, make([]byte, 64)))
	return testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(1, testpkt.ICMPError(h4, h6v4, 3, 3, 0, q))
}

// sixPolicy breaks the Policy contract: its To4 (or only its Error4)
// answers with an IPv6 address on one side.
type sixPolicy struct {
	PrefixPolicy
	side     int  // 1: source, 2: destination
	errsOnly bool // To4 keeps the contract, Error4 breaks it
}

func (p *sixPolicy) wrong(src, dst, s, d netip.Addr) (netip.Addr, netip.Addr) {
	if p.side == 1 {
		return src, d
	}
	return s, dst
}

func (p *sixPolicy) To4(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	s, d, ps, r := p.PrefixPolicy.To4(src, dst, ports, m)
	if !p.errsOnly {
		s, d = p.wrong(src, dst, s, d)
	}
	return s, d, ps, r
}

func (p *sixPolicy) Error4(src, dst, qsrc, qdst netip.Addr, m Meta) (netip.Addr, netip.Addr, Reason) {
	s, d, r := p.PrefixPolicy.Error4(src, dst, qsrc, qdst, m)
	s, d = p.wrong(src, dst, s, d)
	return s, d, r
}

// A policy whose To4 or Error4 gives IPv6 addresses has its packets
// refused, named by the side it got wrong, instead of the header being
// written from them (or As4 panicking).
func TestPolicyGivingIPv6To4(t *testing.T) {
	for _, errsOnly := range []bool{false, true} {
		for side, want := range map[int]Reason{1: ReasonUntranslatableSrc, 2: ReasonUntranslatableDst} {
			x, err := New(Config{}, &sixPolicy{PrefixPolicy{Prefix: nsp}, side, errsOnly})
			if err != nil {
				t.Fatal(err)
			}
			pkts := map[string][]byte{"error": icmpError6()}
			if !errsOnly {
				pkts["udp"] = benchPackets(64)["udp/6to4"]
			}
			for name, pkt := range pkts {
				if _, r := run(x.To4, pkt); r.Verdict == Forward || r.Reason != want {
					t.Errorf("%s, side %d, errors only %v: %v %v, want refused with %v", name, side, errsOnly, r.Verdict, r.Reason, want)
				}
			}
		}
	}
}

// AppendTo4 and AppendTo6 give what in-place translation gives, appended
// after what dst held, and leave the input as it was; a drop appends
// nothing.
func TestAppendCopies(t *testing.T) {
	udp6 := testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, abcd))
	cases := []struct {
		name string
		in   []byte
		to4  bool
		v    Verdict
	}{
		{"6to4 forward", udp6, true, Forward},
		{"4to6 forward", testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd)), false, Forward},
		{"4to6 reply", testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd)), false, Reply},
		{"6to4 drop", udp6[:30], true, Drop},
	}
	for _, tc := range cases {
		// Two translators, so that both number their IPv4 packets alike.
		x, y := newTestTranslator(t, testCf), newTestTranslator(t, testCf)
		f, app := x.To6, y.AppendTo6
		if tc.to4 {
			f, app = x.To4, y.AppendTo4
		}
		want, wr := run(f, tc.in)
		orig := bytes.Clone(tc.in)
		prefix := []byte("held")
		got, r := app(bytes.Clone(prefix), tc.in)
		if !bytes.Equal(tc.in, orig) {
			t.Errorf("%s: the input changed", tc.name)
		}
		if r.Outcome != wr.Outcome || r.Verdict != tc.v || !bytes.Equal(got[:len(prefix)], prefix) {
			t.Errorf("%s: %v, want %v (%v); dst now starts % x", tc.name, r.Outcome, wr.Outcome, tc.v, got[:min(len(got), len(prefix))])
			continue
		}
		if wr.Verdict == Drop {
			if len(got) != len(prefix) {
				t.Errorf("%s: a drop appended %d bytes", tc.name, len(got)-len(prefix))
			}
			continue
		}
		if !bytes.Equal(r.Packet(got), want) || r.End != len(got) {
			t.Errorf("%s: appended\n% x\nwant\n% x", tc.name, r.Packet(got), want)
		}
	}
}
