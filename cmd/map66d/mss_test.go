package main

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/strictjson"
	"github.com/v6xlat/xlat/internal/testpkt"
)

func TestClampMSSConfig(t *testing.T) {
	for _, tc := range []struct {
		json string
		want *ClampMSS
		err  string
	}{
		{`{"clamp-mss": 1280}`, &ClampMSS{MTU: 1280}, ""},
		{`{"clamp-mss": "interface"}`, &ClampMSS{FromIface: true}, ""},
		{`{}`, nil, ""},
		{`{"clamp-mss": 1000}`, nil, "outside 1280..65535"},
		{`{"clamp-mss": "route"}`, &ClampMSS{FromRoute: true}, ""},
		{`{"clamp-mss": "pmtu"}`, nil, `"pmtu" is not an MTU, "interface" or "route"`},
		{`{"clamp-mss": true}`, nil, "not an MTU"},
	} {
		var c Config
		err := strictjson.Decode([]byte(tc.json), &c, "test")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "clamp-mss") {
				t.Errorf("%s: %v, want an error naming clamp-mss with %q", tc.json, err, tc.err)
			}
			continue
		}
		if err != nil || (c.ClampMSS == nil) != (tc.want == nil) || c.ClampMSS != nil && *c.ClampMSS != *tc.want {
			t.Errorf("%s: %+v %v", tc.json, c.ClampMSS, err)
		}
	}
}

// clampSYN lowers a SYN's MSS with a valid checksum, both ways; a SYN
// without the option, a segment that is no SYN and a SYN behind an
// extension header pass unchanged.
func TestClampSYN(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:ffff::80")
	mssOpt := []byte{2, 4, 0x05, 0xa0, 1, 3, 3, 7} // 1440
	seg := func(flags uint8, opts []byte) []byte {
		return testpkt.IPv6{Src: a, Dst: b, HopLimit: 64}.Packet(header.ProtoTCP, testpkt.TCPOptions(a, b, 40000, 80, flags, opts, nil))
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"SYN", seg(header.TCPFlagSYN, mssOpt), true},
		{"SYN-ACK", seg(header.TCPFlagSYN|header.TCPFlagACK, mssOpt), true},
		{"no option", seg(header.TCPFlagSYN, nil), false},
		{"ACK", seg(header.TCPFlagACK, mssOpt), false},
		{"behind a header", testpkt.IPv6{Src: a, Dst: b, HopLimit: 64}.Packet(header.ProtoFragment, append([]byte{header.ProtoTCP, 0, 0, 0, 0, 0, 0, 1}, testpkt.TCPOptions(a, b, 40000, 80, header.TCPFlagSYN, mssOpt, nil)...)), false},
	} {
		before := append([]byte(nil), tc.pkt...)
		if got := clampSYN(tc.pkt, 1220, nil); got != tc.want {
			t.Errorf("%s: clamped %v, want %v", tc.name, got, tc.want)
		}
		if !tc.want {
			if string(before) != string(tc.pkt) {
				t.Errorf("%s: changed", tc.name)
			}
			continue
		}
		tcp := header.TCP(tc.pkt[header.IPv6Size:])
		if mss, _ := tcp.MSS(); mss != 1220 {
			t.Errorf("%s: MSS %d", tc.name, mss)
		}
		if !checksum.Verify(tcp, checksum.PseudoHeader6(a, b, header.ProtoTCP, uint32(len(tcp)))) {
			t.Errorf("%s: bad checksum after clamping", tc.name)
		}
	}
}

// Fault item 17: 1,000 SYNs a second from random sources spent the route
// lookups, and a user's SYN into a 1280-octet tunnel then left with the
// interfaces' MSS 1440 instead of 1220. Past the lookup rate a SYN now
// gets the IPv6 minimum MTU's limit, which holds on any route.
func TestFaultClampBudgetExhausted(t *testing.T) {
	user, tunnel := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:ffff::80")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	lookup := func(a netip.Addr) (int, error) {
		if a == tunnel {
			return 1280, nil
		}
		return 1500, nil
	}
	syn := func(src, dst netip.Addr) []byte {
		return testpkt.IPv6{Src: src, Dst: dst, HopLimit: 64}.Packet(header.ProtoTCP,
			testpkt.TCPOptions(src, dst, 40000, 80, header.TCPFlagSYN, []byte{2, 4, 0x05, 0xa0, 1, 3, 3, 7}, nil)) // MSS 1440
	}
	for _, seen := range []bool{false, true} {
		r := &routeMTUs{now: func() time.Time { return now }, cache: map[netip.Addr]routeMTU{}, lookup: lookup}
		if seen { // an earlier connection through the tunnel, its entry since expired
			clampSYN(syn(user, tunnel), 1440, r)
			now = now.Add(routeMTUTTL + time.Second)
		}
		for i := range routeLookups {
			src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xbb, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
			clampSYN(syn(src, user), 1440, r)
		}
		pkt := syn(user, tunnel)
		clampSYN(pkt, 1440, r)
		if mss, _ := header.TCP(pkt[header.IPv6Size:]).MSS(); mss != 1220 {
			t.Errorf("tunnel seen before %v: the user's SYN into the tunnel after a flood: MSS %d, want 1220", seen, mss)
		}
	}
}

