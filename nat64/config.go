package nat64

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/internal/strictjson"
	"github.com/v6xlat/xlat/translate"
)

// Protocol is a BIB and session table: TCP, UDP or ICMP (queries).
type Protocol uint8

// The three tables, by the IPv4 protocol number of their flows.
const (
	TCP  Protocol = header.ProtoTCP
	UDP  Protocol = header.ProtoUDP
	ICMP Protocol = header.ProtoICMPv4
)

// String returns the protocol's name as Jool writes it.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case ICMP:
		return "ICMP"
	}
	return "proto" + strconv.Itoa(int(p))
}

// MarshalText implements encoding.TextMarshaler, with Jool's names.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: TCP, UDP or ICMP, in
// any case.
func (p *Protocol) UnmarshalText(b []byte) error {
	switch strings.ToUpper(string(b)) {
	case "TCP":
		*p = TCP
	case "UDP":
		*p = UDP
	case "ICMP":
		*p = ICMP
	default:
		return fmt.Errorf("%q is not TCP, UDP or ICMP", b)
	}
	return nil
}

// PortRange is an inclusive range of ports (or ICMP identifiers), written
// "min-max" as Jool does.
type PortRange struct{ Min, Max uint16 }

// MarshalText implements encoding.TextMarshaler: "min-max".
func (r PortRange) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("%d-%d", r.Min, r.Max)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: "min-max".
func (r *PortRange) UnmarshalText(b []byte) error {
	lo, hi, found := strings.Cut(string(b), "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	z, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || a > z {
		return fmt.Errorf("%q is not a port range like 1024-65535", b)
	}
	r.Min, r.Max = uint16(a), uint16(z)
	return nil
}

// Pool4Entry is a pool4 row (Jool's pool4 add): the IPv4 addresses of
// Prefix lend Ports to Protocol. Mark selects the pool for traffic a
// gateway rule labels with that mark.
type Pool4Entry struct {
	Protocol Protocol     `json:"protocol"`
	Prefix   netip.Prefix `json:"prefix"`
	Ports    PortRange    `json:"ports"`
	Mark     uint32       `json:"mark,omitempty"`
}

// StaticBIB is a manual BIB entry (Jool's bib add).
type StaticBIB struct {
	Protocol Protocol `json:"protocol"`
	IPv6     Endpoint `json:"ipv6"`
	IPv4     Endpoint `json:"ipv4"`
}

// Endpoint is a transport address that also reads Jool's "addr#port".
type Endpoint struct{ netip.AddrPort }

// MarshalText implements encoding.TextMarshaler, in Jool's "addr#port".
func (e Endpoint) MarshalText() ([]byte, error) {
	return []byte(e.Addr().String() + "#" + strconv.Itoa(int(e.Port()))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: Jool's "addr#port"
// or "[addr]:port".
func (e *Endpoint) UnmarshalText(b []byte) error {
	s := string(b)
	if a, p, ok := strings.Cut(s, "#"); ok {
		addr, err := netip.ParseAddr(a)
		port, err2 := strconv.ParseUint(p, 10, 16)
		if err != nil || err2 != nil {
			return fmt.Errorf("%q is not address#port", s)
		}
		e.AddrPort = netip.AddrPortFrom(addr, uint16(port))
		return nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%q is not address#port or [address]:port", s)
	}
	e.AddrPort = ap
	return nil
}

// Duration reads Jool's "H:MM:SS" as well as Go durations ("5m").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler, in Jool's "H:MM:SS".
func (d Duration) MarshalText() ([]byte, error) {
	t := time.Duration(d)
	return []byte(fmt.Sprintf("%d:%02d:%02d", int(t.Hours()), int(t.Minutes())%60, int(t.Seconds())%60)), nil
}

// MaxDuration is the longest Duration a configuration may give: ten
// years, far beyond any session lifetime, and far short of where
// nanoseconds overflow.
const MaxDuration = 87600 * time.Hour

// UnmarshalText implements encoding.TextUnmarshaler: "H:MM:SS" or a Go
// duration, neither negative nor longer than MaxDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if parts := strings.Split(s, ":"); len(parts) == 3 {
		var n [3]int
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil || v < 0 {
				return fmt.Errorf("%q is not H:MM:SS", s)
			}
			n[i] = v
		}
		if n[0] > int(MaxDuration/time.Hour) || n[1] > int(MaxDuration/time.Minute) || n[2] > int(MaxDuration/time.Second) {
			return fmt.Errorf("%q is longer than %s", s, Duration(MaxDuration))
		}
		t := time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second
		if t > MaxDuration {
			return fmt.Errorf("%q is longer than %s", s, Duration(MaxDuration))
		}
		*d = Duration(t)
		return nil
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither H:MM:SS nor a duration like 5m", s)
	}
	if t < 0 || t > MaxDuration {
		return fmt.Errorf("%q is outside 0..%s", s, Duration(MaxDuration))
	}
	*d = Duration(t)
	return nil
}

