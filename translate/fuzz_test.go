package translate

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// checkOutput asserts what every output must satisfy: it lies inside the
// buffer, parses as a packet of the right family whose length fields agree
// with its size, and its IPv4 header checksum verifies.
func checkOutput(t *testing.T, buf []byte, r Result) {
	t.Helper()
	if r.Verdict == Drop {
		return
	}
	if r.Start < 0 || r.End > len(buf) || r.Start > r.End {
		t.Fatalf("result %+v outside a %d-byte buffer", r, len(buf))
	}
	if err := testpkt.WellFormed(buf[r.Start:r.End]); err != nil {
		t.Fatal(err)
	}
}

// transportValid reports whether the packet's TCP/UDP/ICMP checksum
// verifies, and whether that could be judged at all (not for fragments or
// other protocols).
func transportValid(p []byte) (valid, judged bool) {
	valid = transportCheck(p, &judged)
	return valid, judged
}

func transportCheck(p []byte, judged *bool) bool {
	switch p[0] >> 4 {
	case 4:
		ip := header.IPv4(p)
		if !ip.Valid() || ip.IsFragment() || header.IsExtension(ip.Protocol()) {
			// RFC 7915 §4.1 copies the protocol even when IPv6 reads it as
			// an extension header; such packets cannot be judged.
			return true
		}
		l4 := p[ip.HeaderLen():ip.TotalLen()]
		switch ip.Protocol() {
		case header.ProtoTCP:
			*judged = true
			return checksum.Verify(l4, ip.PseudoHeaderSum(6, len(l4)))
		case header.ProtoUDP:
			if len(l4) >= 8 && (l4[6] != 0 || l4[7] != 0) {
				*judged = true
				return checksum.Verify(l4, ip.PseudoHeaderSum(17, len(l4)))
			}
		case header.ProtoICMPv4:
			*judged = true
			return checksum.Verify(l4, 0)
		}
	case 6:
		ip := header.IPv6(p)
		if !ip.Valid() {
			return true
		}
		var in info6
		if parse6(p[:40+int(ip.PayloadLen())], &in) != ReasonNone || in.fragmented() {
			return true
		}
		l4 := p[in.l4off : 40+int(ip.PayloadLen())]
		switch in.proto {
		case header.ProtoTCP, header.ProtoUDP, header.ProtoICMPv6:
			*judged = true
			return checksum.Verify(l4, ip.PseudoHeaderSum(in.proto, len(l4)))
		}
	}
	return true
}

// normalizeTCP returns p with a TCP checksum of -0 (0xffff) written as +0:
// RFC 1624 eqn. 3 may turn one into the other, and both verify alike.
func normalizeTCP(p []byte, l4 int) []byte {
	proto := p[9]
	if p[0]>>4 == 6 {
		proto = p[6]
	}
	if proto != header.ProtoTCP || len(p) < l4+18 || p[l4+16] != 0xff || p[l4+17] != 0xff {
		return p
	}
	q := append([]byte(nil), p...)
	q[l4+16], q[l4+17] = 0, 0
	return q
}

// clampedLike is want with its SYN's MSS option lowered as the round trip
// back lowered it: the translator clamps a SYN's MSS to what the other
// side's MTU carries (RFC 7915 leaves it to the translator; mss.go), and
// only ever lowers it. l4 is where TCP starts in both.
func clampedLike(want, back []byte, l4 int) []byte {
	proto := want[9]
	if want[0]>>4 == 6 {
		proto = want[6]
	}
	if proto != header.ProtoTCP || len(want) < l4+header.TCPMinSize || len(back) < l4+header.TCPMinSize || want[l4+13]&header.TCPFlagSYN == 0 {
		return want
	}
	in, ok1 := header.TCP(want[l4:]).MSS()
	out, ok2 := header.TCP(back[l4:]).MSS()
	if !ok1 || !ok2 || out >= in {
		return want
	}
	q := append([]byte(nil), want...)
	header.TCP(q[l4:]).ClampMSS(out)
	return q
}

func fuzzSeeds6() [][]byte {
	return [][]byte{
		testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(6, testpkt.TCP(h6, h4v6, 1000, 80, header.TCPFlagSYN, abcd)),
		testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(17, testpkt.UDP(h6, h4v6, 1000, 53, abcd)),
		testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(58, testpkt.Echo(h6, h4v6, 128, 7, 1, abcd)),
		testpkt.IPv6{Src: h6, Dst: h4v6, Frag: true, FragID: 9, FragMore: true}.Packet(17, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, 16))),
		icmpError6(),
	}
}

