package nat64

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/v6xlat/xlat/translate"
)

// The configuration's text forms read and write Jool's spellings.
func TestConfigText(t *testing.T) {
	for p, want := range map[Protocol]string{TCP: "TCP", UDP: "UDP", ICMP: "ICMP", 47: "proto47"} {
		if got := p.String(); got != want {
			t.Errorf("Protocol(%d): %q, want %q", uint8(p), got, want)
		}
	}
	e := Endpoint{netip.MustParseAddrPort("192.0.2.1:8080")}
	if b, _ := e.MarshalText(); string(b) != "192.0.2.1#8080" {
		t.Errorf("endpoint written as %q", b)
	}
	for s, want := range map[string]string{
		"192.0.2.1#8080": "192.0.2.1:8080", "2001:db8::1#53": "[2001:db8::1]:53", "[2001:db8::1]:53": "[2001:db8::1]:53",
		"192.0.2.1#65536": "", "x#1": "", "192.0.2.1:x": "", "192.0.2.1": "",
	} {
		var e Endpoint
		err := e.UnmarshalText([]byte(s))
		if want == "" && err == nil || want != "" && (err != nil || e.String() != want) {
			t.Errorf("endpoint %q: %v %v, want %q", s, e, err, want)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "0:00:00", time.Hour + 2*time.Minute + 3*time.Second: "1:02:03", 59*time.Minute + 59*time.Second: "0:59:59", 100 * time.Hour: "100:00:00",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("%v written as %q, want %q", d, got, want)
		}
	}
	// Go durations: neither negative nor past MaxDuration.
	for s, want := range map[string]time.Duration{"5m": 5 * time.Minute, "0s": 0, "87600h": MaxDuration, "87600h1ns": -1, "-1ns": -1, "5 minutes": -1, "1:02": -1, "1:-2:03": -1} {
		var d Duration
		err := d.UnmarshalText([]byte(s))
		if want < 0 && err == nil || want >= 0 && (err != nil || time.Duration(d) != want) {
			t.Errorf("%q: %v %v, want %v", s, time.Duration(d), err, want)
		}
	}
}

// The defaults and minimums of RFC 6146 §4 (and RFC 5382 REQ-5 for an
// established TCP session, RFC 6146 §3.5.2.2 for an incoming SYN): a
// change of them is a change of behaviour the RFC defines.
func TestTimeoutValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"UDP default", DefaultUDPTimeout, 5 * time.Minute},
		{"UDP minimum", MinUDPTimeout, 2 * time.Minute},
		{"TCP established default", DefaultTCPEstTimeout, 2 * time.Hour},
		{"TCP established minimum", MinTCPEstTimeout, 2 * time.Hour},
		{"TCP transitory default", DefaultTCPTransTimeout, 4 * time.Minute},
		{"TCP transitory minimum", MinTCPTransTimeout, 4 * time.Minute},
		{"ICMP query default", DefaultICMPTimeout, time.Minute},
		{"incoming SYN", TCPIncomingSYNTimeout, 6 * time.Second},
		{"longest configurable", MaxDuration, 10 * 365 * 24 * time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// standby-pool4 takes prefixes of /16 or longer, every address of them.
func TestStandbyPool4(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.StandbyPool4 = []netip.Prefix{netip.MustParsePrefix("198.51.0.0/16"), netip.MustParsePrefix("203.0.113.6/31")}
	s, err := cfg.validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"198.51.0.0", "198.51.255.255", "203.0.113.6", "203.0.113.7"} {
		if !s.standby[v4u(netip.MustParseAddr(a))] {
			t.Errorf("%s is not standby", a)
		}
	}
	if len(s.standby) != 1<<16+2 {
		t.Errorf("%d standby addresses, want %d", len(s.standby), 1<<16+2)
	}
	cfg.StandbyPool4 = []netip.Prefix{netip.MustParsePrefix("198.50.0.0/15")}
	if _, err := cfg.validate(nil); err == nil || !strings.Contains(err.Error(), "standby-pool4[0]") {
		t.Errorf("a /15: %v", err)
	}
}

// reserving is a Broker that only reserves ports.
type reserving struct {
	addr        netip.Addr
	first, last uint16
}

func (b reserving) Addr() netip.Addr                                     { return b.addr }
func (b reserving) Out(netip.Addr, netip.AddrPort, bool) (uint16, Claim) { return 0, NotClaimed }
func (b reserving) In(netip.Addr, uint16, bool) (netip.AddrPort, Claim) {
	return netip.AddrPort{}, NotClaimed
}
func (b reserving) ReservedPorts() (first, last uint16)               { return b.first, b.last }
func (b reserving) Park([]byte, bool)                                 {}
func (b reserving) SessionCreated(netip.Addr, netip.AddrPort, uint16) {}