// String is d in Jool's "H:MM:SS".
func (d Duration) String() string {
	b, _ := d.MarshalText()
	return string(b)
}

// Timeouts are the session lifetimes (Jool's udp-timeout and friends).
type Timeouts struct {
	UDP      Duration `json:"udp,omitempty"`
	TCPEst   Duration `json:"tcp-est,omitempty"`
	TCPTrans Duration `json:"tcp-trans,omitempty"`
	ICMP     Duration `json:"icmp,omitempty"`
}

// RFC 6146 §4 defaults and minimums.
const (
	DefaultUDPTimeout      = 5 * time.Minute
	MinUDPTimeout          = 2 * time.Minute
	DefaultTCPEstTimeout   = 2 * time.Hour
	MinTCPEstTimeout       = 2 * time.Hour // with TCP_TRANS after it, RFC 5382 REQ-5's 2 h 4 min
	DefaultTCPTransTimeout = 4 * time.Minute
	MinTCPTransTimeout     = 4 * time.Minute
	DefaultICMPTimeout     = 60 * time.Second
	TCPIncomingSYNTimeout  = 6 * time.Second
)

// Config is a stateful NAT64 instance. JSON names are Jool's where Jool has
// the option.
type Config struct {
	Pool6     translate.Prefix `json:"pool6"`
	Pool4     []Pool4Entry     `json:"pool4"`
	StaticBIB []StaticBIB      `json:"bib,omitempty"`

	AddressDependentFiltering  bool  `json:"address-dependent-filtering,omitempty"`
	DropExternallyInitiatedTCP bool  `json:"drop-externally-initiated-tcp,omitempty"`
	DropICMPv6Info             bool  `json:"drop-icmpv6-info,omitempty"`
	SourceICMPv6ErrorsBetter   *bool `json:"source-icmpv6-errors-better,omitempty"` // default true
	MaxSimultaneousOpens       int   `json:"maximum-simultaneous-opens,omitempty"`  // default 10
	// AllowNonGlobalWKP lets 64:ff9b::/96 carry non-global IPv4 addresses,
	// which RFC 6052 §3.1 forbids (Jool does not check).
	AllowNonGlobalWKP bool     `json:"wkp-allow-non-global,omitempty"`
	Timeouts          Timeouts `json:"timeouts,omitempty"`

	// Limits (0 = none): sessions in all, per IPv6 source address and per
	// IPv6 /64. At a limit new flows are refused with ICMPv6 1/3 (RFC 6146
	// §3.5.1.1), established ones continue.
	MaxSessions          int `json:"max-sessions,omitempty"`
	MaxSessionsPerSource int `json:"max-sessions-per-source,omitempty"`
	MaxSessionsPer64     int `json:"max-sessions-per-64,omitempty"`
	// ExpectedSessions sizes the tables up front (MaxSessions when unset),
	// so that they need not grow under load.
	ExpectedSessions int `json:"expected-sessions,omitempty"`

	translate.Config

	// StandbyPool4 are pool4 addresses of a peer gateway (active/active
	// with session sync): their sessions are translated here when the
	// peer's traffic arrives, but no new binding ever takes them.
	StandbyPool4 []netip.Prefix `json:"standby-pool4,omitempty"`
}

// Collaborators are what a Translator works with, as opposed to what it
// is configured to do: they are given to New once and stay for its life,
// so Update, which takes a Config, cannot change or lose them.
type Collaborators struct {
	// Random is the source of the port-allocation secret (crypto/rand when
	// nil); tests make it deterministic.
	Random io.Reader
	// Allocator, when set, supplies IPv4 transport addresses instead of
	// pool4's own allocation.
	Allocator Allocator
	// Broker, when set, owns the ports of the flows it claims (the handoff
	// client); its address must be in pool4, in every Update too.
	Broker Broker
}

// ParseConfig reads a JSON configuration strictly: an unknown field, or a
// value of the wrong form, is an error that names the field.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	err := strictjson.Decode(data, &c, "nat64 config")
	return c, err
}

