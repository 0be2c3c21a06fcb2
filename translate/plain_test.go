package translate

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// portPolicy is PrefixPolicy that also rewrites ports, as NAT64 does, and
// refuses some flows with the reasons that make the engine answer: the
// plain path must finish those packets as the general path does.
type portPolicy struct{ PrefixPolicy }

func (p *portPolicy) verdict(ports Ports) Reason {
	switch ports.Dst() % 7 {
	case 1:
		return ReasonPolicyProhibited
	case 2:
		return ReasonPolicyNoResources
	case 3:
		return ReasonUnsupported
	case 4:
		return ReasonNoBinding
	}
	return ReasonNone
}

func (p *portPolicy) To4(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	if r := p.verdict(ports); r != ReasonNone {
		return src, dst, ports, r
	}
	s, d, _, r := p.PrefixPolicy.To4(src, dst, ports, m)
	// The Meta shows in the port, so that the test sees it.
	return s, d, MakePorts(ports.Src()^uint16(m)^uint16(m>>16), ports.Dst()), r
}

func (p *portPolicy) To6(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	if r := p.verdict(ports); r != ReasonNone {
		return src, dst, ports, r
	}
	s, d, _, r := p.PrefixPolicy.To6(src, dst, ports, m)
	return s, d, MakePorts(ports.Src(), ports.Dst()+uint16(m)^uint16(m>>16)), r
}

// The plain path (plain.go) must give what the general path gives, byte
// for byte over the whole buffer and field for field of the Result, on
// packets that are plain and on the near misses around every condition
// that makes a packet not plain: other protocols and ICMP types than
// TCP, UDP and echoes, extension headers and
// options, fragments, Hop Limit and TTL 1, lengths that disagree,
// padding, sizes on either side of 1260 and of the MTUs, zero and wrong
// checksums, short headroom, untranslatable addresses, refusing policies.
func TestPlainMatchesGeneral(t *testing.T) {
	clock := time.Unix(0, 0)
	configs := []Config{
		{},
		{OverrideTOS: true, TOS: 0x28, ZeroizeTrafficClass: true, AmendUDPChecksumZero: true},
		{IPv4MTU: 1300, IPv6MTU: 1400, LowestIPv6MTU: 1350},
		{IPv4MTU: 9000, IPv6MTU: 9000, LowestIPv6MTU: 1280},
	}
	wkp := MustParsePrefix("64:ff9b::/96")
	policies := []func() Policy{
		func() Policy { return &PrefixPolicy{Prefix: nsp} },
		func() Policy { return &PrefixPolicy{Prefix: wkp} },
		func() Policy { return &portPolicy{PrefixPolicy{Prefix: nsp}} },
	}
	// Global addresses too, which alone the well-known prefix carries
	// (nothing is sent anywhere).
	v4s := []netip.Addr{h4, h6v4, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("8.8.4.4"), netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("1.1.1.1")}
	rng := rand.New(rand.NewSource(7))
	for ci, cfg := range configs {
		cfg.Addr4, cfg.Addr6 = xlat4, xlat6
		cfg.ICMPErrorRate, cfg.ICMPErrorBurst = 1<<30, 1<<30
		cfg.Now = func() time.Time { return clock }
		for pi, newPolicy := range policies {
			plain, err := New(cfg, newPolicy())
			if err != nil {
				t.Fatal(err)
			}
			general, _ := New(cfg, newPolicy())
			general.general = true
			probe, _ := New(cfg, newPolicy()) // which packets are plain
			pfx := nsp
			if pi == 1 {
				pfx = wkp
			}
			v6 := func() netip.Addr {
				if rng.Intn(10) == 0 {
					return h6 // not under the well-known prefix
				}
				return pfx.Embed(v4s[rng.Intn(len(v4s))])
			}
			took, plains := 0, 0
			for i := 0; i < 4000; i++ {
				var pkt []byte
				if rng.Intn(2) == 0 {
					pkt = randomPlain6(rng, v6(), v6())
				} else {
					pkt = randomPlain4(rng, v4s[rng.Intn(len(v4s))], v4s[rng.Intn(len(v4s))])
				}
				if rng.Intn(10) == 0 {
					pkt = append(pkt, 0, 0, 0, 0) // link-layer padding
				}
				off := Headroom
				if rng.Intn(10) == 0 {
					off = rng.Intn(24)
				}
				a := make([]byte, off+len(pkt)+GrowReply6+256)
				copy(a[off:], pkt)
				b := bytes.Clone(a)
				n := len(pkt) // with any padding, which translation ignores
				if rng.Intn(10) == 0 {
					n = rng.Intn(len(pkt)) // truncated
				}
				var ra, rb Result
				c := bytes.Clone(a)
				if _, ok := probe.plain6to4(probe.cfg.Load(), c, off, n, netip.Addr{}); ok && pkt[0]>>4 == 6 {
					plains++
				} else if _, ok := probe.plain4to6(probe.cfg.Load(), c, off, n); ok && pkt[0]>>4 == 4 {
					plains++
				}
				if pkt[0]>>4 == 6 {
					ra, rb = plain.To4(a, off, n), general.To4(b, off, n)
				} else {
					ra, rb = plain.To6(a, off, n), general.To6(b, off, n)
				}
				if ra != rb || !bytes.Equal(a, b) {
					t.Fatalf("config %d policy %d packet %d (off %d, n %d):\nplain   %+v\n% x\ngeneral %+v\n% x\ninput % x",
						ci, pi, i, off, n, ra, a, rb, b, pkt)
				}
				if ra.Verdict == Forward {
					took++
				}
			}
			// Both paths must be exercised, and the plain one must not
			// refuse everything.
			if took < 200 || plains < 500 || plains > 3500 {
				t.Errorf("config %d policy %d: %d of 4000 packets forwarded, %d plain; the test exercises too little", ci, pi, took, plains)
			}
			t.Logf("config %d policy %d: %d of 4000 packets forwarded, %d plain", ci, pi, took, plains)
		}
	}
}