// A broker's reserved ports of N must lie outside every pool4 range of N
// (docs/handoff-protocol.md §3); the error says where to start instead.
func TestBrokerReservedPorts(t *testing.T) {
	clock := newClock()
	n := netip.MustParseAddr("192.0.2.9")
	for _, c := range []struct {
		name        string
		prefix      string
		ports       PortRange
		first, last uint16
		ok          bool
	}{
		{"range after them", "192.0.2.9/32", PortRange{1028, 65535}, 1024, 1027, true},
		{"range starting on the last", "192.0.2.9/32", PortRange{1027, 65535}, 1024, 1027, false},
		{"range ending on the first", "192.0.2.9/32", PortRange{1, 1024}, 1024, 1027, false},
		{"range ending before them", "192.0.2.9/32", PortRange{1, 1023}, 1024, 1027, true},
		{"range inside them", "192.0.2.9/32", PortRange{1025, 1026}, 1024, 1027, false},
		{"none reserved", "192.0.2.9/32", PortRange{1, 65535}, 1028, 1027, true},
		{"every port of N", "192.0.2.9/32", PortRange{1, 65535}, 1024, 1027, false},
		{"N in a larger prefix", "192.0.2.8/30", PortRange{1, 65535}, 1024, 1027, false},
		{"a prefix ending before N", "192.0.2.8/32", PortRange{1, 65535}, 1024, 1027, true},
		{"a prefix starting after N", "192.0.2.10/31", PortRange{1, 65535}, 1024, 1027, true},
		{"one port reserved", "192.0.2.9/32", PortRange{1, 65535}, 1024, 1024, false},
	} {
		cfg := testConfig(clock)
		cfg.Pool4 = append(cfg.Pool4, Pool4Entry{Protocol: UDP, Prefix: netip.PrefixFrom(n, 32), Ports: PortRange{2000, 2000}},
			Pool4Entry{Protocol: TCP, Prefix: netip.MustParsePrefix(c.prefix), Ports: c.ports})
		_, err := cfg.validate(reserving{n, c.first, c.last})
		want := fmt.Sprintf("include the handoff control ports %d-%d; start the range at %d", c.first, c.last, c.last+1)
		if c.ok && err != nil || !c.ok && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TableMemory's up-front figure is what New allocates for the indexes;
// its full figure covers the tables once max sessions exist.
func TestTableMemory(t *testing.T) {
	clock := newClock()
	indexBytes := func(x *Translator) uint64 {
		n := len(x.bib.by6.slots) + len(x.bib.by4.slots)
		for _, sh := range x.shards {
			n += len(sh.by6.slots) + len(sh.by4.slots)
		}
		return uint64(n) * uint64(unsafe.Sizeof(uint32(0)))
	}
	for _, expected := range []int{0, 11, 12, 13, 100, 64 * 13, 5000, 1 << 16} {
		cfg := testConfig(clock)
		cfg.ExpectedSessions = expected
		x := newTest(t, cfg)
		if up, _ := TableMemory(expected, expected); up != indexBytes(x) {
			t.Errorf("expected %d: up front %d, New allocated %d", expected, up, indexBytes(x))
		}
	}
	// Full: max sessions, each with its own BIB entry.
	const max = 3000
	cfg := testConfig(clock)
	cfg.MaxSessions, cfg.ExpectedSessions = max, 16
	x := newTest(t, cfg)
	for i := 0; i < max; i++ {
		src := host(i)
		if _, r := xl(x, udp6(src, 1000, h2, 53)); r.Verdict == translate.Drop {
			t.Fatalf("session %d: %v", i, r)
		}
	}
	used := indexBytes(x)
	for _, sh := range x.shards {
		used += uint64(cap(sh.slab)) * uint64(unsafe.Sizeof(session{}))
	}
	used += uint64(cap(x.bib.slab)) * uint64(unsafe.Sizeof(bibEntry{}))
	up, full := TableMemory(16, max)
	if full < used || full > 3*used || up > full {
		t.Errorf("%d sessions: estimated %d up front, %d full; the tables take %d", max, up, full, used)
	}
	// Its parts: what a session costs (the step from max to max+1, both
	// in one power of two of index), and the indexes grown for max.
	_, more := TableMemory(16, max+1)
	perSession := more - full
	if idx := full - max*perSession; idx < indexBytes(x) || idx > 2*indexBytes(x) {
		t.Errorf("%d sessions: %d octets of index estimated, the indexes take %d", max, idx, indexBytes(x))
	}
	for n, want := range map[uint64]string{5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 1<<30 - 1: "1024.0 MiB", 1 << 30: "1.0 GiB", 1 << 40: "1.0 TiB", 3 << 41: "6.0 TiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("%d octets written as %q, want %q", n, got, want)
		}
	}
}
