package oracle

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

var (
	nsp  = translate.MustParsePrefix("2001:db8:100::/40")
	h4   = netip.MustParseAddr("198.51.100.2")
	h6v4 = netip.MustParseAddr("192.0.2.33")
	h6   = netip.MustParseAddr("2001:db8:1c0:2:21::")
	h4v6 = netip.MustParseAddr("2001:db8:1c6:3364:2::")
)

func newTranslator(tb testing.TB) *translate.Translator {
	x, err := translate.New(translate.Config{
		Addr4: netip.MustParseAddr("198.51.100.1"), Addr6: netip.MustParseAddr("2001:db8:1c0:2:1::"),
		IPv4MTU: 9000, IPv6MTU: 9000, LowestIPv6MTU: 9000,
	}, &translate.PrefixPolicy{Prefix: nsp})
	if err != nil {
		tb.Fatal(err)
	}
	return x
}

// transportOK checks a decoded packet's transport checksum with gVisor's
// checksum, independently of xlat. judged is false when there is nothing
// to check (fragments, other protocols, UDP without checksum).
func transportOK(pkt gopacket.Packet) (ok, judged bool) {
	var pseudo func(proto uint8, n int) uint16
	switch nl := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		if nl.Flags&layers.IPv4MoreFragments != 0 || nl.FragOffset != 0 {
			return true, false
		}
		src, dst := nl.SrcIP.To4(), nl.DstIP.To4()
		pseudo = func(proto uint8, n int) uint16 {
			s := gvchecksum.Checksum(src, 0)
			s = gvchecksum.Checksum(dst, s)
			return gvchecksum.Combine(s, uint16(proto)+uint16(n))
		}
	case *layers.IPv6:
		if pkt.Layer(layers.LayerTypeIPv6Fragment) != nil {
			return true, false
		}
		src, dst := nl.SrcIP.To16(), nl.DstIP.To16()
		pseudo = func(proto uint8, n int) uint16 {
			s := gvchecksum.Checksum(src, 0)
			s = gvchecksum.Checksum(dst, s)
			s = gvchecksum.Combine(s, uint16(n>>16))
			return gvchecksum.Combine(s, gvchecksum.Combine(uint16(n), uint16(proto)))
		}
	default:
		return true, false
	}
	full := func(l gopacket.Layer) []byte {
		return append(append([]byte{}, l.LayerContents()...), l.LayerPayload()...)
	}
	switch {
	case pkt.Layer(layers.LayerTypeTCP) != nil:
		b := full(pkt.Layer(layers.LayerTypeTCP))
		return gvchecksum.Checksum(b, pseudo(6, len(b))) == 0xffff, true
	case pkt.Layer(layers.LayerTypeUDP) != nil:
		b := full(pkt.Layer(layers.LayerTypeUDP))
		if len(b) >= 8 && b[6] == 0 && b[7] == 0 {
			return true, false
		}
		return gvchecksum.Checksum(b, pseudo(17, len(b))) == 0xffff, true
	case pkt.Layer(layers.LayerTypeICMPv4) != nil:
		b := full(pkt.Layer(layers.LayerTypeICMPv4))
		return gvchecksum.Checksum(b, 0) == 0xffff, true
	case pkt.Layer(layers.LayerTypeICMPv6) != nil:
		b := full(pkt.Layer(layers.LayerTypeICMPv6))
		return gvchecksum.Checksum(b, pseudo(58, len(b))) == 0xffff, true
	}
	return true, false
}

func decode(b []byte) gopacket.Packet {
	first := layers.LayerTypeIPv4
	if len(b) > 0 && b[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	return gopacket.NewPacket(b, first, gopacket.Default)
}

// FuzzTranslateGopacket: whatever xlat forwards or replies decodes cleanly
// with gopacket (an independent parser), its IPv4 header checksum verifies,
// and its transport checksum verifies with gVisor's arithmetic whenever the
// input's did.
func FuzzTranslateGopacket(f *testing.F) {
	f.Add(testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(6, testpkt.TCP(h6, h4v6, 1000, 80, header.TCPFlagSYN, []byte("abcd"))))
	f.Add(testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(58, testpkt.Echo(h6, h4v6, 128, 1, 1, []byte("abcd"))))
	f.Add(testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(17, testpkt.UDP(h4, h6v4, 53, 1000, []byte("abcd"))))
	f.Add(testpkt.IPv4{Src: h4, Dst: h6v4}.Packet(1, testpkt.Echo(h4, h6v4, 0, 1, 1, []byte("abcd"))))
	f.Add(testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1}.Packet(6, testpkt.TCP(h4, h6v4, 80, 1000, header.TCPFlagACK, nil)))
	x := newTranslator(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := make([]byte, translate.Headroom+len(in)+256)
		copy(buf[translate.Headroom:], in)
		var r translate.Result
		if len(in) > 0 && in[0]>>4 == 6 {
			r = x.To4(buf, translate.Headroom, len(in))
		} else {
			r = x.To6(buf, translate.Headroom, len(in))
		}
		if r.Verdict == translate.Drop {
			return
		}
		out := r.Packet(buf)
		pkt := decode(out)
		if el := pkt.ErrorLayer(); el != nil && pkt.NetworkLayer() == nil {
			t.Fatalf("gopacket cannot decode the output: %v\n% x", el.Error(), out)
		}
		if ip4, ok := pkt.NetworkLayer().(*layers.IPv4); ok {
			if gvchecksum.Checksum(out[:ip4.IHL*4], 0) != 0xffff {
				t.Fatalf("IPv4 header checksum does not verify: % x", out)
			}
			if int(ip4.Length) != len(out) {
				t.Fatalf("IPv4 length %d for %d bytes", ip4.Length, len(out))
			}
		}
		if ip6, ok := pkt.NetworkLayer().(*layers.IPv6); ok && int(ip6.Length)+40 != len(out) {
			t.Fatalf("IPv6 payload length %d for %d bytes", ip6.Length, len(out))
		}
		if r.Verdict != translate.Forward {
			return
		}
		inPkt := decode(in)
		// RFC 7915 copies IPv4 protocol numbers that IPv6 reads as
		// extension headers; such inputs cannot be compared.
		if ip4, ok := inPkt.NetworkLayer().(*layers.IPv4); ok && header.IsExtension(uint8(ip4.Protocol)) {
			return
		}
		if ok, judged := transportOK(inPkt); ok && judged {
			if ok2, judged2 := transportOK(pkt); judged2 && !ok2 {
				t.Fatalf("input checksum verified, output's does not:\n in  % x\n out % x", in, out)
			}
		}
	})
}