// randomPlain6 returns an IPv6 packet that is plain or nearly so.
func randomPlain6(rng *rand.Rand, src, dst netip.Addr) []byte {
	h := testpkt.IPv6{Src: src, Dst: dst, TC: uint8(rng.Intn(256)), Flow: uint32(rng.Intn(1 << 20)), HopLimit: []uint8{1, 2, 64, 255}[rng.Intn(4)]}
	switch rng.Intn(12) {
	case 0:
		h.Ext, h.ExtNH = []byte{0, 0, 0, 0, 0, 0, 0, 0}, header.ProtoHopByHop // next header patched below
	case 1:
		h.Frag, h.FragID, h.FragMore = true, rng.Uint32(), rng.Intn(2) == 0
	}
	// Echoes, MLD, ND.
	nh, l4 := randomTransport(rng, src, dst, header.IPv6Size, header.ProtoICMPv6, []uint8{128, 128, 129, 130, 135})
	if h.Ext != nil {
		h.Ext[0] = nh
		return h.Packet(header.ProtoHopByHop, l4)
	}
	return h.Packet(nh, l4)
}

// randomPlain4 returns an IPv4 packet that is plain or nearly so.
func randomPlain4(rng *rand.Rand, src, dst netip.Addr) []byte {
	h := testpkt.IPv4{Src: src, Dst: dst, TOS: uint8(rng.Intn(256)), TTL: []uint8{1, 2, 64, 255}[rng.Intn(4)], ID: uint16(rng.Intn(65536)), DF: rng.Intn(2) == 0}
	switch rng.Intn(12) {
	case 0:
		h.Options = []byte{1, 1, 1, 0}
	case 1:
		h.MF = true
	case 2:
		h.FragOff = uint16(1 + rng.Intn(100))
	}
	// Echoes, timestamp, an error.
	proto, l4 := randomTransport(rng, src, dst, header.IPv4MinSize, header.ProtoICMPv4, []uint8{8, 8, 0, 13, 3})
	p := h.Packet(proto, l4)
	switch rng.Intn(20) {
	case 0:
		p[10] ^= 1 // a wrong header checksum
	case 1:
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)+8)) // longer than the packet
	case 2:
		p[0] = 0x46 // options claimed, none there
	}
	return p
}

// randomTransport returns a TCP, UDP or ICMP (icmp, of one of icmpTypes)
// header and payload for a packet whose IP header is ipSize long: some
// with a zero UDP checksum, some with a wrong checksum, some too short.
func randomTransport(rng *rand.Rand, src, dst netip.Addr, ipSize int, icmp uint8, icmpTypes []uint8) (uint8, []byte) {
	pay := make([]byte, randomSize(rng)-ipSize-header.TCPMinSize)
	rng.Read(pay)
	var l4 []byte
	proto := uint8(header.ProtoUDP)
	sp, dp := uint16(rng.Intn(65536)), uint16(rng.Intn(65536))
	switch rng.Intn(5) {
	case 0, 1:
		proto, l4 = header.ProtoTCP, testpkt.TCP(src, dst, sp, dp, uint8(rng.Intn(256)), pay)
	case 2:
		proto, l4 = icmp, testpkt.Echo(src, dst, icmpTypes[rng.Intn(len(icmpTypes))], sp, dp, pay)
	default:
		l4 = testpkt.UDP(src, dst, sp, dp, pay)
		if rng.Intn(5) == 0 {
			l4[6], l4[7] = 0, 0
		}
	}
	if rng.Intn(8) == 0 {
		l4[rng.Intn(min(len(l4), 20))] ^= 0x40 // a wrong checksum, kept wrong
	}
	if rng.Intn(20) == 0 {
		l4 = l4[:rng.Intn(min(len(l4), 20))] // too short a transport header
	}
	return proto, l4
}

// randomSize returns a packet size, often near the boundaries the engine
// cares about.
func randomSize(rng *rand.Rand) int {
	sizes := []int{60, 61, 100, 576, 1259, 1260, 1261, 1280, 1299, 1300, 1301, 1320, 1321, 1349, 1350, 1351, 1370, 1400, 1401, 1420, 1500, 1520, 9000}
	s := sizes[rng.Intn(len(sizes))] + rng.Intn(3) - 1
	return max(s, header.IPv6Size+header.TCPMinSize)
}
