package gateway

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/siit"
)

// Config is a gateway's configuration, as xlatgw's configuration file
// holds it (JSON, with Jool's option names inside each instance).
type Config struct {
	TUN       TUNConfig        `json:"tun"`
	Instances []InstanceConfig `json:"instances"`
	Rules     []Rule           `json:"rules"`
	// MappingLog is a file every NAT64 binding created or deleted is
	// appended to (off when empty).
	MappingLog string `json:"mapping-log,omitempty"`
	// ManageRoutes installs the addresses and routes the configuration
	// implies on the TUN device (default true).
	ManageRoutes *bool `json:"manage-routes,omitempty"`
	// AFXDP adds the AF_XDP datapath on the named interfaces (off when
	// absent: TUN only).
	AFXDP *AFXDPConfig `json:"af-xdp,omitempty"`
	// DataNetns is the network namespace ("ip netns" name) the datapath
	// lives in: the TUN device and its routes, the AF_XDP interfaces. The
	// admin socket, metrics and sync stay in the namespace xlatgw was
	// started in, the management one. Empty: that one for everything.
	DataNetns string `json:"data-netns,omitempty"`
}

// TUNConfig is the device and the gateway's own addresses, the sources of
// the ICMP errors it generates.
type TUNConfig struct {
	Name string `json:"name"`
	MTU  int    `json:"mtu"`
	// Queues is how many TUN queues, each served by its own goroutine
	// (default: one per CPU).
	Queues int        `json:"queues,omitempty"`
	IPv4   netip.Addr `json:"ipv4-address,omitzero"`
	IPv6   netip.Addr `json:"ipv6-address,omitzero"`
}

// maxTUNQueues is the kernel's limit on a TUN device's queues
// (MAX_TAP_QUEUES).
const maxTUNQueues = 256

// InstanceConfig is one translator: type "siit" or "nat64", with the
// settings of that package (Jool's names).
type InstanceConfig struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	SIIT  json.RawMessage `json:"siit,omitempty"`
	NAT64 json.RawMessage `json:"nat64,omitempty"`
	// Handoff enables the handoff/1 client on a nat64 instance.
	Handoff *HandoffConfig `json:"handoff,omitempty"`
	// Sync replicates a nat64 instance's sessions to peer gateways.
	Sync *SyncSettings `json:"sync,omitempty"`
}

// Rule sends traffic whose remote IPv4 side (the destination of outbound
// traffic, the source of inbound) is in Prefix to an instance. Rules are
// tried in order; with none, an instance takes everything it can map.
type Rule struct {
	Prefix   netip.Prefix `json:"prefix"`
	Instance string       `json:"instance"`
}

// Setup is a checked configuration with its instances built: what Open
// starts a gateway with and Reload swaps in. Build makes one.
type Setup struct {
	cfg   Config
	insts []*member
	// by4 are insts in the order an IPv4 packet tries them: the NAT64s
	// first (a packet to a pool4 address is theirs), then the others.
	by4 []*member
}

// Config returns the configuration s was built from, with its defaults
// filled in.
func (s *Setup) Config() Config { return s.cfg }

// Instances returns the instances, in the configuration's order.
func (s *Setup) Instances() []*Instance {
	out := make([]*Instance, len(s.insts))
	for i, m := range s.insts {
		out[i] = m.Instance
	}
	return out
}

