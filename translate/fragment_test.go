package translate

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// RFC 7915 §5.1: an IPv6 packet that becomes an IPv4 one of at most 1260
// bytes gets DF clear; on an IPv4 link with a smaller MTU the engine says
// Fragment, and SplitIPv4 cuts it to the link.
func TestFragment6to4Split(t *testing.T) {
	cfg := testCf
	cfg.IPv4MTU = 576
	x := newTestTranslator(t, cfg)
	in := testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoUDP, testpkt.UDP(h6, h4v6, 1, 2, make([]byte, 972)))
	out, r := run(x.To4, in)
	if r.Verdict != Fragment || r.MTU != 576 || len(out) != 1000 || header.IPv4(out).DF() {
		t.Fatalf("%v, %d bytes, flags %#x", r, len(out), header.IPv4(out).FlagsOffset())
	}
	frags := buffers(4, 576)
	n := SplitIPv4(frags, out, r.MTU)
	if n != 2 {
		t.Fatalf("%d fragments, want 2 (980 bytes of payload, 552 a fragment)", n)
	}
	checkIPv4Fragments(t, out, frags[:n], 576)
}

// SplitIPv4 on random packets, MTUs and starting points: fragments fit,
// verify, cover the payload in order, and keep the original's
// Identification, offset and More Fragments flag at their ends.
func TestSplitIPv4Random(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	frags := buffers(64, 1500)
	for i := 0; i < 2000; i++ {
		payload := make([]byte, rng.Intn(3000))
		rng.Read(payload)
		ip := testpkt.IPv4{Src: h4, Dst: h6v4, ID: uint16(rng.Intn(1 << 16)), TTL: 64}
		if rng.Intn(3) == 0 { // already a fragment: keep its place
			ip.FragOff, ip.MF = uint16(rng.Intn(1000)), rng.Intn(2) == 0
		}
		pkt := ip.Packet(header.ProtoUDP, payload)
		mtu := header.IPv4MinSize + 8 + rng.Intn(1500-header.IPv4MinSize-8)
		n := SplitIPv4(frags, pkt, mtu)
		if want := (len(payload) + (mtu-20)&^7 - 1) / ((mtu - 20) &^ 7); n != max(want, 1) {
			if want > len(frags) && n == 0 {
				continue // too few buffers: refused, as documented
			}
			t.Fatalf("packet %d (%d bytes, MTU %d): %d fragments, want %d", i, len(pkt), mtu, n, want)
		}
		checkIPv4Fragments(t, pkt, frags[:n], mtu)
		for j := range frags[:n] {
			frags[j] = frags[j][:cap(frags[j])]
		}
	}
}

func TestSplitIPv4Refuses(t *testing.T) {
	pkt := testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}.Packet(header.ProtoUDP, make([]byte, 1000))
	if n := SplitIPv4(buffers(4, 576), pkt, 576); n != 0 {
		t.Errorf("split a DF packet into %d", n)
	}
	pkt = testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(header.ProtoUDP, make([]byte, 1000))
	if n := SplitIPv4(buffers(1, 576), pkt, 576); n != 0 {
		t.Errorf("split into %d with one buffer", n)
	}
	if n := SplitIPv4(buffers(4, 576), pkt, 27); n != 0 {
		t.Errorf("split into %d with an MTU below header and 8 bytes", n)
	}
	if n := SplitIPv4(buffers(4, 576), pkt[:10], 576); n != 0 {
		t.Errorf("split a truncated header into %d", n)
	}
}

func buffers(n, size int) [][]byte {
	b := make([][]byte, n)
	for i := range b {
		b[i] = make([]byte, size)
	}
	return b
}

// checkIPv4Fragments holds frags to RFC 791 §3.2 as fragments of orig.
func checkIPv4Fragments(t *testing.T, orig []byte, frags [][]byte, mtu int) {
	t.Helper()
	o := header.IPv4(orig)
	var payload []byte
	next := o.FragOffset()
	for i, f := range frags {
		h := header.IPv4(f)
		last := i == len(frags)-1
		switch {
		case len(f) > mtu:
			t.Fatalf("fragment %d: %d bytes over MTU %d", i, len(f), mtu)
		case !h.Valid() || !h.ValidChecksum() || int(h.TotalLen()) != len(f):
			t.Fatalf("fragment %d: bad header % x", i, f[:header.IPv4MinSize])
		case h.ID() != o.ID() || h.Protocol() != o.Protocol() || h.Src() != o.Src() || h.Dst() != o.Dst() || h.TTL() != o.TTL():
			t.Fatalf("fragment %d: fields differ from the original's % x", i, f[:header.IPv4MinSize])
		case h.FragOffset() != next:
			t.Fatalf("fragment %d at offset %d, want %d", i, h.FragOffset(), next)
		case h.MF() != (!last || o.MF()):
			t.Fatalf("fragment %d of %d: MF %v", i, len(frags), h.MF())
		case !last && (len(f)-header.IPv4MinSize)%8 != 0:
			t.Fatalf("fragment %d: %d bytes of payload, not a multiple of 8", i, len(f)-header.IPv4MinSize)
		}
		payload = append(payload, f[header.IPv4MinSize:]...)
		next += uint16((len(f) - header.IPv4MinSize) / 8)
	}
	if !bytes.Equal(payload, orig[o.HeaderLen():]) {
		t.Fatalf("fragments carry %d bytes that differ from the original's %d", len(payload), len(orig)-o.HeaderLen())
	}
}

