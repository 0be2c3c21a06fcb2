package main

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

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
		{`{"clamp-mss": "route"}`, nil, `"route" is neither an MTU nor "interface"`},
		{`{"clamp-mss": true}`, nil, "neither an MTU"},
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
		if got := clampSYN(tc.pkt, 1220); got != tc.want {
			t.Errorf("%s: clamped %v, want %v", tc.name, got, tc.want)
		}
		if !tc.want {
			if string(before) != string(tc.pkt) {
				t.Errorf("%s: changed", tc.name)
			}
			continue
		}
		tcp := header.TCP(tc.pkt[header.IPv6Size:])
		if mss := binary.BigEndian.Uint16(tcp[tcp.MSSOffset():]); mss != 1220 {
			t.Errorf("%s: MSS %d", tc.name, mss)
		}
		if !checksum.Verify(tcp, checksum.PseudoHeader6(a, b, header.ProtoTCP, uint32(len(tcp)))) {
			t.Errorf("%s: bad checksum after clamping", tc.name)
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
	mss, err := m.mssLimit(cfg)
	if err != nil || mss != 1340 {
		t.Fatalf("clamp to MTU 1400: %d %v", mss, err)
	}
	m.mss.Store(uint32(mss))
	next := cfg
	next.ClampMSS = &ClampMSS{FromIface: true}
	if err := m.reload(next); err == nil || !strings.Contains(err.Error(), "clamp-mss") {
		t.Fatalf("reload: %v, want a refusal naming clamp-mss", err)
	}
	if m.mss.Load() != 1340 || m.cfg.ClampMSS.FromIface {
		t.Errorf("the refused reload changed the clamp: %d, %+v", m.mss.Load(), m.cfg.ClampMSS)
	}
	m.ifaceMTU = func([]Rule) (int, error) { return 1280, nil }
	if err := m.reload(next); err != nil || m.mss.Load() != 1220 {
		t.Errorf("reload to the interface's 1280: %v, MSS %d", err, m.mss.Load())
	}
}
