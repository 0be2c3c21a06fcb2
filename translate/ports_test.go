package translate

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// shiftPolicy is pool6 that also moves both ports, as a NAPT does: one
// up, the other two up.
type shiftPolicy struct{ PrefixPolicy }

func (p *shiftPolicy) To4(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	s, d, _, r := p.PrefixPolicy.To4(src, dst, ports, m)
	return s, d, MakePorts(ports.Src()+1, ports.Dst()+2), r
}

func (p *shiftPolicy) To6(src, dst netip.Addr, ports Ports, m Meta) (netip.Addr, netip.Addr, Ports, Reason) {
	s, d, _, r := p.PrefixPolicy.To6(src, dst, ports, m)
	return s, d, MakePorts(ports.Src()+1, ports.Dst()+2), r
}

// Ports a policy changes reach the transport header, and its checksum
// follows them (RFC 1624) for each port on its own, on both paths.
func TestPolicyPortsAndChecksum(t *testing.T) {
	bothPaths(t, testCf, func(t *testing.T, x *Translator) {
		x.policy = &shiftPolicy{PrefixPolicy{Prefix: nsp}}
		for _, proto := range []uint8{header.ProtoUDP, header.ProtoTCP} {
			l4 := func(src, dst netip.Addr) []byte {
				if proto == header.ProtoUDP {
					return testpkt.UDP(src, dst, 1000, 53, abcd)
				}
				return testpkt.TCP(src, dst, 1000, 53, header.TCPFlagACK, abcd)
			}
			out, r := run(x.To4, testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(proto, l4(h6, h4v6)))
			ip := header.IPv4(out)
			seg := out[ip.HeaderLen():]
			if r.Verdict != Forward || header.UDP(seg).SrcPort() != 1001 || header.UDP(seg).DstPort() != 55 ||
				!checksum.Verify(seg, checksum.PseudoHeader4(ip.Src(), ip.Dst(), proto, uint16(len(seg)))) {
				t.Errorf("proto %d 6to4: %v % x", proto, r, out)
			}
			out, r = run(x.To6, testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64}.Packet(proto, l4(h4, h6v4)))
			ip6 := header.IPv6(out)
			seg = out[header.IPv6Size:]
			if r.Verdict != Forward || header.UDP(seg).SrcPort() != 1001 || header.UDP(seg).DstPort() != 55 ||
				!checksum.Verify(seg, checksum.PseudoHeader6(ip6.Src(), ip6.Dst(), proto, uint32(len(seg)))) {
				t.Errorf("proto %d 4to6: %v % x", proto, r, out)
			}
		}
	})
}

// A quoted transport header cut short still gets the policy's ports when
// it holds them (4 bytes), and its checksum field adjusted when it holds
// that (18 bytes of TCP), the same as in the whole header.
func TestQuotedPortsCut(t *testing.T) {
	x, err := New(testCf, &shiftPolicy{PrefixPolicy{Prefix: nsp}})
	if err != nil {
		t.Fatal(err)
	}
	udp := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h6v4, h4, 1000, 53, nil))
	tcp := testpkt.IPv4{Src: h6v4, Dst: h4, TTL: 1}.Packet(header.ProtoTCP, testpkt.TCP(h6v4, h4, 1000, 80, header.TCPFlagSYN, nil))
	quote := func(q []byte) []byte {
		in := icmpError4To6(header.ICMPv4TimeExceeded, 0, 0, q)
		out, r := run(x.To6, in)
		if r.Verdict != Forward {
			t.Fatalf("%v", r)
		}
		return out[48+40:]
	}
	if q := quote(udp[:24]); q[0] != 0x03 || q[1] != 0xe9 || q[2] != 0 || q[3] != 55 {
		t.Errorf("4 bytes of UDP: ports % x, want 1001 and 55", q[:4])
	}
	whole := quote(tcp)
	if cut := quote(tcp[:38]); string(cut[:18]) != string(whole[:18]) {
		t.Errorf("18 bytes of TCP: % x, the whole header's first 18: % x", cut, whole[:18])
	}
}

// Every reason has a name, and Reasons lists each once; a number past
// the last is not a reason.
func TestReasonNames(t *testing.T) {
	rs := Reasons()
	seen := map[string]bool{}
	for i, r := range rs {
		if int(r) != i+1 {
			t.Errorf("Reasons()[%d] = %d", i, r)
		}
		if n := r.String(); n == "" || n == "reason?" || seen[n] {
			t.Errorf("reason %d is named %q", r, n)
		}
		seen[r.String()] = true
	}
	if len(rs) < 20 {
		t.Errorf("%d reasons", len(rs))
	}
	if n := Reason(len(rs) + 1).String(); n != "reason?" {
		t.Errorf("past the last: %q", n)
	}
}
