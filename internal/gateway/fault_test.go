package gateway

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// Hardening: faults and bad input that must be refused cleanly. Each test
// name starts with TestFault; docs/faults.md lists them.

// One number must not kill the gateway: table sizes are bounded, checked
// against the machine's memory without allocating, and refused with the
// field named, by check-config as by a (re)load.
func TestFaultTableSizes(t *testing.T) {
	nat64 := func(opts string) string {
		return `{"tun": {"name": "xlat0"}, "instances": [{"name": "n", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
		  "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}], ` + opts + `}}]}`
	}
	saved := physicalMemory
	defer func() { physicalMemory = saved }()
	physicalMemory = func() uint64 { return 1 << 30 } // a 1 GiB machine
	for _, tc := range []struct{ opts, want string }{
		{`"max-sessions": 20000000000`, "max-sessions: 20000000000 is more than the tables index (268435456)"},
		{`"expected-sessions": 20000000000`, "expected-sessions: 20000000000 is more than the tables index"},
		{`"expected-sessions": -1000`, "expected-sessions: -1000 is negative"},
		{`"max-sessions": -1`, "max-sessions: -1 is negative"},
		{`"max-sessions": 50000000`, "nat64.max-sessions (expected-sessions defaults to it): 50000000 sessions would take 1.0 GiB of table memory up front, more than half of this machine's 1.0 GiB"},
		{`"max-sessions": 10000000, "expected-sessions": 1000`, "nat64.max-sessions: 10000000 sessions would take up to 2.0 GiB of table memory, more than this machine's 1.0 GiB"},
	} {
		_, err := parseConfig([]byte(nat64(tc.opts)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", tc.opts, err, tc.want)
		}
	}
	// What fits is taken.
	if _, err := parseConfig([]byte(nat64(`"max-sessions": 1000000`))); err != nil {
		t.Errorf("a million sessions on 1 GiB: %v", err)
	}
}

// A sync key is a secret and must be one: a key file others can read is
// refused as ssh refuses such a private key, and so are short keys and
// one octet repeated (the all-zero placeholder among them).
func TestFaultSyncKeys(t *testing.T) {
	dir := t.TempDir()
	config := func(sync string) []byte {
		return []byte(`{"tun": {"name": "xlat0"}, "instances": [{"name": "n", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
		  "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]},
		  "sync": {"listen": "198.51.100.1:6464", "peers": ["198.51.100.2:6464"], ` + sync + `}}]}`)
	}
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode) // past the umask
		return p
	}
	good := "6b2f8e1c9a7d4e3b5f0a1c2d3e4f5a6b5a1f0e9d8c7b6a5948372615f4e3d2c1"
	for _, tc := range []struct{ sync, want string }{
		{`"key-file": "` + file("world", good, 0o644) + `"`, "readable or writable by group or others (mode 0644); chmod 600 it"},
		{`"key-file": "` + file("group", good, 0o640) + `"`, "(mode 0640)"},
		{`"key-file": "` + file("short", "00112233445566778899aabbccddeeff", 0o600) + `"`, "16 octets, want at least 32"},
		{`"key-file": "` + file("zero", strings.Repeat("00", 32), 0o600) + `"`, "every octet is 0x00: not a key"},
		{`"key": "` + strings.Repeat("41", 40) + `"`, "every octet is 0x41: not a key"},
		{`"key": "00112233445566778899aabbccddeeff"`, "16 octets, want at least 32"},
	} {
		if _, err := parseConfig(config(tc.sync)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", tc.sync, err, tc.want)
		}
	}
	if _, err := parseConfig(config(`"key-file": "` + file("ok", good+"\n", 0o600) + `"`)); err != nil {
		t.Errorf("a 0600 file with a 32-octet key: %v", err)
	}
}

