package main

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/v6xlat/xlat/map66"
)

// mapping is what a reload swaps: the rules in force, what the packet
// loop reads of them, and the routing that steers their traffic into the
// device.
type mapping struct {
	cfg    Config // in force, as configured
	dev    string // the device's name, which cfg.TUN may only pattern
	live   atomic.Pointer[inForce]
	routes bool
	undo   func() // removes the routing installed for cfg

	// install, localAddrs and ifaceMTU are installRoutes, interfaceAddrs
	// and interfacesMTU; tests replace them to run without root.
	install    func(Config) (func(), error)
	localAddrs func([]Rule) []netip.Addr
	ifaceMTU   func([]Rule) (int, error)
}

// onDevice is c with the device's real name, as routing needs it.
func (m *mapping) onDevice(c Config) Config {
	c.TUN = m.dev
	return c
}

// inForce is what the packet loop reads of a configuration, swapped
// whole so that a burst never sees one reload's mapper with another's
// clamp.
type inForce struct {
	mapper *map66.Mapper
	mss    uint16 // the largest MSS a SYN may carry; 0: no clamping
	// byRoute: "route", each SYN's limit looked up (mss the most).
	byRoute bool
}

// prepare builds, and so validates, what cfg puts in force: the mapper
// for its rules and its MSS clamp.
func (m *mapping) prepare(cfg Config) (*inForce, error) {
	opts := map66.Options{}
	if cfg.CheckInterfaceAddresses == nil || *cfg.CheckInterfaceAddresses {
		opts.Local = m.localAddrs(cfg.Rules)
	}
	mapper, err := map66.New(mapperRules(cfg), opts)
	if err != nil {
		return nil, err
	}
	mss, err := m.mssLimit(cfg)
	if err != nil {
		return nil, err
	}
	return &inForce{mapper: mapper, mss: mss, byRoute: cfg.ClampMSS != nil && cfg.ClampMSS.FromRoute}, nil
}

// reload puts next in force, or refuses it and changes nothing. The
// mapper is built (and so validated) first; the policy rules are replaced
// only when the rules changed, and the old ones are put back if the new
// ones cannot be installed; the mapper is swapped last. The device, its
// MTU and the table stay for the life of the process.
func (m *mapping) reload(next Config) error {
	switch {
	case next.TUN != m.cfg.TUN:
		return fmt.Errorf("tun: %q cannot change from %q on reload; restart map66d", next.TUN, m.cfg.TUN)
	case next.MTU != m.cfg.MTU:
		return fmt.Errorf("mtu: %d cannot change from %d on reload; restart map66d", next.MTU, m.cfg.MTU)
	case next.Table != m.cfg.Table:
		return fmt.Errorf("table: %d cannot change from %d on reload; restart map66d", next.Table, m.cfg.Table)
	}
	live, err := m.prepare(next)
	if err != nil {
		return err
	}
	if m.routes && !slices.Equal(next.Rules, m.cfg.Rules) {
		m.undo()
		undo, err := m.install(m.onDevice(next))
		if err != nil {
			// Put the old routing back; if even that fails, say so, as
			// the device then carries nothing.
			old, rerr := m.install(m.onDevice(m.cfg))
			if rerr != nil {
				m.undo = func() {}
				return fmt.Errorf("routing for the new rules: %v; and restoring the old routing: %v", err, rerr)
			}
			m.undo = old
			return fmt.Errorf("routing for the new rules: %w", err)
		}
		m.undo = undo
	}
	m.live.Store(live)
	m.cfg = next
	return nil
}
