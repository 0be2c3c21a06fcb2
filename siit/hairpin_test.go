package siit

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

var (
	wkp     = translate.WellKnownPrefix
	hostA   = netip.MustParseAddr("2001:db8:aaaa::")
	hostB   = netip.MustParseAddr("2001:db8:bbbb::b")
	router6 = netip.MustParseAddr("2001:db8::1234")
	mustA   = netip.MustParseAddr
)

func hairpinTranslator(t *testing.T, mode HairpinMode) *Translator {
	t.Helper()
	x, err := New(Config{
		Pool6: wkp, EAMT: figure1, HairpinMode: mode, AllowNonGlobalWKP: true,
		RFC6791v4: netip.MustParsePrefix("198.51.100.1/32"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func xlate(t *testing.T, f func([]byte, int, int) translate.Result, pkt []byte) []byte {
	t.Helper()
	buf := make([]byte, translate.Headroom+len(pkt)+128)
	copy(buf[translate.Headroom:], pkt)
	r := f(buf, translate.Headroom, len(pkt))
	if r.Verdict != translate.Forward {
		t.Fatalf("verdict %v, reason %v", r.Verdict, r.Reason)
	}
	return append([]byte(nil), r.Packet(buf)...)
}

func wantAddrs(t *testing.T, id string, p []byte, src, dst string) {
	t.Helper()
	var s, d netip.Addr
	if p[0]>>4 == 6 {
		s, d = header.IPv6(p).Src(), header.IPv6(p).Dst()
	} else {
		s, d = header.IPv4(p).Src(), header.IPv4(p).Dst()
	}
	if s != mustA(src) || d != mustA(dst) {
		t.Errorf("%s: %v -> %v, want %s -> %s", id, s, d, src, dst)
	}
}

// icmp6Error builds an ICMPv6 error from src to dst quoting a packet
// qsrc -> qdst.
func icmp6Error(src, dst, qsrc, qdst netip.Addr) []byte {
	q := testpkt.IPv6{Src: qsrc, Dst: qdst}.Packet(17, testpkt.UDP(qsrc, qdst, 1, 2, []byte("abcd")))
	return testpkt.IPv6{Src: src, Dst: dst}.Packet(58, testpkt.ICMPError(src, dst, 1, 0, 0, q))
}

// RFC 7757 Appendix B.1, intrinsic mode: each vector's final stage comes
// out of one To4 call.
func TestHairpinIntrinsic(t *testing.T) {
	x := hairpinTranslator(t, HairpinIntrinsic)
	// H1: a normal packet to another EAM host through pool6.
	in := testpkt.IPv6{Src: hostA, Dst: wkp.Embed(mustA("192.0.2.2")), HopLimit: 10}.Packet(17, testpkt.UDP(hostA, wkp.Embed(mustA("192.0.2.2")), 1, 2, []byte("abcd")))
	out := xlate(t, x.To4, in)
	wantAddrs(t, "7757-H1", out, "64:ff9b::192.0.2.1", "2001:db8:bbbb::b")
	if header.IPv6(out).HopLimit() != 9 {
		t.Errorf("7757-H1: hop limit %d, want 9 (decremented once)", header.IPv6(out).HopLimit())
	}
	if !checksum.Verify(out[40:], header.IPv6(out).PseudoHeaderSum(17, len(out)-40)) {
		t.Error("7757-H1: UDP checksum")
	}
	// H4: the response.
	in = testpkt.IPv6{Src: hostB, Dst: wkp.Embed(mustA("192.0.2.1"))}.Packet(17, testpkt.UDP(hostB, wkp.Embed(mustA("192.0.2.1")), 2, 1, []byte("abcd")))
	wantAddrs(t, "7757-H4", xlate(t, x.To4, in), "64:ff9b::192.0.2.2", "2001:db8:aaaa::")

	// H2: a router's error about H1's final packet.
	in = icmp6Error(router6, wkp.Embed(mustA("192.0.2.1")), wkp.Embed(mustA("192.0.2.1")), hostB)
	out = xlate(t, x.To4, in)
	wantAddrs(t, "7757-H2 outer", out, "64:ff9b::198.51.100.1", "2001:db8:aaaa::")
	wantAddrs(t, "7757-H2 inner", out[48:], "2001:db8:aaaa::", "64:ff9b::192.0.2.2")
	// H3: the host's own error.
	in = icmp6Error(hostB, wkp.Embed(mustA("192.0.2.1")), wkp.Embed(mustA("192.0.2.1")), hostB)
	out = xlate(t, x.To4, in)
	wantAddrs(t, "7757-H3 outer", out, "64:ff9b::192.0.2.2", "2001:db8:aaaa::")
	wantAddrs(t, "7757-H3 inner", out[48:], "2001:db8:aaaa::", "64:ff9b::192.0.2.2")
	if !checksum.Verify(out[40:], header.IPv6(out).PseudoHeaderSum(58, len(out)-40)) {
		t.Error("7757-H3: ICMPv6 checksum")
	}
}

// Simple mode: the intermediate IPv4 packet leaves, comes back, and the
// second translation applies §4.2.1.
func TestHairpinSimple(t *testing.T) {
	x := hairpinTranslator(t, HairpinSimple)
	dst := wkp.Embed(mustA("192.0.2.2"))
	mid := xlate(t, x.To4, testpkt.IPv6{Src: hostA, Dst: dst}.Packet(17, testpkt.UDP(hostA, dst, 1, 2, nil)))
	wantAddrs(t, "7757-H1 intermediate", mid, "192.0.2.1", "192.0.2.2")
	wantAddrs(t, "7757-H1 final", xlate(t, x.To6, mid), "64:ff9b::192.0.2.1", "2001:db8:bbbb::b")

	in := icmp6Error(router6, wkp.Embed(mustA("192.0.2.1")), wkp.Embed(mustA("192.0.2.1")), hostB)
	mid = xlate(t, x.To4, in)
	wantAddrs(t, "7757-H2 intermediate", mid, "198.51.100.1", "192.0.2.1")
	wantAddrs(t, "7757-H2 intermediate inner", mid[28:], "192.0.2.1", "192.0.2.2")
	out := xlate(t, x.To6, mid)
	wantAddrs(t, "7757-H2 final", out, "64:ff9b::198.51.100.1", "2001:db8:aaaa::")
	wantAddrs(t, "7757-H2 final inner", out[48:], "2001:db8:aaaa::", "64:ff9b::192.0.2.2")

	in = icmp6Error(hostB, wkp.Embed(mustA("192.0.2.1")), wkp.Embed(mustA("192.0.2.1")), hostB)
	mid = xlate(t, x.To4, in)
	wantAddrs(t, "7757-H3 intermediate", mid, "192.0.2.2", "192.0.2.1")
	out = xlate(t, x.To6, mid)
	wantAddrs(t, "7757-H3 final", out, "64:ff9b::192.0.2.2", "2001:db8:aaaa::")
	wantAddrs(t, "7757-H3 final inner", out[48:], "2001:db8:aaaa::", "64:ff9b::192.0.2.2")
}

// With hairpinning off the packet leaves as IPv4 and EAM applies to every
// address.
func TestHairpinOff(t *testing.T) {
	x := hairpinTranslator(t, HairpinOff)
	dst := wkp.Embed(mustA("192.0.2.2"))
	mid := xlate(t, x.To4, testpkt.IPv6{Src: hostA, Dst: dst}.Packet(17, testpkt.UDP(hostA, dst, 1, 2, nil)))
	if mid[0]>>4 != 4 {
		t.Fatal("hairpinned with mode off")
	}
	wantAddrs(t, "off", xlate(t, x.To6, mid), "2001:db8:aaaa::", "2001:db8:bbbb::b")
}

// CLAT (RFC 6877, RFC 7757 Appendix A.1): the host's IPv4 address maps to
// one IPv6 address, everything else goes through the provider's NAT64
// prefix.
func TestCLAT(t *testing.T) {
	host4, clat6 := mustA("192.0.0.1"), mustA("2001:db8:c1a7::1")
	x, err := New(CLAT(host4, clat6, wkp))
	if err != nil {
		t.Fatal(err)
	}
	server := mustA("8.8.4.4") // a global address: the WKP may carry it
	out := xlate(t, x.To6, testpkt.IPv4{Src: host4, Dst: server}.Packet(6, testpkt.TCP(host4, server, 40000, 443, header.TCPFlagSYN, nil)))
	wantAddrs(t, "CLAT 4->6", out, "2001:db8:c1a7::1", "64:ff9b::8.8.4.4")
	if !checksum.Verify(out[40:], header.IPv6(out).PseudoHeaderSum(6, len(out)-40)) {
		t.Error("CLAT: TCP checksum")
	}
	back := xlate(t, x.To4, testpkt.IPv6{Src: wkp.Embed(server), Dst: clat6}.Packet(6, testpkt.TCP(wkp.Embed(server), clat6, 443, 40000, header.TCPFlagSYN|header.TCPFlagACK, nil)))
	wantAddrs(t, "CLAT 6->4", back, "8.8.4.4", "192.0.0.1")
	// The well-known prefix still refuses non-global destinations.
	priv := mustA("10.1.1.1")
	buf := make([]byte, 256)
	pkt := testpkt.IPv4{Src: host4, Dst: priv}.Packet(17, testpkt.UDP(host4, priv, 1, 2, nil))
	copy(buf[translate.Headroom:], pkt)
	if r := x.To6(buf, translate.Headroom, len(pkt)); r.Verdict != translate.Drop || r.Reason != translate.ReasonUntranslatableDst {
		t.Errorf("CLAT to a private address through the WKP: %v %v", r.Verdict, r.Reason)
	}
}

// NAT46 / SIIT-DC (RFC 7755, RFC 7757 Appendix A.3): IPv4 clients reach an
// IPv6-only server through its EAM entry; clients appear under pool6.
func TestNAT46(t *testing.T) {
	x, err := New(Config{
		Pool6: translate.MustParsePrefix("2001:db8:46::/96"),
		EAMT:  []EAM{eam("203.0.113.1", "2001:db8:aaaa::1"), eam("203.0.113.2", "2001:db8:bbbb::1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	client, vip := mustA("198.51.100.7"), mustA("203.0.113.1")
	out := xlate(t, x.To6, testpkt.IPv4{Src: client, Dst: vip}.Packet(6, testpkt.TCP(client, vip, 50000, 80, header.TCPFlagSYN, nil)))
	wantAddrs(t, "NAT46 request", out, "2001:db8:46::c633:6407", "2001:db8:aaaa::1")
	if binary.BigEndian.Uint16(out[42:]) != 80 {
		t.Error("ports changed")
	}
	reply := xlate(t, x.To4, testpkt.IPv6{Src: mustA("2001:db8:aaaa::1"), Dst: mustA("2001:db8:46::c633:6407")}.Packet(6,
		testpkt.TCP(mustA("2001:db8:aaaa::1"), mustA("2001:db8:46::c633:6407"), 80, 50000, header.TCPFlagSYN|header.TCPFlagACK, nil)))
	wantAddrs(t, "NAT46 reply", reply, "203.0.113.1", "198.51.100.7")
}

// To4Mapped, handed the destination's Map6 mapping, writes the same bytes
// as To4 in every hairpinning mode: the hairpin vectors of RFC 7757
// Appendix B (a mapping from pool6, one from the EAMT, errors whose
// quoted source decides) and a packet to an EAM host.
func TestTo4MappedIsTo4(t *testing.T) {
	pkts := map[string][]byte{
		"H1 (pool6)": testpkt.IPv6{Src: hostA, Dst: wkp.Embed(mustA("192.0.2.2")), HopLimit: 10}.Packet(17, testpkt.UDP(hostA, wkp.Embed(mustA("192.0.2.2")), 1, 2, []byte("abcd"))),
		"to an EAM":  testpkt.IPv6{Src: hostB, Dst: hostA, HopLimit: 10}.Packet(17, testpkt.UDP(hostB, hostA, 2, 1, []byte("abcd"))),
		"H2 (error)": icmp6Error(router6, wkp.Embed(mustA("192.0.2.1")), wkp.Embed(mustA("192.0.2.1")), hostB),
		"H3 (error)": icmp6Error(hostB, wkp.Embed(mustA("192.0.2.1")), wkp.Embed(mustA("192.0.2.1")), hostB),
	}
	for _, mode := range []HairpinMode{HairpinIntrinsic, HairpinSimple, HairpinOff} {
		for name, pkt := range pkts {
			x := hairpinTranslator(t, mode)
			want := xlate(t, x.To4, pkt)
			m, ok := x.Map6(header.IPv6(pkt).Dst())
			if !ok {
				t.Fatalf("%s %s: Map6 refused %v", mode, name, header.IPv6(pkt).Dst())
			}
			got := xlate(t, func(b []byte, off, n int) translate.Result { return x.To4Mapped(b, off, n, m) }, pkt)
			// The IPv4 Identification is drawn afresh for each packet.
			if got[0]>>4 == 4 && want[0]>>4 == 4 {
				for _, p := range [][]byte{got, want} {
					copy(p[4:6], []byte{0, 0})
					header.IPv4(p).SetChecksum(0)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s: To4Mapped\n% x\nTo4\n% x", mode, name, got, want)
			}
		}
	}
}