// SplitIPv6 on random packets, MTUs and starting points, as
// TestSplitIPv4Random: fragments fit, cover the payload in order behind
// a copy of the fixed header and a Fragment header that keeps the
// original's Next Header, Identification, offset and More flag at the end.
func TestSplitIPv6Random(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	frags := buffers(64, 1500)
	const hdr = header.IPv6Size + header.IPv6FragmentSize
	for i := 0; i < 2000; i++ {
		payload := make([]byte, rng.Intn(3000))
		rng.Read(payload)
		ip := testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64, Frag: true, FragID: rng.Uint32()}
		if rng.Intn(3) == 0 { // already a fragment: keep its place
			ip.FragOff, ip.FragMore = uint16(rng.Intn(1000)), rng.Intn(2) == 0
		}
		pkt := ip.Packet(header.ProtoUDP, payload)
		mtu := hdr + 8 + rng.Intn(1500-hdr-8)
		n := SplitIPv6(frags, pkt, mtu)
		step := (mtu - hdr) &^ 7
		if want := max((len(payload)+step-1)/step, 1); n != want {
			if want > len(frags) && n == 0 {
				continue // too few buffers: refused, as documented
			}
			t.Fatalf("packet %d (%d bytes, MTU %d): %d fragments, want %d", i, len(pkt), mtu, n, want)
		}
		checkIPv6Fragments(t, pkt, frags[:n], mtu)
		for j := range frags[:n] {
			frags[j] = frags[j][:cap(frags[j])]
		}
	}
}

func TestSplitIPv6Refuses(t *testing.T) {
	const hdr = header.IPv6Size + header.IPv6FragmentSize
	pkt := testpkt.IPv6{Src: h6, Dst: h4v6, Frag: true}.Packet(header.ProtoUDP, make([]byte, 1000))
	if n := SplitIPv6(buffers(1, 576), pkt, 576); n != 0 {
		t.Errorf("split into %d with one buffer", n)
	}
	if n := SplitIPv6(buffers(200, 576), pkt, hdr+7); n != 0 {
		t.Errorf("split into %d with an MTU below the headers and 8 bytes", n)
	}
	if n := SplitIPv6(buffers(200, 576), pkt, hdr+8); n != 125 {
		t.Errorf("split into %d with an MTU of the headers and 8 bytes, want 125", n)
	}
	if n := SplitIPv6(buffers(4, 576), pkt[:hdr-1], 576); n != 0 {
		t.Errorf("split a truncated header into %d", n)
	}
	if n := SplitIPv6(buffers(4, 576), pkt[:hdr], 576); n != 1 {
		t.Errorf("split headers with no payload into %d, want 1", n)
	}
	noFrag := testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(header.ProtoUDP, make([]byte, 1000))
	if n := SplitIPv6(buffers(4, 576), noFrag, 576); n != 0 {
		t.Errorf("split a packet with no Fragment header into %d", n)
	}
	// Split picks by version.
	frags := buffers(4, 576)
	if n := Split(frags, pkt, 576); n != 2 || frags[0][0]>>4 != 6 {
		t.Errorf("Split on IPv6: %d fragments, want 2 IPv6 ones", n)
	}
	if n := Split(buffers(4, 576), pkt[:0], 576); n != 0 {
		t.Errorf("Split on nothing: %d fragments", n)
	}
}

// checkIPv6Fragments holds frags to RFC 8200 §4.5 as fragments of orig,
// whose Fragment header follows the fixed header.
func checkIPv6Fragments(t *testing.T, orig []byte, frags [][]byte, mtu int) {
	t.Helper()
	const hdr = header.IPv6Size + header.IPv6FragmentSize
	ofh := header.IPv6Fragment(orig[header.IPv6Size:])
	var payload []byte
	next := ofh.Offset()
	for i, f := range frags {
		h := header.IPv6(f)
		fh := header.IPv6Fragment(f[header.IPv6Size:])
		last := i == len(frags)-1
		switch {
		case len(f) > mtu:
			t.Fatalf("fragment %d: %d bytes over MTU %d", i, len(f), mtu)
		case int(h.PayloadLen()) != len(f)-header.IPv6Size:
			t.Fatalf("fragment %d: Payload Length %d for %d bytes", i, h.PayloadLen(), len(f))
		case !bytes.Equal(f[:4], orig[:4]) || !bytes.Equal(f[6:header.IPv6Size], orig[6:header.IPv6Size]):
			t.Fatalf("fragment %d: fixed header % x differs from the original's % x", i, f[:header.IPv6Size], orig[:header.IPv6Size])
		case fh.NextHeader() != ofh.NextHeader() || fh.ID() != ofh.ID() || f[header.IPv6Size+1] != 0:
			t.Fatalf("fragment %d: Fragment header % x, original's % x", i, f[header.IPv6Size:hdr], orig[header.IPv6Size:hdr])
		case fh.Offset() != next:
			t.Fatalf("fragment %d at offset %d, want %d", i, fh.Offset(), next)
		case fh.More() != (!last || ofh.More()):
			t.Fatalf("fragment %d of %d: M %v", i, len(frags), fh.More())
		case !last && (len(f)-hdr)%8 != 0:
			t.Fatalf("fragment %d: %d bytes of payload, not a multiple of 8", i, len(f)-hdr)
		}
		payload = append(payload, f[hdr:]...)
		next += uint16((len(f) - hdr) / 8)
	}
	if !bytes.Equal(payload, orig[hdr:]) {
		t.Fatalf("fragments carry %d bytes that differ from the original's %d", len(payload), len(orig)-hdr)
	}
}
