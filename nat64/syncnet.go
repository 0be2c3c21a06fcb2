package nat64

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/v6xlat/xlat/internal/ticker"
)

// SyncNetwork says where sync datagrams go: to a list of unicast peers,
// or to a multicast group on an interface (one or the other).
type SyncNetwork struct {
	// Listen is the local address datagrams are received on and sent
	// from (unicast). With a group, only its port matters.
	Listen netip.AddrPort
	// Peers are the other gateways' Listen addresses.
	Peers []netip.AddrPort
	// Group is a multicast group and port; Interface the interface to
	// join it on.
	Group     netip.AddrPort
	Interface string
}

// Validate checks that the network names a way to reach peers.
func (n SyncNetwork) Validate() error {
	switch {
	case len(n.Peers) > 0 && n.Group.IsValid():
		return errors.New("sync: peers and group: choose unicast peers or a multicast group")
	case len(n.Peers) == 0 && !n.Group.IsValid():
		return errors.New("sync: neither peers nor group: nobody to sync with")
	case n.Group.IsValid() && !n.Group.Addr().IsMulticast():
		return fmt.Errorf("sync: group %v is not a multicast address", n.Group.Addr())
	case n.Group.IsValid() && n.Interface == "":
		return errors.New("sync: group needs an interface")
	case !n.Group.IsValid() && (!n.Listen.IsValid() || n.Listen.Port() == 0):
		return fmt.Errorf("sync: listen %v: need an address and port", n.Listen)
	}
	for i, p := range n.Peers {
		if !p.IsValid() || p.Port() == 0 {
			return fmt.Errorf("sync: peers[%d] %v: need an address and port", i, p)
		}
	}
	return nil
}

// SyncConn runs a Sync over UDP.
type SyncConn struct {
	*Sync
	conn *net.UDPConn
	net  SyncNetwork
}

// ListenSync opens the sync socket for x. Install the Sync's Hook as x's
// Hooks.Session (beside any other hooks), then Run it.
func ListenSync(x *Translator, cfg SyncConfig, network SyncNetwork) (*SyncConn, error) {
	if err := network.Validate(); err != nil {
		return nil, err
	}
	c := &SyncConn{net: network}
	var err error
	if network.Group.IsValid() {
		ifi, ierr := net.InterfaceByName(network.Interface)
		if ierr != nil {
			return nil, fmt.Errorf("sync: interface %s: %w", network.Interface, ierr)
		}
		c.conn, err = net.ListenMulticastUDP("udp", ifi, net.UDPAddrFromAddrPort(network.Group))
	} else {
		c.conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(network.Listen))
	}
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	// Room for a burst of a resync between two reads.
	c.conn.SetReadBuffer(4 << 20)
	c.conn.SetWriteBuffer(4 << 20)
	c.Sync, err = NewSync(x, cfg, c.transmit)
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// fromPeer reports whether a datagram from a came from a configured peer:
// its address and the port it sends from, which is its listening port.
func (c *SyncConn) fromPeer(a netip.AddrPort) bool {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	for _, p := range c.net.Peers {
		if netip.AddrPortFrom(p.Addr().Unmap(), p.Port()) == a {
			return true
		}
	}
	return false
}

func (c *SyncConn) transmit(b []byte) {
	if c.net.Group.IsValid() {
		c.conn.WriteToUDPAddrPort(b, c.net.Group)
		return
	}
	for _, p := range c.net.Peers {
		c.conn.WriteToUDPAddrPort(b, p)
	}
}

// Run receives and ticks until ctx ends; then it closes the socket.
func (c *SyncConn) Run(ctx context.Context) error {
	go func() { <-ctx.Done(); c.conn.Close() }()
	go ticker.Every(ctx, c.cfg.FlushInterval, c.Tick)
	buf := make([]byte, 65536)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("sync: %w", err)
		}
		// Unicast: only the configured peers, before any work is
		// spent on the datagram. A multicast group's members are
		// whoever joined it on the interface; the MAC tells them apart.
		if !c.net.Group.IsValid() && !c.fromPeer(from) {
			c.unknownSource.Add(1)
			continue
		}
		c.Receive(buf[:n])
	}
}