// Build checks cfg and builds its instances. Errors name the field, as
// "config: instances[1] (dc): eamt[0]: ...".
func Build(cfg Config) (*Setup, error) {
	if cfg.TUN.Name == "" {
		cfg.TUN.Name = "xlat"
	}
	if cfg.TUN.MTU == 0 {
		cfg.TUN.MTU = 1500
	}
	if cfg.TUN.MTU < 1280 || cfg.TUN.MTU > 65535 {
		return nil, fmt.Errorf("config: tun.mtu: %d is outside 1280..65535", cfg.TUN.MTU)
	}
	if cfg.TUN.Queues < 0 || cfg.TUN.Queues > maxTUNQueues {
		return nil, fmt.Errorf("config: tun.queues: %d is outside 0..%d (0: one per CPU)", cfg.TUN.Queues, maxTUNQueues)
	}
	if cfg.TUN.IPv4.IsValid() && !cfg.TUN.IPv4.Is4() {
		return nil, fmt.Errorf("config: tun.ipv4-address: %v is not IPv4", cfg.TUN.IPv4)
	}
	if cfg.TUN.IPv6.IsValid() && (!cfg.TUN.IPv6.Is6() || cfg.TUN.IPv6.Is4In6()) {
		return nil, fmt.Errorf("config: tun.ipv6-address: %v is not IPv6", cfg.TUN.IPv6)
	}
	if len(cfg.Instances) == 0 {
		return nil, fmt.Errorf("config: instances: none")
	}
	if n := cfg.DataNetns; n != "" && (n == "." || n == ".." || strings.ContainsAny(n, "/\x00")) {
		return nil, fmt.Errorf("config: data-netns: %q is not a namespace name (as \"ip netns\" lists them)", n)
	}
	if cfg.AFXDP != nil {
		if err := cfg.AFXDP.check(); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	l := &Setup{cfg: cfg}
	names := map[string]*member{}
	for i, in := range cfg.Instances {
		where := fmt.Sprintf("instances[%d]", i)
		if in.Name == "" {
			return nil, fmt.Errorf("config: %s.name: required", where)
		}
		if names[in.Name] != nil {
			return nil, fmt.Errorf("config: %s.name: %q is used twice", where, in.Name)
		}
		inst, err := buildInstance(in, cfg.TUN)
		if err != nil {
			return nil, fmt.Errorf("config: %s (%s): %w", where, in.Name, err)
		}
		m := &member{Instance: inst}
		names[in.Name] = m
		l.insts = append(l.insts, m)
	}
	for i, r := range cfg.Rules {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is4() {
			return nil, fmt.Errorf("config: rules[%d].prefix: %v is not an IPv4 prefix", i, r.Prefix)
		}
		inst := names[r.Instance]
		if inst == nil {
			return nil, fmt.Errorf("config: rules[%d].instance: no instance is named %q", i, r.Instance)
		}
		inst.prefixes = append(inst.prefixes, r.Prefix.Masked())
	}
	l.order()
	// The claimed prefixes are routed into the TUN device and taken by
	// the AF_XDP programs: a /0 would replace the host's default route
	// and take its management traffic (SSH, BFD) with it.
	for _, p := range claimedPrefixes(l) {
		if p.Bits() == 0 {
			return nil, fmt.Errorf("config: instances: %v would claim every destination, the host's default route and its own traffic among them; give the prefixes to translate", p)
		}
	}
	return l, nil
}

// reload turns a new configuration into the one to run: instances that
// keep their name and type are updated in place (sessions, bindings and
// counters survive), others are the new ones. The TUN settings cannot
// change without a restart. prepare, if not nil, runs once everything is
// checked and before anything is applied: what it refuses refuses the
// reload, and nothing has changed.
func reload(old, next *Setup, prepare func() error) (*Setup, error) {
	if next.cfg.TUN != old.cfg.TUN {
		return nil, fmt.Errorf("tun: changes need a restart")
	}
	if next.cfg.DataNetns != old.cfg.DataNetns {
		return nil, fmt.Errorf("data-netns: changes need a restart")
	}
	if !reflect.DeepEqual(next.cfg.AFXDP, old.cfg.AFXDP) {
		return nil, fmt.Errorf("af-xdp: changes need a restart")
	}
	byName := map[string]*Instance{}
	for _, in := range old.insts {
		byName[in.name] = in.Instance
	}
	// An instance that keeps its name and type is the same one, updated.
	same := func(in *member) *Instance {
		if prev := byName[in.name]; prev != nil && prev.x.kind() == in.x.kind() {
			return prev
		}
		return nil
	}
	// First everything is checked, then everything is applied: a reload
	// refused for its last instance must not have changed the first.
	for _, in := range next.insts {
		prev := same(in)
		if prev == nil {
			continue
		}
		if !sameHandoff(prev.handoffCfg, in.handoffCfg) {
			return nil, fmt.Errorf("instance %s: handoff: changes need a restart", in.name)
		}
		if !sameSync(prev.syncSetup, in.syncSetup) {
			return nil, fmt.Errorf("instance %s: sync: changes need a restart", in.name)
		}
		if err := prev.x.check(in.x); err != nil {
			return nil, fmt.Errorf("instance %s: %w", in.name, err)
		}
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return nil, err
		}
	}
	out := &Setup{cfg: next.cfg}
	for _, in := range next.insts {
		prev := same(in)
		if prev == nil {
			out.insts = append(out.insts, in)
			continue
		}
		if err := prev.x.update(in.x); err != nil {
			return nil, fmt.Errorf("instance %s (the instances before it were updated): %w", in.name, err)
		}
		out.insts = append(out.insts, &member{Instance: prev, prefixes: in.prefixes})
	}
	out.order()
	return out, nil
}