// settings is a validated Config with defaults, as the datapath reads it.
type settings struct {
	Config
	errorsBetter bool
	maxOpens     int
	timeouts     [numTimerClasses]uint32 // seconds
	pools        map[Protocol][]poolRange
	pool4Addrs   map[uint32]bool // pool4 and standby-pool4: what is translated
	standby      map[uint32]bool
	broker       Broker // the Translator's, for the datapath's one load
}

type poolRange struct {
	first, last uint32 // addresses
	ports       PortRange
	mark        uint32
}

func (c Config) validate(broker Broker) (*settings, error) {
	s := &settings{Config: c, broker: broker, pools: map[Protocol][]poolRange{}, pool4Addrs: map[uint32]bool{}, standby: map[uint32]bool{}}
	if !c.Pool6.IsValid() {
		return nil, fmt.Errorf("pool6: required (RFC 6146 §3: at least one Pref64::/n)")
	}
	s.errorsBetter = c.SourceICMPv6ErrorsBetter == nil || *c.SourceICMPv6ErrorsBetter
	s.maxOpens = c.MaxSimultaneousOpens
	if s.maxOpens == 0 {
		s.maxOpens = 10
	}
	if s.maxOpens < 0 {
		return nil, fmt.Errorf("maximum-simultaneous-opens: %d is negative", s.maxOpens)
	}
	if len(c.Pool4) == 0 {
		// An Allocator lends ports, but the addresses are still pool4's.
		return nil, fmt.Errorf("pool4: empty (RFC 6146 §3: at least one IPv4 address)")
	}
	for i, e := range c.Pool4 {
		if !e.Prefix.IsValid() || !e.Prefix.Addr().Is4() {
			return nil, fmt.Errorf("pool4[%d]: prefix %v is not an IPv4 prefix", i, e.Prefix)
		}
		if e.Prefix.Bits() < 16 {
			return nil, fmt.Errorf("pool4[%d]: prefix %v is larger than a /16", i, e.Prefix)
		}
		if e.Protocol != TCP && e.Protocol != UDP && e.Protocol != ICMP {
			return nil, fmt.Errorf("pool4[%d]: protocol must be TCP, UDP or ICMP", i)
		}
		ports := e.Ports
		if ports == (PortRange{}) {
			ports = PortRange{1, 65535}
			if e.Protocol != ICMP {
				ports.Min = 1024 // Jool's default keeps the well-known ports out
			}
		}
		first := v4u(e.Prefix.Masked().Addr())
		last := first | (1<<(32-e.Prefix.Bits()) - 1)
		s.pools[e.Protocol] = append(s.pools[e.Protocol], poolRange{first, last, ports, e.Mark})
		for a := first; ; a++ {
			s.pool4Addrs[a] = true
			if a == last {
				break
			}
		}
	}
	for i, p := range c.StandbyPool4 {
		if !p.IsValid() || !p.Addr().Is4() || p.Bits() < 16 {
			return nil, fmt.Errorf("standby-pool4[%d]: %v is not an IPv4 prefix of /16 or longer", i, p)
		}
		first := v4u(p.Masked().Addr())
		last := first | (1<<(32-p.Bits()) - 1)
		for a := first; ; a++ {
			if s.pool4Addrs[a] {
				return nil, fmt.Errorf("standby-pool4[%d]: %v is in pool4 too; a standby address belongs to the peer", i, ipword.From4(a))
			}
			s.standby[a] = true
			if a == last {
				break
			}
		}
	}
	for a := range s.standby {
		s.pool4Addrs[a] = true
	}
	d := func(v Duration, def, minimum time.Duration, name string) (uint32, error) {
		t := time.Duration(v)
		if t == 0 {
			t = def
		}
		if t < minimum {
			return 0, fmt.Errorf("timeouts.%s: %v is below the minimum %v (RFC 6146 §4)", name, t, minimum)
		}
		return uint32((t + time.Second - 1) / time.Second), nil
	}
	var err error
	if s.timeouts[classUDP], err = d(c.Timeouts.UDP, DefaultUDPTimeout, MinUDPTimeout, "udp"); err != nil {
		return nil, err
	}
	if s.timeouts[classTCPEst], err = d(c.Timeouts.TCPEst, DefaultTCPEstTimeout, MinTCPEstTimeout, "tcp-est"); err != nil {
		return nil, err
	}
	if s.timeouts[classTCPTrans], err = d(c.Timeouts.TCPTrans, DefaultTCPTransTimeout, MinTCPTransTimeout, "tcp-trans"); err != nil {
		return nil, err
	}
	if s.timeouts[classICMP], err = d(c.Timeouts.ICMP, DefaultICMPTimeout, time.Second, "icmp"); err != nil {
		return nil, err
	}
	s.timeouts[classTCPIncomingSYN] = uint32(TCPIncomingSYNTimeout / time.Second)
	for i, b := range c.StaticBIB {
		if !b.IPv6.Addr().Is6() || b.IPv6.Addr().Is4In6() || !b.IPv4.Addr().Is4() {
			return nil, fmt.Errorf("bib[%d]: ipv6 must be an IPv6 and ipv4 an IPv4 transport address", i)
		}
		if b.Protocol != TCP && b.Protocol != UDP && b.Protocol != ICMP {
			return nil, fmt.Errorf("bib[%d]: protocol must be TCP, UDP or ICMP", i)
		}
		if !s.pool4Addrs[v4u(b.IPv4.Addr())] {
			return nil, fmt.Errorf("bib[%d]: %v is not a pool4 address", i, b.IPv4.Addr())
		}
	}
	if broker != nil {
		n := broker.Addr()
		if !n.Is4() || !s.pool4Addrs[v4u(n)] {
			return nil, fmt.Errorf("handoff: address %v is not a pool4 address", n)
		}
		// The broker's own ports of N (a handoff client's control
		// exchange, docs/handoff-protocol.md §3): no binding of the BIB may take them.
		first, last := broker.ReservedPorts()
		for proto, ranges := range s.pools {
			for _, pr := range ranges {
				if first <= last && v4u(n) >= pr.first && v4u(n) <= pr.last && pr.ports.Min <= last && pr.ports.Max >= first {
					return nil, fmt.Errorf("pool4: %v ports %d-%d of %v include the handoff control ports %d-%d; start the range at %d",
						proto, pr.ports.Min, pr.ports.Max, n, first, last, last+1)
				}
			}
		}
	}
	for _, v := range []struct {
		n    int
		name string
	}{{c.MaxSessions, "max-sessions"}, {c.MaxSessionsPerSource, "max-sessions-per-source"}, {c.MaxSessionsPer64, "max-sessions-per-64"}, {c.ExpectedSessions, "expected-sessions"}} {
		if v.n < 0 {
			return nil, fmt.Errorf("%s: %d is negative", v.name, v.n)
		}
		if v.n > MaxTableSessions {
			up, full := TableMemory(v.n, v.n)
			return nil, fmt.Errorf("%s: %d is more than the tables index (%d); it would take %s of table memory up front and %s full", v.name, v.n, MaxTableSessions, bytesText(up), bytesText(full))
		}
	}
	return s, nil
}

