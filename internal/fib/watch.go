package fib

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Change says what kind of announcement a Watcher read.
type Change uint8

// Changes, as a set of bits.
const (
	RouteChange Change = 1 << iota // a route, nexthop object or neighbour
	RuleChange                     // a policy rule
	LinkChange                     // an interface: its address, MTU, state, or its end
	AddrChange                     // an address of the host's
	Lost                           // announcements were lost: assume anything changed
)

// Watcher follows the kernel's announcements of changes to what a lookup
// reads, in the network namespace it was opened in, and counts them in a
// generation number.
type Watcher struct {
	f   *os.File
	gen atomic.Uint64
	// lost counts the overflows of the socket.
	lost atomic.Uint64
}

// groups are the rtnetlink multicast groups (include/uapi/linux/rtnetlink.h)
// whose messages change a lookup's answer.
var groups = []int{
	unix.RTNLGRP_LINK, unix.RTNLGRP_NEIGH,
	unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
	unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE,
	unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE,
	unix.RTNLGRP_NEXTHOP,
}

// watchBuffer is the socket's receive buffer: a route storm overflows any
// size, and an overflow costs only a cache flush, but a larger buffer
// keeps ordinary bursts (an interface going down takes its routes along)
// from overflowing at all.
const watchBuffer = 4 << 20

// burstPause is how long the watcher lets a burst of announcements gather
// between two reads.
const burstPause = 2 * time.Millisecond

// NewWatcher subscribes to the announcements.
func NewWatcher() (*Watcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("fib: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fib: binding the netlink socket: %w", err)
	}
	for _, g := range groups {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil && g != unix.RTNLGRP_NEXTHOP {
			unix.Close(fd)
			return nil, fmt.Errorf("fib: joining rtnetlink group %d: %w", g, err)
		}
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, watchBuffer) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, watchBuffer)
	}
	return &Watcher{f: os.NewFile(uintptr(fd), "rtnetlink")}, nil
}

// Generation is the number of changes seen so far; an answer read while it
// had one value may be wrong once it has another.
func (w *Watcher) Generation() uint64 { return w.gen.Load() }

// Lost is how many times the socket overflowed.
func (w *Watcher) Lost() uint64 { return w.lost.Load() }

// Run reads announcements until ctx ends, advancing the generation for
// each read and calling changed (if not nil) with what the read held.
// It returns nil when ctx ends, and an error if the socket fails other
// than by overflowing.
func (w *Watcher) Run(ctx context.Context, changed func(Change)) error {
	stop := context.AfterFunc(ctx, func() { w.f.Close() })
	defer stop()
	buf := make([]byte, 1<<16)
	var last time.Time
	for {
		// In a burst (a BGP feed arriving), let the announcements gather
		// in the socket, or overflow it, which counts as a change all the
		// same, rather than wake for each: every read only moves the
		// generation on. An answer cached meanwhile is at most
		// burstPause older than the change that empties the caches.
		if now := time.Now(); now.Sub(last) < burstPause {
			time.Sleep(burstPause)
		}
		last = time.Now()
		n, err := w.f.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				// The kernel dropped announcements: whatever they said,
				// the caches must go, and the readers of rules and links
				// must look again.
				w.lost.Add(1)
				w.gen.Add(1)
				if changed != nil {
					changed(Lost | RouteChange | RuleChange | LinkChange | AddrChange)
				}
				continue
			}
			return fmt.Errorf("fib: reading the kernel's announcements: %w", err)
		}
		w.gen.Add(1)
		if changed != nil {
			if c := kinds(buf[:n]); c != 0 {
				changed(c)
			}
		}
	}
}

// Close stops Run and releases the socket.
func (w *Watcher) Close() error { return w.f.Close() }

// kinds reads the message types in one datagram of netlink messages.
func kinds(b []byte) Change {
	var c Change
	for len(b) >= unix.NLMSG_HDRLEN {
		// struct nlmsghdr: length, type, flags, sequence, port, in host order.
		l := int(binary.NativeEndian.Uint32(b))
		typ := binary.NativeEndian.Uint16(b[4:])
		switch typ {
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE, unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH, unix.RTM_NEWNEXTHOP, unix.RTM_DELNEXTHOP:
			c |= RouteChange
		case unix.RTM_NEWRULE, unix.RTM_DELRULE:
			c |= RuleChange
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			c |= LinkChange
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			c |= AddrChange
		}
		l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		b = b[l:]
	}
	return c
}
