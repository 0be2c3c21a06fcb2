package gateway

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"

	"github.com/v6xlat/xlat/nat64"
)

// SyncSettings turn on session synchronisation for a nat64 instance: its
// sessions go to the peer gateways and theirs come here, so that a peer
// can take over the traffic when this box fails.
type SyncSettings struct {
	// Role: "active-passive" (both boxes share one pool4; one carries the
	// traffic, the other stands by) or "active-active" (each has its own
	// pool4 and lists the other's as the nat64 standby-pool4).
	Role string `json:"role,omitempty"`
	// Listen is where datagrams are received and sent from (unicast);
	// Peers the other gateways' listen addresses. Or Group (multicast
	// address:port) on Interface.
	Listen    netip.AddrPort   `json:"listen,omitempty"`
	Peers     []netip.AddrPort `json:"peers,omitempty"`
	Group     netip.AddrPort   `json:"group,omitempty"`
	Interface string           `json:"interface,omitempty"`
	// Key (hex) or KeyFile (its contents, raw or hex): the shared
	// HMAC-SHA256 key, at least 32 octets, in a file only its owner reads.
	Key     string `json:"key,omitempty"`
	KeyFile string `json:"key-file,omitempty"`
	NodeID  uint32 `json:"node-id,omitempty"`
}

// syncSetup is a checked SyncSettings.
type syncSetup struct {
	settings SyncSettings
	cfg      nat64.SyncConfig
	network  nat64.SyncNetwork
}

func buildSync(s *SyncSettings, c *nat64.Config) (*syncSetup, error) {
	switch s.Role {
	case "", "active-passive":
		if len(c.StandbyPool4) > 0 {
			return nil, fmt.Errorf("sync.role: active-passive, but standby-pool4 is set (that is active-active)")
		}
	case "active-active":
		if len(c.StandbyPool4) == 0 {
			return nil, fmt.Errorf("sync.role: active-active needs the peer's pool4 as nat64 standby-pool4")
		}
	default:
		return nil, fmt.Errorf("sync.role: %q is not active-passive or active-active", s.Role)
	}
	key, err := syncKey(s)
	if err != nil {
		return nil, err
	}
	n := nat64.SyncNetwork{Listen: s.Listen, Peers: s.Peers, Group: s.Group, Interface: s.Interface}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &syncSetup{settings: *s, cfg: nat64.SyncConfig{Key: key, NodeID: s.NodeID}, network: n}, nil
}

func syncKey(s *SyncSettings) ([]byte, error) {
	var key []byte
	switch {
	case s.Key != "" && s.KeyFile != "":
		return nil, fmt.Errorf("sync: key and key-file: give one")
	case s.Key != "":
		k, err := hex.DecodeString(s.Key)
		if err != nil {
			return nil, fmt.Errorf("sync.key: not hex: %v", err)
		}
		key = k
	case s.KeyFile != "":
		// As ssh does with private keys: a key others can read is no
		// secret.
		fi, err := os.Stat(s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sync.key-file: %v", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("sync.key-file: %s is readable or writable by group or others (mode %04o); chmod 600 it", s.KeyFile, perm)
		}
		b, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sync.key-file: %v", err)
		}
		key = b
		if k, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil {
			key = k
		}
	default:
		return nil, fmt.Errorf("sync: key or key-file required (datagrams are authenticated)")
	}
	if err := nat64.CheckSyncKey(key); err != nil {
		return nil, fmt.Errorf("sync: the key: %w", err)
	}
	return key, nil
}

func sameSync(a, b *syncSetup) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(a.settings, b.settings)
}

// startSync opens an instance's sync socket and runs it until ctx ends.
func (g *Gateway) startSync(ctx context.Context, in *Instance) error {
	if in.syncSetup == nil || in.sync != nil {
		return nil
	}
	c, err := nat64.ListenSync(in.NAT64(), in.syncSetup.cfg, in.syncSetup.network)
	if err != nil {
		return fmt.Errorf("instance %s: %w", in.name, err)
	}
	in.sync = c
	g.hooks(in)
	go func() {
		if err := c.Run(ctx); err != nil {
			g.log.Error("sync stopped", "instance", in.name, "err", err)
		}
	}()
	return nil
}

// hooks installs an instance's table observers: the mapping log and the
// session sync.
func (g *Gateway) hooks(in *Instance) {
	x := in.NAT64()
	if x == nil {
		return
	}
	h := &nat64.Hooks{}
	if g.mlog != nil {
		h.BIB = g.mlog.hook(in.name)
	}
	if in.sync != nil {
		h.Session = in.sync.Hook
	}
	x.SetHooks(h)
}