// A reload refused for one instance changes no instance: everything is
// checked before anything is applied (a restart-only change to the last
// instance once left the first one's pool4 changed).
func TestFaultReloadAllOrNothing(t *testing.T) {
	const key = `"key": "6b2f8e1c9a7d4e3b5f0a1c2d3e4f5a6b5a1f0e9d8c7b6a5948372615f4e3d2c1"`
	config := func(eam6, pool4, peer string) []byte {
		return []byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"}, "instances": [
		  {"name": "dc", "type": "siit", "siit": {"pool6": "2001:db8:46::/96", "eamt": [{"ipv4": "198.51.100.80/32", "ipv6": "` + eam6 + `/128"}]}},
		  {"name": "a", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96", "pool4": [{"protocol": "UDP", "prefix": "` + pool4 + `/32"}]}},
		  {"name": "b", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96", "pool4": [{"protocol": "UDP", "prefix": "203.0.113.200/32"}]},
		   "sync": {"listen": "198.51.100.1:6464", "peers": ["` + peer + `"], ` + key + `}}]}`)
	}
	old, err := parseConfig(config("2001:db8:c::80", "203.0.113.1", "198.51.100.2:6464"))
	if err != nil {
		t.Fatal(err)
	}
	// Every instance changes; the last one's change needs a restart.
	next, err := parseConfig(config("2001:db8:c::81", "203.0.113.9", "198.51.100.3:6464"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reload(old, next, nil); err == nil || !strings.Contains(err.Error(), "instance b: sync: changes need a restart") {
		t.Fatalf("reload: %v", err)
	}
	for _, in := range old.insts {
		switch in.name {
		case "a":
			if p := in.NAT64().Pool4()[0].Prefix; p.Addr().String() != "203.0.113.1" {
				t.Errorf("instance a's pool4 is %v after the refused reload", p)
			}
		case "dc":
			if e := in.SIIT().Config().EAMT; len(e) != 1 || e[0].IPv6.Addr().String() != "2001:db8:c::80" {
				t.Errorf("instance dc's EAMT is %v after the refused reload", e)
			}
		}
	}
	// Without the restart-only change the same reload goes through whole.
	next, _ = parseConfig(config("2001:db8:c::81", "203.0.113.9", "198.51.100.2:6464"))
	if _, err := reload(old, next, nil); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, in := range old.insts {
		if in.name == "a" && in.NAT64().Pool4()[0].Prefix.Addr().String() != "203.0.113.9" {
			t.Errorf("instance a's pool4 is %v after the reload", in.NAT64().Pool4()[0].Prefix)
		}
	}
}

// Fault item 8: af-xdp.frames allowed 4 GiB a receive queue, times the
// queues, allocated and locked at start without a look at the machine.
func TestFaultFrameMemory(t *testing.T) {
	saved := physicalMemory
	defer func() { physicalMemory = saved }()
	physicalMemory = func() uint64 { return 1 << 30 } // a 1 GiB machine
	base := `{"instances": [{"name": "a", "type": "siit", "siit": {"pool6": "64:ff9b::/96"}}], "af-xdp": {"interfaces": ["eth0"], "frames": FRAMES}}`
	if _, err := parseConfig([]byte(strings.Replace(base, "FRAMES", "1048576", 1))); err == nil || !strings.Contains(err.Error(), "af-xdp.frames") || !strings.Contains(err.Error(), "more than half") {
		t.Errorf("4 GiB of frames on a 1 GiB machine: %v", err)
	}
	if _, err := parseConfig([]byte(strings.Replace(base, "FRAMES", "65536", 1))); err != nil {
		t.Errorf("256 MiB of frames on a 1 GiB machine: %v", err)
	}
	// The queues multiply it: what fits one queue may not fit eight.
	if err := umemFits(65536, 1); err != nil {
		t.Errorf("one queue of 256 MiB: %v", err)
	}
	if err := umemFits(65536, 8); err == nil || !strings.Contains(err.Error(), "8 receive queues") {
		t.Errorf("eight queues of 256 MiB on a 1 GiB machine: %v", err)
	}
}

// Fault item 18: a packet routed to the gateway that no instance claims
// was dropped without a word; a router answers it with Destination
// Unreachable, no route (RFC 4443 §3.1, RFC 1812 §5.2.7.1), from its own
// address, and says nothing about ICMP errors or to groups.
func TestFaultUnclaimedAnswered(t *testing.T) {
	l, err := parseConfig([]byte(`{"tun": {"name": "xlat0", "ipv4-address": "192.0.2.1", "ipv6-address": "2001:db8:c::1"},
	  "instances": [{"name": "nat64", "type": "nat64", "nat64": {"pool6": "2001:db8:64::/96",
	    "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]}}],
	  "rules": [{"prefix": "192.0.2.0/25", "instance": "nat64"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	g := quietGateway(l)
	if g.noRoute, err = newNoRoute(l.cfg.TUN); err != nil {
		t.Fatal(err)
	}
	c6, s4 := netip.MustParseAddr("2001:db8:c::10"), netip.MustParseAddr("198.51.100.7")
	out6 := netip.MustParseAddr("2001:db8:64::c000:2c8") // 192.0.2.200: no rule gives it an instance
	own6, own4 := netip.MustParseAddr("2001:db8:c::1"), netip.MustParseAddr("192.0.2.1")
	out4 := netip.MustParseAddr("203.0.113.9")
	udp6 := testpkt.IPv6{Src: c6, Dst: out6, HopLimit: 64}.Packet(header.ProtoUDP, testpkt.UDP(c6, out6, 1000, 53, []byte("abcd")))
	udp4 := testpkt.IPv4{Src: s4, Dst: out4, TTL: 64}.Packet(header.ProtoUDP, testpkt.UDP(s4, out4, 1000, 53, []byte("abcd")))
	for _, tc := range []struct {
		name string
		pkt  []byte
		want []byte // nil: nothing sent
	}{
		{"IPv6 to a pool6 address no rule serves", udp6,
			testpkt.IPv6{Src: own6, Dst: c6}.Packet(header.ProtoICMPv6, testpkt.ICMPError(own6, c6, header.ICMPv6DstUnreachable, header.ICMPv6CodeNoRoute, 0, udp6))},
		{"IPv4 to an address outside pool4", udp4,
			testpkt.IPv4{Src: own4, Dst: s4}.Packet(header.ProtoICMPv4, testpkt.ICMPError(own4, s4, header.ICMPv4DstUnreachable, header.ICMPv4CodeNetUnreach, 0, udp4))},
		{"an ICMPv6 error no instance claims",
			testpkt.IPv6{Src: c6, Dst: out6, HopLimit: 64}.Packet(header.ProtoICMPv6, testpkt.ICMPError(c6, out6, header.ICMPv6DstUnreachable, 0, 0, make([]byte, 48))),
			nil},
	} {
		buf := make([]byte, readOffset+len(tc.pkt)+64)
		copy(buf[readOffset:], tc.pkt)
		r, ok := g.translatePacket(l, buf, readOffset, len(tc.pkt))
		if !ok {
			t.Errorf("%s: taken as a control datagram", tc.name)
			continue
		}
		if tc.want == nil {
			if r.Verdict != translate.Drop {
				t.Errorf("%s: %v, want nothing sent", tc.name, r.Verdict)
			}
			continue
		}
		if r.Verdict != translate.Reply {
			t.Errorf("%s: %v/%v, want an ICMP error", tc.name, r.Verdict, r.Reason)
			continue
		}
		got := buf[r.Start:r.End]
		// The IPv4 error's Identification is the translator's to pick.
		if got[0]>>4 == 4 {
			copy(tc.want[4:6], got[4:6])
			header.IPv4(tc.want).SetChecksum(0)
			header.IPv4(tc.want).SetChecksum(header.IPv4(tc.want).CalculateChecksum())
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, got, tc.want)
		}
	}
	if n := g.noRoute.answered.Load(); n != 3 {
		t.Errorf("%d unclaimed packets counted, want 3", n)
	}
}