func fuzzSeeds4() [][]byte {
	return [][]byte{
		testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(6, testpkt.TCP(h4, h6v4, 80, 1000, header.TCPFlagSYN|header.TCPFlagACK, abcd)),
		testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}.Packet(17, testpkt.UDP(h4, h6v4, 53, 1000, abcd)),
		testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(1, testpkt.Echo(h4, h6v4, 0, 7, 1, abcd)),
		testpkt.IPv4{Src: h4, Dst: h6v4, ID: 5, MF: true}.Packet(17, testpkt.UDP(h4, h6v4, 1, 2, make([]byte, 16))),
		icmpError4(),
	}
}

// fuzzTranslate runs pkt through one direction in a buffer with room to
// grow.
func fuzzTranslate(dir func(buf []byte, off, n int) Result, pkt []byte) (Result, []byte) {
	buf := make([]byte, Headroom+len(pkt)+256)
	copy(buf[Headroom:], pkt)
	return dir(buf, Headroom, len(pkt)), buf
}

// fuzzForward translates pkt, checks the output is well formed and that
// a transport checksum that verified still does, and returns a copy of
// the output if it was forwarded (nil otherwise).
func fuzzForward(t *testing.T, dir func(buf []byte, off, n int) Result, pkt []byte) []byte {
	t.Helper()
	r, buf := fuzzTranslate(dir, pkt)
	checkOutput(t, buf, r)
	if r.Verdict != Forward {
		return nil
	}
	out := append([]byte(nil), r.Packet(buf)...)
	if ok, judged := transportValid(pkt); ok && judged {
		if ok2, judged2 := transportValid(out); !ok2 && judged2 {
			t.Fatalf("valid input, invalid transport checksum out:\n in  % x\n out % x", pkt, out)
		}
	}
	return out
}

// FuzzTo4: never panics, outputs are well formed, transport checksums that
// verified still verify, and 6->4->6 returns the original header fields.
func FuzzTo4(f *testing.F) {
	for _, s := range fuzzSeeds6() {
		f.Add(s)
	}
	x := newTestTranslator(f, testCf)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		out := fuzzForward(t, x.To4, pkt)
		if out == nil {
			return
		}
		// Round trip: an unfragmented, extension-free packet with hop limit
		// to spare comes back with the same addresses, ports and payload.
		if len(pkt) < 48 || pkt[6] != 6 && pkt[6] != 17 || pkt[7] < 3 || header.IPv6(pkt).TrafficClass() != 0 || header.IPv6(pkt).FlowLabel() != 0 {
			return
		}
		if pkt[6] == header.ProtoUDP && pkt[46] == 0 && pkt[47] == 0 {
			return // IPv4 "no checksum", refused on the way back (§4.5)
		}
		// Only canonical embedded addresses come back unchanged: RFC 6052
		// §2.2 ignores the u octet and the suffix on receipt.
		for _, a := range []netip.Addr{header.IPv6(pkt).Src(), header.IPv6(pkt).Dst()} {
			if v4, ok := nsp.Extract(a); !ok || nsp.Embed(v4) != a {
				return
			}
		}
		r2, buf2 := fuzzTranslate(x.To6, out)
		if r2.Verdict != Forward {
			t.Fatalf("round trip refused: %v %v", r2.Verdict, r2.Reason)
		}
		back := r2.Packet(buf2)
		want := append([]byte(nil), pkt[:40+int(header.IPv6(pkt).PayloadLen())]...)
		want[7] -= 2
		want = clampedLike(want, back, 40)
		if !bytes.Equal(normalizeTCP(back, 40), normalizeTCP(want, 40)) {
			t.Fatalf("6->4->6 changed the packet:\n in   % x\n back % x", want, back)
		}
	})
}

// FuzzTo6 is FuzzTo4 for IPv4 input.
func FuzzTo6(f *testing.F) {
	for _, s := range fuzzSeeds4() {
		f.Add(s)
	}
	x := newTestTranslator(f, testCf)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		out := fuzzForward(t, x.To6, pkt)
		if out == nil {
			return
		}
		ip := header.IPv4(pkt)
		if len(pkt) < 28 || ip.HeaderLen() != 20 || ip.IsFragment() || ip.TTL() < 3 || ip.TOS() != 0 ||
			ip.Protocol() != 6 && ip.Protocol() != 17 || int(ip.TotalLen()) > 1260 {
			return
		}
		r2, buf2 := fuzzTranslate(x.To4, out)
		if r2.Verdict != Forward {
			t.Fatalf("round trip refused: %v %v", r2.Verdict, r2.Reason)
		}
		back := r2.Packet(buf2)
		want := clampedLike(pkt[:ip.TotalLen()], back, 20)
		// Identification and DF are the translator's to choose (RFC 7915
		// §5.1); compare everything else.
		if len(back) != len(want) || !bytes.Equal(normalizeTCP(back, 20)[20:], normalizeTCP(want, 20)[20:]) || back[8] != want[8]-2 ||
			!bytes.Equal(back[12:20], want[12:20]) || back[9] != want[9] {
			t.Fatalf("4->6->4 changed the packet:\n in   % x\n back % x", want, back)
		}
	})
}
