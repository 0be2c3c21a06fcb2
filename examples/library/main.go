// Command library walks through the xlat packages as a program of your
// own would use them, one task each, with the public API only:
//
//   - embed and extract an IPv4 address (RFC 6052);
//   - translate one packet in place (RFC 7915);
//   - look an address up in an EAMT (RFC 7757);
//   - use a NAT64 session table directly (RFC 6146);
//   - map a packet NPTv6 style without touching its checksum (RFC 6296);
//   - let a handoff/1 server choose a NAT64's port for a client.
//
// Run it with:
//
//	go run ./examples/library
//
// Each package's documentation has the same tasks as runnable examples.
package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/handoff/server"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/map66"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/siit"
	"github.com/v6xlat/xlat/translate"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "library:", err)
		os.Exit(1)
	}
}

// A UDP packet [2001:db8::5]:40000 -> [64:ff9b::198.51.100.7]:53 with
// the payload "query", as it would come from a TUN device.
const udp6Hex = "60000000000d1140" + "20010db8000000000000000000000005" +
	"0064ff9b0000000000000000c6336407" + "9c400035000dbb7d" + "7175657279"

func run(w io.Writer) error {
	section := func(s string) { fmt.Fprintf(w, "\n== %s\n", s) }

	section("1. RFC 6052: an IPv4 address inside an IPv6 prefix")
	p := translate.MustParsePrefix("2001:db8:100::/40")
	v6 := p.Embed(netip.MustParseAddr("192.0.2.33"))
	v4, ok := p.Extract(v6)
	fmt.Fprintln(w, "embedded:", v6, "extracted:", v4, ok)

	section("2. RFC 7915: translate one packet in place")
	x, err := translate.New(translate.Config{}, &translate.PrefixPolicy{Prefix: translate.WellKnownPrefix, AllowNonGlobal: true})
	if err != nil {
		return err
	}
	pkt, _ := hex.DecodeString(udp6Hex)
	// The packet goes after translate.Headroom bytes: IPv4 -> IPv6 grows
	// in front. This one shrinks by 20 bytes.
	buf := make([]byte, translate.Headroom+len(pkt))
	copy(buf[translate.Headroom:], pkt)
	// The source 2001:db8::5 is not in the prefix: PrefixPolicy refuses it.
	r := x.To4(buf, translate.Headroom, len(pkt))
	fmt.Fprintln(w, "2001:db8::5 with a plain prefix policy:", r.Verdict, r.Reason)
	// A source inside 64:ff9b::/96 translates.
	copy(pkt[8:24], translate.WellKnownPrefix.Embed(netip.MustParseAddr("192.0.2.33")).AsSlice())
	fixUDP6(pkt)
	copy(buf[translate.Headroom:], pkt)
	r = x.To4(buf, translate.Headroom, len(pkt))
	out := header.IPv4(r.Packet(buf))
	u := header.UDP(out[out.HeaderLen():])
	fmt.Fprintln(w, r.Verdict, out.Src(), "->", out.Dst(), "TTL", out.TTL(), "UDP", u.SrcPort(), "->", u.DstPort(),
		"checksum ok:", checksum.Verify(u, checksum.PseudoHeader4(out.Src(), out.Dst(), header.ProtoUDP, uint16(len(u)))))

	section("3. RFC 7757: an EAMT lookup")
	eamt, err := siit.NewEAMT([]siit.EAM{
		{IPv4: netip.MustParsePrefix("192.0.2.128/26"), IPv6: netip.MustParsePrefix("2001:db8:dddd::/64")},
		{IPv4: netip.MustParsePrefix("198.51.100.80/32"), IPv6: netip.MustParsePrefix("2001:db8:c::80/128")},
	})
	if err != nil {
		return err
	}
	for _, a := range []string{"192.0.2.152", "198.51.100.80", "203.0.113.1"} {
		got, ok := eamt.To6(netip.MustParseAddr(a))
		fmt.Fprintln(w, a, "->", got, ok)
	}

	section("4. RFC 6146: a NAT64 session table")
	nat, err := nat64.New(nat64.Config{
		Pool6:             translate.WellKnownPrefix,
		AllowNonGlobalWKP: true,
		Pool4:             []nat64.Pool4Entry{{Protocol: nat64.UDP, Prefix: netip.MustParsePrefix("203.0.113.1/32")}},
	}, nat64.Collaborators{})
	if err != nil {
		return err
	}
	pkt, _ = hex.DecodeString(udp6Hex)
	copy(buf[translate.Headroom:], pkt)
	r = nat.To4(buf, translate.Headroom, len(pkt))
	out = header.IPv4(r.Packet(buf))
	port := header.UDP(out[out.HeaderLen():]).SrcPort()
	nat.RangeSessions(func(s nat64.Session) bool {
		fmt.Fprintln(w, "session:", s.Proto, s.IPv6Src, "->", s.IPv4Dst, "as", s.IPv4Src.Addr(), "expires in",
			time.Until(s.Expires).Round(time.Minute))
		return true
	})
	// The answer comes back to the pool4 address and port: the session
	// finds the IPv6 host.
	reply := make([]byte, translate.Headroom+28+5)
	in := reply[translate.Headroom:]
	header.IPv4(in).Encode(&header.IPv4Fields{TotalLength: 33, TTL: 64, Protocol: header.ProtoUDP,
		Src: netip.MustParseAddr("198.51.100.7").As4(), Dst: out.Dst().As4()})
	copy(in[16:20], out.Src().AsSlice())
	header.IPv4(in).SetChecksumFromHeader()
	ru := header.UDP(in[20:])
	ru.SetSrcPort(53)
	ru.SetDstPort(port)
	ru.SetLength(13)
	copy(in[28:], "reply")
	ru.SetChecksum(checksum.UDPField(^checksum.Checksum(ru, checksum.PseudoHeader4(header.IPv4(in).Src(), header.IPv4(in).Dst(), header.ProtoUDP, 13))))
	r = nat.To6(reply, translate.Headroom, 33)
	back := header.IPv6(r.Packet(reply))
	fmt.Fprintln(w, "reply:", r.Verdict, back.Src(), "->", back.Dst())

	section("5. RFC 6296: NPTv6 without a checksum update")
	m, err := map66.New([]map66.Rule{{Internal: netip.MustParsePrefix("fd01:203:405::/48"), External: netip.MustParsePrefix("2001:db8:1::/48")}}, map66.Options{})
	if err != nil {
		return err
	}
	pkt, _ = hex.DecodeString(udp6Hex)
	copy(pkt[8:24], netip.MustParseAddr("fd01:203:405:1::1234").AsSlice())
	fixUDP6(pkt)
	before := binary.BigEndian.Uint16(pkt[46:])
	reason := m.Outbound(pkt)
	fmt.Fprintln(w, "source now", header.IPv6(pkt).Src(), "reason", reason, "UDP checksum unchanged:", before == binary.BigEndian.Uint16(pkt[46:]))

	section("6. handoff/1: a server chooses the NAT64's port")
	n, s := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	srv, _ := server.New(server.Config{Addr: s, OnEvent: func(e server.Event) { w.Write(e.AppendLogLine(nil)) }})
	var wire [][]byte
	cli, err := client.New(client.Config{NAT64: n, Pool6: translate.WellKnownPrefix, Servers: []netip.Addr{s},
		Send: func(p []byte) { wire = append(wire, p) }, Deliver: func([]byte, bool) {}, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	c := netip.MustParseAddrPort("[2001:db8::5]:40000")
	_, claim := cli.Out(s, c, false)
	fmt.Fprintln(w, "first packet waits for the server:", claim == nat64.Await)
	for len(wire) > 0 {
		d := wire[0]
		wire = wire[1:]
		for _, answer := range srv.Handle(now, netip.AddrPortFrom(n, handoff.DefaultControlPort), d[28:], nil) {
			cli.Receive(udp4(s, handoff.DefaultServerPort, n, handoff.DefaultControlPort, answer))
		}
	}
	hp, claim := cli.Out(s, c, false)
	fmt.Fprintln(w, "then", c, "uses port", hp, "claimed:", claim == nat64.Claimed)
	return nil
}

// fixUDP6 recomputes the UDP checksum of an IPv6 packet after an edit.
func fixUDP6(p []byte) {
	ip := header.IPv6(p)
	u := header.UDP(p[header.IPv6Size:])
	u.SetChecksum(0)
	u.SetChecksum(checksum.UDPField(^checksum.Checksum(u, checksum.PseudoHeader6(ip.Src(), ip.Dst(), header.ProtoUDP, uint32(len(u))))))
}

// udp4 wraps a payload in IPv4 and UDP headers (UDP checksum 0: none).
func udp4(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), TTL: 64, Protocol: header.ProtoUDP, Src: src.As4(), Dst: dst.As4()})
	u := header.UDP(p[20:])
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(len(u)))
	copy(p[28:], payload)
	return p
}