func buildInstance(in InstanceConfig, tun TUNConfig) (*Instance, error) {
	switch in.Type {
	case "siit":
		if in.Handoff != nil {
			return nil, fmt.Errorf("handoff: only a nat64 instance has a handoff client")
		}
		if in.Sync != nil {
			return nil, fmt.Errorf("sync: only a nat64 instance has sessions to synchronise")
		}
		if in.NAT64 != nil {
			return nil, fmt.Errorf("nat64: set on a siit instance")
		}
		c, err := siit.ParseConfig(orEmpty(in.SIIT))
		if err != nil {
			return nil, err
		}
		c.Addr4, c.Addr6 = or(c.Addr4, tun.IPv4), or(c.Addr6, tun.IPv6)
		c.IPv4MTU, c.IPv6MTU = orInt(c.IPv4MTU, tun.MTU), orInt(c.IPv6MTU, tun.MTU)
		x, err := siit.New(c)
		if err != nil {
			return nil, err
		}
		return &Instance{name: in.Name, x: siitX{x}}, nil
	case "nat64":
		if in.SIIT != nil {
			return nil, fmt.Errorf("siit: set on a nat64 instance")
		}
		c, err := nat64.ParseConfig(orEmpty(in.NAT64))
		if err != nil {
			return nil, err
		}
		c.Addr4, c.Addr6 = or(c.Addr4, tun.IPv4), or(c.Addr6, tun.IPv6)
		c.IPv4MTU, c.IPv6MTU = orInt(c.IPv4MTU, tun.MTU), orInt(c.IPv6MTU, tun.MTU)
		inst := &Instance{name: in.Name}
		if in.Handoff != nil {
			if err := buildHandoff(inst, in.Handoff, &c); err != nil {
				return nil, err
			}
		}
		if err := fitsMemory(c); err != nil {
			return nil, err
		}
		var with nat64.Collaborators
		if inst.handoff != nil {
			with.Broker = inst.handoff
		}
		x, err := nat64.New(c, with)
		if err != nil {
			return nil, err
		}
		if in.Sync != nil {
			if inst.syncSetup, err = buildSync(in.Sync, &c); err != nil {
				return nil, err
			}
		}
		inst.x = newNAT64X(x, c)
		return inst, nil
	}
	return nil, fmt.Errorf("type: %q is not siit or nat64", in.Type)
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

func or(a, b netip.Addr) netip.Addr {
	if a.IsValid() {
		return a
	}
	return b
}

func orInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// physicalMemory is this machine's RAM in bytes (0 when unknown); a
// variable, for tests.
var physicalMemory = func() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// fitsMemory refuses a nat64 configuration whose tables cannot fit this
// machine: more than half its memory allocated up front, or more than all
// of it once max-sessions sessions exist. It allocates nothing: a number
// that would have the gateway die of an out-of-memory error is refused
// with the field named.
func fitsMemory(c nat64.Config) error {
	ram := physicalMemory()
	for _, n := range []int{c.ExpectedSessions, c.MaxSessions} {
		if n < 0 || n > nat64.MaxTableSessions {
			return nil // nat64.New refuses it, with its own words
		}
	}
	if ram == 0 {
		return nil
	}
	expected, field := c.ExpectedSessions, "expected-sessions"
	if expected == 0 {
		expected, field = c.MaxSessions, "max-sessions (expected-sessions defaults to it)"
	}
	up, full := nat64.TableMemory(expected, c.MaxSessions)
	if up > ram/2 {
		return fmt.Errorf("nat64.%s: %d sessions would take %s of table memory up front, more than half of this machine's %s", field, expected, gib(up), gib(ram))
	}
	if c.MaxSessions > 0 && full > ram {
		return fmt.Errorf("nat64.max-sessions: %d sessions would take up to %s of table memory, more than this machine's %s", c.MaxSessions, gib(full), gib(ram))
	}
	return nil
}

func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