// A reload whose clamp-mss cannot be worked out (an interface that is
// not there) is refused and changes nothing, the clamp in force included.
func TestRefusedClampReload(t *testing.T) {
	cfg := Config{TUN: "map66", MTU: 1500, Table: 66, ClampMSS: &ClampMSS{MTU: 1400},
		Rules: []Rule{{Interface: "m1", Internal: netip.MustParsePrefix("fd01::/48"), External: netip.MustParsePrefix("2001:db8:1::/48")}}}
	r := &routing{}
	m := newTestMapping(t, cfg, r)
	m.ifaceMTU = func([]Rule) (int, error) { return 0, errors.New(`interface "m1": no such network interface`) }
	if mss := m.live.Load().mss; mss != 1340 {
		t.Fatalf("clamp to MTU 1400: %d", mss)
	}
	next := cfg
	next.ClampMSS = &ClampMSS{FromIface: true}
	if err := m.reload(next); err == nil || !strings.Contains(err.Error(), "clamp-mss") {
		t.Fatalf("reload: %v, want a refusal naming clamp-mss", err)
	}
	if m.live.Load().mss != 1340 || m.cfg.ClampMSS.FromIface {
		t.Errorf("the refused reload changed the clamp: %d, %+v", m.live.Load().mss, m.cfg.ClampMSS)
	}
	m.ifaceMTU = func([]Rule) (int, error) { return 1280, nil }
	if err := m.reload(next); err != nil || m.live.Load().mss != 1220 {
		t.Errorf("reload to the interface's 1280: %v, MSS %d", err, m.live.Load().mss)
	}
}

// "route": a SYN's limit is the smaller route MTU of its two ends (the
// way in through a 1280-octet tunnel limits a SYN-ACK going out of it
// too), looked up once per address and cached; beyond the lookup rate,
// and where no route is found, the interfaces' limit holds.
func TestClampSYNByRoute(t *testing.T) {
	lan, remote, far := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:ffff::80"), netip.MustParseAddr("2001:db8:eeee::1")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	lookups := 0
	r := &routeMTUs{now: func() time.Time { return now }, cache: map[netip.Addr]routeMTU{}, lookup: func(a netip.Addr) (int, error) {
		lookups++
		switch a {
		case lan:
			return 1500, nil
		case remote:
			return 1280, nil // the default route, through the tunnel
		}
		return 0, errors.New("no route")
	}}
	syn := func(src, dst netip.Addr, flags uint8) []byte {
		return testpkt.IPv6{Src: src, Dst: dst, HopLimit: 64}.Packet(header.ProtoTCP,
			testpkt.TCPOptions(src, dst, 40000, 80, flags, []byte{2, 4, 0x05, 0xa0, 1, 3, 3, 7}, nil)) // MSS 1440
	}
	mssOf := func(pkt []byte) uint16 {
		mss, _ := header.TCP(pkt[header.IPv6Size:]).MSS()
		return mss
	}
	const ifaces = 1440 // what "interface" would give: the smallest interface MTU 1500, less 60
	for _, tc := range []struct {
		name     string
		pkt      []byte
		want     uint16
		lookedUp int
	}{
		{"SYN into the tunnel", syn(lan, remote, header.TCPFlagSYN), 1220, 2},
		{"SYN-ACK out of it", syn(remote, lan, header.TCPFlagSYN|header.TCPFlagACK), 1220, 2},
		{"no route one way: the other's", syn(remote, far, header.TCPFlagSYN), 1220, 3},
		{"no route either way: the interfaces'", syn(far, netip.MustParseAddr("2001:db8:eeee::2"), header.TCPFlagSYN), ifaces, 4},
	} {
		pkt := tc.pkt
		clampSYN(pkt, ifaces, r)
		if mssOf(pkt) != tc.want || lookups != tc.lookedUp {
			t.Errorf("%s: MSS %d after %d lookups, want %d after %d", tc.name, mssOf(pkt), lookups, tc.want, tc.lookedUp)
		}
		if !checksum.Verify(pkt[header.IPv6Size:], checksum.PseudoHeader6(header.IPv6(pkt).Src(), header.IPv6(pkt).Dst(), header.ProtoTCP, uint32(len(pkt)-header.IPv6Size))) {
			t.Errorf("%s: bad checksum", tc.name)
		}
	}
	// A flood to new addresses: lookups stop at the rate; the rest get
	// the IPv6 minimum without asking the kernel.
	for i := range 3 * routeLookups {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xdd, 14: byte(i >> 8), 15: byte(i)})
		pkt := syn(lan, a, header.TCPFlagSYN)
		clampSYN(pkt, ifaces, r)
		if i >= routeLookups && mssOf(pkt) != 1220 {
			t.Fatalf("SYN %d of the flood, past the lookup rate: MSS %d, want the IPv6 minimum's 1220", i, mssOf(pkt))
		}
	}
	if lookups > 4+routeLookups {
		t.Errorf("%d lookups for a flood of 3000 SYNs within a second; want at most %d", lookups, routeLookups)
	}
	// Cached for routeMTUTTL, then asked again.
	before := lookups
	now = now.Add(2 * time.Second)
	clampSYN(syn(lan, remote, header.TCPFlagSYN), ifaces, r)
	if lookups != before {
		t.Errorf("a cached route was looked up again")
	}
	now = now.Add(routeMTUTTL)
	clampSYN(syn(lan, remote, header.TCPFlagSYN), ifaces, r)
	if lookups != before+2 {
		t.Errorf("%d lookups after the cache expired, want 2", lookups-before)
	}
}
