package gateway

import (
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/nat64"
)

// HandoffConfig enables the handoff/1 client on a nat64 instance
// (docs/handoff-protocol.md §8): towards the servers it covers, the port of each flow is
// chosen by the server, which keeps the authoritative table, and
// connections survive a gateway restart.
type HandoffConfig struct {
	// Address is N, the pool4 address handoff bindings use (default: the
	// first pool4 address). Its ports 1024-1027 carry the control
	// exchange and must be outside every pool4 port range.
	Address     netip.Addr `json:"address,omitempty"`
	ControlPort uint16     `json:"control-port,omitempty"` // CP, default 1024
	ServerPort  uint16     `json:"server-port,omitempty"`  // HP, default 64646
	// Destinations are the IPv4 prefixes handoff is enabled for; empty
	// enables it for every destination.
	Destinations []netip.Prefix `json:"destinations,omitempty"`
	// Servers are known handoff servers: they start CAPABLE.
	Servers []netip.Addr `json:"servers,omitempty"`
	// StateFile keeps the servers that answered across restarts (§8.5).
	StateFile        string         `json:"state-file,omitempty"`
	Note             string         `json:"note,omitempty"`
	CacheMaxEntries  int            `json:"cache-max-entries,omitempty"`
	CacheIdleTimeout nat64.Duration `json:"cache-idle-timeout,omitempty"`
}

// handoffSink is where an instance's handoff client sends control
// datagrams and released packets: the running gateway, or nowhere (check-
// config, offline translation).
type handoffSink interface {
	writePacket(pkt []byte)
	inject(in *Instance, pkt []byte)
}

// buildHandoff makes the client of a nat64 instance and plugs it into its
// configuration as the Broker.
func buildHandoff(inst *Instance, h *HandoffConfig, c *nat64.Config) error {
	if len(c.Pool4) == 0 {
		return fmt.Errorf("handoff: needs pool4")
	}
	n := h.Address
	if !n.IsValid() {
		n = c.Pool4[0].Prefix.Addr()
	}
	if h.CacheMaxEntries < 0 {
		return fmt.Errorf("handoff.cache-max-entries: %d is negative", h.CacheMaxEntries)
	}
	cl, err := client.New(client.Config{
		NAT64: n, Pool6: c.Pool6, ControlPort: h.ControlPort, ServerPort: h.ServerPort,
		Destinations: h.Destinations, Servers: h.Servers, StateFile: h.StateFile, Note: h.Note,
		CacheMaxEntries: h.CacheMaxEntries, CacheIdleTimeout: time.Duration(h.CacheIdleTimeout),
		Send: func(pkt []byte) {
			if s := inst.sink.Load(); s != nil {
				(*s).writePacket(pkt)
			}
		},
		Deliver: func(pkt []byte, _ bool) { // the packet's version says which way
			if s := inst.sink.Load(); s != nil {
				(*s).inject(inst, pkt)
			}
		},
		LiveBindings: func(server netip.Addr) []client.LocalBinding {
			var out []client.LocalBinding
			inst.NAT64().RangeSessions(func(s nat64.Session) bool {
				if s.IPv4Dst.Addr() == server && s.IPv4Src.Addr() == n && !s.Unbound {
					out = append(out, client.LocalBinding{Client: s.IPv6Src, Port: s.IPv4Src.Port()})
				}
				return true
			})
			return out
		},
		Errorf: func(format string, args ...any) { inst.logf(format, args...) },
	})
	if err != nil {
		return err
	}
	inst.handoff, inst.handoffCfg = cl, h
	return nil
}

// sameHandoff reports whether a reload keeps the handoff settings, which
// cannot change without a restart (the client's epoch and cache would).
func sameHandoff(a, b *HandoffConfig) bool { return reflect.DeepEqual(a, b) }
