package oracle

import (
	"errors"
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
// to check (fragments, other protocols, UDP without checksum, tunnels).
func transportOK(pkt gopacket.Packet) (ok, judged bool) {
	// A tunnelled packet (IPv4 or IPv6 in IP, protocol 4 or 41) is payload
	// to a translator, copied as it is; the transport layer gopacket finds
	// inside it is summed over the inner header's addresses, not the outer
	// ones this function would use.
	nets := 0
	for _, l := range pkt.Layers() {
		switch l.(type) {
		case *layers.IPv4, *layers.IPv6:
			nets++
		}
	}
	if nets > 1 {
		return true, false
	}
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
// decode with gopacket, build the IPv4 layers, serialise with computed
// checksums and lengths.
func gopacketTranslate6to4(in []byte, sb gopacket.SerializeBuffer) ([]byte, error) {
	pkt := gopacket.NewPacket(in, layers.LayerTypeIPv6, gopacket.Default)
	ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if !ok {
		return nil, errors.New("not IPv6")
	}
	src, _ := nsp.Extract(netip.AddrFrom16([16]byte(ip6.SrcIP.To16())))
	dst, _ := nsp.Extract(netip.AddrFrom16([16]byte(ip6.DstIP.To16())))
	ip4 := &layers.IPv4{
		Version: 4, IHL: 5, TOS: ip6.TrafficClass, TTL: ip6.HopLimit - 1,
		Protocol: layers.IPProtocol(ip6.NextHeader), SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
	}
	if len(in)-20 > 1260 {
		ip4.Flags = layers.IPv4DontFragment
	}
	l4, payload, err := gopacketTransport(pkt, ip4)
	if err != nil {
		return nil, err
	}
	if icmp, ok := l4.(*layers.ICMPv6); ok {
		echo, ok := pkt.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
		if !ok {
			return nil, errors.New("not an echo")
		}
		t := uint8(layers.ICMPv4TypeEchoRequest)
		if icmp.TypeCode.Type() == layers.ICMPv6TypeEchoReply {
			t = layers.ICMPv4TypeEchoReply
		}
		ip4.Protocol = layers.IPProtocolICMPv4
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(t, 0), Id: echo.Identifier, Seq: echo.SeqNumber}
		payload = echo.LayerPayload()
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	if err := gopacket.SerializeLayers(sb, opts, ip4, l4, gopacket.Payload(payload)); err != nil {
		return nil, err
	}
	return sb.Bytes(), nil
}

// gopacketTranslate4to6 is the same for IPv4 to IPv6.
func gopacketTranslate4to6(in []byte, sb gopacket.SerializeBuffer) ([]byte, error) {
	pkt := gopacket.NewPacket(in, layers.LayerTypeIPv4, gopacket.Default)
	ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok {
		return nil, errors.New("not IPv4")
	}
	ip6 := &layers.IPv6{
		Version: 6, TrafficClass: ip4.TOS, HopLimit: ip4.TTL - 1, NextHeader: ip4.Protocol,
		SrcIP: nsp.Embed(netip.AddrFrom4([4]byte(ip4.SrcIP.To4()))).AsSlice(),
		DstIP: nsp.Embed(netip.AddrFrom4([4]byte(ip4.DstIP.To4()))).AsSlice(),
	}
	l4, payload, err := gopacketTransport(pkt, ip6)
	if err != nil {
		return nil, err
	}
	ls := []gopacket.SerializableLayer{ip6, l4}
	if icmp, ok := l4.(*layers.ICMPv4); ok {
		t := uint8(layers.ICMPv6TypeEchoRequest)
		if icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply {
			t = layers.ICMPv6TypeEchoReply
		}
		ip6.NextHeader = layers.IPProtocolICMPv6
		icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(t, 0)}
		if err := icmp6.SetNetworkLayerForChecksum(ip6); err != nil {
			return nil, err
		}
		ls = []gopacket.SerializableLayer{ip6, icmp6, &layers.ICMPv6Echo{Identifier: icmp.Id, SeqNumber: icmp.Seq}}
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	if err := gopacket.SerializeLayers(sb, opts, append(ls, gopacket.Payload(payload))...); err != nil {
		return nil, err
	}
	return sb.Bytes(), nil
}

// gopacketTransport returns the decoded transport layer of pkt, ready to be
// serialised over the network layer nl, and its payload.
func gopacketTransport(pkt gopacket.Packet, nl gopacket.NetworkLayer) (gopacket.SerializableLayer, []byte, error) {
	switch t := pkt.Layer(layers.LayerTypeTCP).(type) {
	case *layers.TCP:
		return t, t.LayerPayload(), t.SetNetworkLayerForChecksum(nl)
	}
	switch t := pkt.Layer(layers.LayerTypeUDP).(type) {
	case *layers.UDP:
		return t, t.LayerPayload(), t.SetNetworkLayerForChecksum(nl)
	}
	if t, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		return t, t.LayerPayload(), nil
	}
	if t, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		return t, nil, nil // the caller takes the echo layer's payload
	}
	return nil, nil, errors.New("no transport layer")
}