// MaxTableSessions is the most sessions a Translator's tables are sized
// for (max-sessions, expected-sessions): 2^28, about 56 GiB of tables when
// full. Larger values are refused when the configuration is read, before
// anything is allocated.
const MaxTableSessions = 1 << 28

// TableMemory estimates the memory of a Translator's tables, in bytes:
// what New allocates up front for expected sessions (the indexes, sized
// for them), and what the tables take at most once max sessions exist
// (each with its record, a BIB entry of its own and index slots, and the
// slack of a table that grew by doubling). It allocates nothing, so that a
// configuration can be refused for its size before it costs anything.
func TableMemory(expected, maxSessions int) (upfront, full uint64) {
	// Four indexes (sessions and BIB, each by either side) of 32-bit
	// slots, a power of two at most 3/4 full.
	slots := func(n int) uint64 {
		n = min(max(n, 0), 1<<50) // what no table reaches; keeps the loop finite
		size := uint64(16)
		for size*3/4 < uint64(n) {
			size *= 2
		}
		return size * 4
	}
	expected, maxSessions = min(max(expected, 0), 1<<50), min(max(maxSessions, 0), 1<<50)
	upfront = 2*slots(expected) + 2*64*slots(expected/64)
	perSession := uint64(unsafe.Sizeof(session{})+unsafe.Sizeof(bibEntry{})) * 2 // doubling slack
	// Grown to max sessions: the BIB's indexes sized for all of them, each
	// shard's for up to twice its share, as hashing fills them unevenly.
	grown := 2*slots(maxSessions) + 2*64*slots(2*maxSessions/64)
	full = max(upfront, grown) + uint64(maxSessions)*perSession
	return upfront, full
}

// bytesText renders n bytes for a person.
func bytesText(n uint64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func v4u(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
