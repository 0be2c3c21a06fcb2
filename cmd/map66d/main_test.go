package main

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/internal/tunbatch"
	"github.com/v6xlat/xlat/map66"
)

func TestFlagsPairAndPrint(t *testing.T) {
	if err := run([]string{"-out", "eth1,fd01::/48,2001:db8:1::/48", "-in", "eth1,2001:db8:1::/48,fd01::/48", "-print-routes"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", "eth1,fd01::/48,2001:db8:1::/48"}, "no matching -in"},
		{[]string{"-in", "eth1,2001:db8:1::/48,fd01::/48"}, "no matching -out"},
		{[]string{"-out", "eth1,fd01::/48"}, "interface,prefix,prefix"},
		{[]string{"-out", "eth1,fd01::/480,2001:db8::/48"}, "fd01::/480"},
		{[]string{}, "no rules"},
	} {
		if err := run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	out, _ := pairRules([]Rule{{"eth1", mustPrefix("fd01::/48"), mustPrefix("2001:db8:1::/48")}}, []Rule{{"eth1", mustPrefix("fd01::/48"), mustPrefix("2001:db8:1::/48")}})
	cmds := routeCommands(Config{TUN: "map66", Table: 66, Rules: out})
	if len(cmds) != 4 || !strings.Contains(cmds[3], "to 2001:db8:1::/48 iif eth1 lookup 66") {
		t.Errorf("route commands: %q", cmds)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// A burst through mapBoth ends as each packet would one by one: tried
// outbound, then inbound when no rule took it.
func TestBurstMapsBothWays(t *testing.T) {
	m, err := map66.New([]map66.Rule{{Internal: mustPrefix("fd01:203:405::/48"), External: mustPrefix("2001:db8:1::/48")}}, map66.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, ext, far := netip.MustParseAddr("fd01:203:405:1::1234"), netip.MustParseAddr("2001:db8:1:d550::1234"), netip.MustParseAddr("2001:db8:ffff::1")
	pkts := [][]byte{
		testpkt.IPv6{Src: in, Dst: far}.Packet(17, testpkt.UDP(in, far, 1, 2, nil)),              // out
		testpkt.IPv6{Src: far, Dst: ext}.Packet(6, testpkt.TCP(far, ext, 2, 1, 0x10, nil)),       // in
		testpkt.IPv6{Src: far, Dst: far}.Packet(17, testpkt.UDP(far, far, 1, 2, nil)),            // neither
		testpkt.IPv6{Src: far, Dst: ext}.Packet(58, testpkt.Echo(far, ext, 129, 1, 1, nil)),      // in, slow
		testpkt.IPv6{Src: in, Dst: far}.Packet(58, testpkt.Echo(in, far, 128, 1, 1, nil)),        // out, slow
		testpkt.IPv6{Src: far, Dst: mustPrefix("2001:db8:1:ffff::1/128").Addr()}.Packet(17, nil), // subnet 0xFFFF in: mapped
	}
	var b burst
	for round := 0; round < 2; round++ { // the second reuses the slices
		b.reset()
		var want [][]byte
		var wantWhy []map66.Reason
		for _, p := range pkts {
			one := bytes.Clone(p)
			why := m.Outbound(one)
			if why == map66.ReasonNotMine {
				why = m.Inbound(one)
			}
			want, wantWhy = append(want, one), append(wantWhy, why)
			p = bytes.Clone(p)
			b.add(p, p)
		}
		got := b.mapBoth(m)
		if !slices.Equal(got, wantWhy) {
			t.Fatalf("reasons %v, want %v", got, wantWhy)
		}
		for i := range pkts {
			if !bytes.Equal(b.pkts[i], want[i]) {
				t.Errorf("packet %d: % x, want % x", i, b.pkts[i], want[i])
			}
		}
		if wantWhy[2] != map66.ReasonNotMine || wantWhy[0] != map66.ReasonNone || wantWhy[1] != map66.ReasonNone {
			t.Errorf("fixture reasons %v", wantWhy)
		}
	}
}

// BenchmarkServeBurst is the daemon's cost per packet for a full burst of
// 1500-byte packets in TUN-read-sized buffers (mapping them alternately
// out and back, so they need no restoring), with the buffers laid out as
// tunbatch.Buffers does (staggered) and as one make each would leave them
// (aligned: every header at the same offset in its page).
func BenchmarkServeBurst(b *testing.B) {
	out, err := map66.New([]map66.Rule{{Internal: mustPrefix("fd01:203:405::/48"), External: mustPrefix("2001:db8:1::/48")}}, map66.Options{})
	if err != nil {
		b.Fatal(err)
	}
	back, err := map66.New([]map66.Rule{{Internal: mustPrefix("2001:db8:1::/48"), External: mustPrefix("fd01:203:405::/48")}}, map66.Options{})
	if err != nil {
		b.Fatal(err)
	}
	src, far := netip.MustParseAddr("fd01:203:405:1::1234"), netip.MustParseAddr("2001:db8:ffff::1")
	pkt := testpkt.IPv6{Src: src, Dst: far}.Packet(17, testpkt.UDP(src, far, 1, 2, make([]byte, 1500-48)))
	const n, size = 128, offset + 65535 // tunbatch's two batches of wireguard-go's 64
	for _, layout := range []string{"aligned", "staggered"} {
		b.Run("layout="+layout, func(b *testing.B) {
			bufs := tunbatch.Buffers(n, size)
			if layout == "aligned" {
				for i := range bufs {
					bufs[i] = make([]byte, size)
				}
			}
			for _, buf := range bufs {
				copy(buf[offset:], pkt)
			}
			var bu burst
			ms := [2]*map66.Mapper{out, back}
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer() // the ring's buffers are not the measured work
			for i := 0; i < b.N; i += n {
				bu.reset()
				for _, buf := range bufs[:min(n, b.N-i)] {
					bu.add(buf[offset:offset+len(pkt)], buf[:offset+len(pkt)])
				}
				if why := bu.mapBoth(ms[i/n&1]); why[0] != map66.ReasonNone {
					b.Fatal(why[0])
				}
			}
		})
	}
}