// BenchmarkTranslateGopacket compares xlat's in-place translation with the
// gopacket decode-and-serialise approach on the same packets, TCP, UDP and
// ICMP echo both ways, in one run (benchstat -col /impl). Before timing, it
// checks that both produce the same packet.
func BenchmarkTranslateGopacket(b *testing.B) {
	x := newTranslator(b)
	for _, dir := range []string{"6to4", "4to6"} {
		for _, size := range []int{64, 576, 1500} {
			for _, proto := range []string{"tcp", "udp", "echo"} {
				pkt := benchPacket(dir, proto, size)
				translateX, translateG := x.To4, gopacketTranslate6to4
				if dir == "4to6" {
					translateX, translateG = x.To6, gopacketTranslate4to6
				}
				name := dir + "/" + proto + "/size=" + strconv.Itoa(size)
				buf := make([]byte, translate.Headroom+len(pkt))
				hdr := min(len(pkt), 68) // every byte translation touches
				b.Run(name+"/impl=xlat", func(b *testing.B) {
					copy(buf[translate.Headroom:], pkt)
					b.SetBytes(int64(len(pkt)))
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						copy(buf[translate.Headroom:translate.Headroom+hdr], pkt[:hdr])
						if r := translateX(buf, translate.Headroom, len(pkt)); r.Verdict != translate.Forward {
							b.Fatal(r.Reason)
						}
					}
				})
				sb := gopacket.NewSerializeBuffer()
				check := make([]byte, translate.Headroom+len(pkt))
				copy(check[translate.Headroom:], pkt)
				want := translateX(check, translate.Headroom, len(pkt)).Packet(check)
				got, err := translateG(pkt, sb)
				if err != nil {
					b.Fatal(err)
				}
				if !samePacket(dir, got, want) {
					b.Fatalf("%s: gopacket baseline disagrees with xlat:\n%x\n%x", name, got, want)
				}
				b.Run(name+"/impl=gopacket", func(b *testing.B) {
					b.SetBytes(int64(len(pkt)))
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if _, err := translateG(pkt, sb); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// benchPacket returns a packet of size bytes to translate dir.
func benchPacket(dir, proto string, size int) []byte {
	if dir == "6to4" {
		ip := testpkt.IPv6{Src: h6, Dst: h4v6}
		switch proto {
		case "tcp":
			return ip.Packet(6, testpkt.TCP(h6, h4v6, 40000, 50000, header.TCPFlagACK, make([]byte, size-60)))
		case "udp":
			return ip.Packet(17, testpkt.UDP(h6, h4v6, 40000, 50000, make([]byte, size-48)))
		}
		return ip.Packet(58, testpkt.Echo(h6, h4v6, header.ICMPv6EchoRequest, 7, 1, make([]byte, size-48)))
	}
	ip := testpkt.IPv4{Src: h4, Dst: h6v4, DF: true}
	switch proto {
	case "tcp":
		return ip.Packet(6, testpkt.TCP(h4, h6v4, 50000, 40000, header.TCPFlagACK, make([]byte, size-40)))
	case "udp":
		return ip.Packet(17, testpkt.UDP(h4, h6v4, 50000, 40000, make([]byte, size-28)))
	}
	return ip.Packet(1, testpkt.Echo(h4, h6v4, header.ICMPv4EchoRequest, 7, 1, make([]byte, size-28)))
}

// samePacket reports whether two translations of one packet agree. An
// IPv4 result may differ in its Identification, which xlat draws from a
// counter for packets that may be fragmented (RFC 7915 §5.1), and so in
// its header checksum.
func samePacket(dir string, got, want []byte) bool {
	if dir == "4to6" || len(got) != len(want) || len(got) < 20 {
		return string(got) == string(want)
	}
	return string(got[:4]) == string(want[:4]) && string(got[6:10]) == string(want[6:10]) && string(got[12:]) == string(want[12:])
}