// gopacketTranslate6to4 is how a typical Go translator is written:
// decode with gopacket, build the IPv4 layer, serialise with computed
// checksums and lengths.
func gopacketTranslate6to4(in []byte, sb gopacket.SerializeBuffer) ([]byte, error) {
	pkt := gopacket.NewPacket(in, layers.LayerTypeIPv6, gopacket.Default)
	ip6 := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	src, _ := nsp.Extract(netip.AddrFrom16([16]byte(ip6.SrcIP.To16())))
	dst, _ := nsp.Extract(netip.AddrFrom16([16]byte(ip6.DstIP.To16())))
	ip4 := &layers.IPv4{
		Version: 4, IHL: 5, TOS: ip6.TrafficClass, TTL: ip6.HopLimit - 1,
		Protocol: layers.IPProtocol(ip6.NextHeader), SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
	}
	if len(in)-20 > 1260 {
		ip4.Flags = layers.IPv4DontFragment
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	var l4 gopacket.SerializableLayer
	switch t := pkt.TransportLayer().(type) {
	case *layers.TCP:
		t.SetNetworkLayerForChecksum(ip4)
		l4 = t
	case *layers.UDP:
		t.SetNetworkLayerForChecksum(ip4)
		l4 = t
	}
	if err := gopacket.SerializeLayers(sb, opts, ip4, l4, gopacket.Payload(pkt.TransportLayer().LayerPayload())); err != nil {
		return nil, err
	}
	return sb.Bytes(), nil
}

// BenchmarkTranslate6to4 compares xlat's in-place translation with the
// gopacket decode-and-serialise approach on the same packets, in one run
// (benchstat -col /impl).
func BenchmarkTranslate6to4(b *testing.B) {
	x := newTranslator(b)
	for _, size := range []int{64, 576, 1500} {
		for _, proto := range []string{"tcp", "udp"} {
			var pkt []byte
			if proto == "tcp" {
				pkt = testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(6, testpkt.TCP(h6, h4v6, 40000, 50000, header.TCPFlagACK, make([]byte, size-60)))
			} else {
				pkt = testpkt.IPv6{Src: h6, Dst: h4v6}.Packet(17, testpkt.UDP(h6, h4v6, 40000, 50000, make([]byte, size-48)))
			}
			name := proto + "/size=" + strconv.Itoa(size)
			buf := make([]byte, translate.Headroom+len(pkt))
			hdr := min(len(pkt), 68) // every byte translation touches
			b.Run(name+"/impl=xlat", func(b *testing.B) {
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					copy(buf[translate.Headroom:translate.Headroom+hdr], pkt[:hdr])
					if r := x.To4(buf, translate.Headroom, len(pkt)); r.Verdict != translate.Forward {
						b.Fatal(r.Reason)
					}
				}
			})
			sb := gopacket.NewSerializeBuffer()
			check := make([]byte, translate.Headroom+len(pkt))
			copy(check[translate.Headroom:], pkt)
			want := x.To4(check, translate.Headroom, len(pkt)).Packet(check)
			got, err := gopacketTranslate6to4(pkt, sb)
			if err != nil {
				b.Fatal(err)
			}
			// Same bytes but the IPv4 Identification and header checksum.
			if len(got) != len(want) || string(got[20:]) != string(want[20:]) || string(got[12:20]) != string(want[12:20]) {
				b.Fatalf("gopacket baseline disagrees with xlat:\n%x\n%x", got, want)
			}
			b.Run(name+"/impl=gopacket", func(b *testing.B) {
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := gopacketTranslate6to4(pkt, sb); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
