package gateway

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/afxdp"
)

// The AF_XDP datapath takes a frame from the RX ring, translates it in
// place, writes the next hop's Ethernet header in front and queues it on
// the TX ring without allocating.
func TestXDPHandleAllocs(t *testing.T) {
	netnstest.InNewNetns(t, "a network namespace, XDP and AF_XDP", func() {
		g := burstGateway(t)
		x, ok := xdpTestbed(t, g)
		if !ok {
			return
		}
		defer x.close()
		xa, _ := netlink.LinkByName("xa")
		var mac [6]byte
		copy(mac[:], xa.Attrs().HardwareAddr)
		server := [6]byte{0x02, 0, 0, 0, 0, 0x80}
		grp := x.groups[0]
		sock := grp.socks[0]
		templates, sizes := burst()
		pkt := templates[0][readOffset : readOffset+sizes[0]] // IPv6/UDP to 192.0.2.80 through the NAT64
		cur := g.cur.Load()
		// One frame, looked at closely.
		d, ok := frameIn(t, grp, pkt)
		if !ok {
			return
		}
		grp.handle(g, cur, d)
		if grp.tx.Load() != 1 || grp.punted.Load() != 0 || grp.dropped.Load() != 0 {
			t.Errorf("sent %d, punted %d, dropped %d; want one sent", grp.tx.Load(), grp.punted.Load(), grp.dropped.Load())
		}
		out := grp.umem.Frame(d.Addr)[afxdp.Headroom+20:] // IPv4 is 20 octets shorter; Ethernet goes right in front
		if [6]byte(out[0:6]) != server || [6]byte(out[6:12]) != mac || out[12] != 0x08 || out[13] != 0 || out[14] != 0x45 {
			t.Errorf("the frame sent starts % x; want the server's MAC, xa's, IPv4", out[:15])
		}
		if dst := net.IP(out[14+16 : 14+20]); !dst.Equal(net.IPv4(192, 0, 2, 80)) {
			t.Errorf("translated to %v, want 192.0.2.80", dst)
		}
		sock.Flush()
		allocs := testing.AllocsPerRun(2000, func() {
			if d, ok := frameIn(t, grp, pkt); ok {
				grp.handle(g, cur, d)
			}
			if sock.TXFree() < 64 {
				sock.Flush()
				sock.Complete()
			}
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per frame", allocs)
		}
	})
}

// Fault item 3: the fast path scanned every route for every packet and
// re-read the whole table on every change (4.47 ms a packet with 800,001
// routes). With 100,000 routes installed, a burst of frames to one
// server asks the kernel once, and a route change costs one more
// question, not a re-read: the rest are answered from the cache.
func TestFaultRouteCostFlat(t *testing.T) {
	netnstest.InNewNetns(t, "a network namespace, XDP and AF_XDP", func() {
		g := burstGateway(t)
		x, ok := xdpTestbed(t, g, "-batch "+netnstest.SyntheticRoutes(t, 100000))
		if !ok {
			return
		}
		defer x.close()
		grp := x.groups[0]
		sock := grp.socks[0]
		templates, sizes := burst()
		pkt := templates[0][readOffset : readOffset+sizes[0]] // IPv6/UDP to 192.0.2.80 through the NAT64
		cur := g.cur.Load()
		send := func(n int) {
			grp.routes.Sync()
			for i := 0; i < n; i++ {
				d, ok := frameIn(t, grp, pkt)
				if !ok {
					return
				}
				grp.handle(g, cur, d)
				if sock.TXFree() < 64 {
					sock.Flush()
					sock.Complete()
				}
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go x.watch.Run(ctx, nil)
		send(1000)
		if m := grp.routes.Misses; m != 1 || grp.tx.Load() != 1000 {
			t.Errorf("1,000 frames to one server with 100,000 routes: %d kernel lookups, %d sent; want 1 and 1,000", m, grp.tx.Load())
		}
		gen := x.watch.Generation()
		if out, err := exec.Command("ip", "route", "add", "198.18.0.0/24", "via", "192.0.2.80").CombinedOutput(); err != nil {
			t.Errorf("ip route add: %v\n%s", err, out)
		}
		for deadline := time.Now().Add(5 * time.Second); x.watch.Generation() == gen; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the route added was never announced")
				return
			}
		}
		send(1000)
		if m := grp.routes.Misses; m != 2 || grp.tx.Load() != 2000 {
			t.Errorf("1,000 more frames after a route change: %d kernel lookups in all, %d sent; want 2 and 2,000", m, grp.tx.Load())
		}
	})
}

// xdpTestbed builds, in the test's namespace, the kernel's view the AF_XDP
// tests need: xa (a veth, its peer xb) up with 192.0.2.1/24 and the
// server 192.0.2.80 resolved on it, tv standing in for the TUN device
// the translated packets come from, forwarding on; then runs the ip
// commands more gives, and opens the AF_XDP datapath on xa for g's
// prefixes. ok is false, and the test failed, when a step failed; it
// runs on InNewNetns's goroutine, where t.Fatal may not be called.
func xdpTestbed(t *testing.T, g *Gateway, more ...string) (x *xdpDatapath, ok bool) {
	for _, c := range append([]string{
		"link add xa type veth peer name xb", "link add tv type veth peer name tw",
		"link set xa up", "link set xb up", "link set tv up",
		"addr add 192.0.2.1/24 dev xa", "neigh add 192.0.2.80 lladdr 02:00:00:00:00:80 dev xa nud permanent",
	}, more...) {
		if out, err := exec.Command("ip", strings.Fields(c)...).CombinedOutput(); err != nil {
			t.Errorf("ip %s: %v\n%s", c, err, out)
			return nil, false
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		t.Error(err)
		return nil, false
	}
	tv, err := netlink.LinkByName("tv")
	if err != nil {
		t.Error(err)
		return nil, false
	}
	x, err = openXDP(&AFXDPConfig{Interfaces: []string{"xa"}, Frames: 4096}, claimedPrefixes(g.cur.Load()), tv.Attrs().Index, "")
	if err != nil {
		t.Errorf("openXDP: %v", err)
		return nil, false
	}
	return x, true
}

// frameIn puts an Ethernet frame carrying the IPv6 packet pkt into a free
// frame of grp's UMEM, as its RX ring hands frames over, completing the
// first socket's sends to make room when none is free; ok is false (and
// the test failed) when there is none. The tests run it on the goroutine
// of netnstest.InNewNetns, where t.Fatal may not be called.
func frameIn(t *testing.T, grp *xdpGroup, pkt []byte) (d unix.XDPDesc, ok bool) {
	a, ok := grp.umem.Alloc()
	if !ok {
		grp.socks[0].Flush()
		grp.socks[0].Complete()
		if a, ok = grp.umem.Alloc(); !ok {
			t.Error("no free frame")
			return d, false
		}
	}
	fr := grp.umem.Frame(a)
	header.Ethernet(fr[afxdp.Headroom:]).Encode([6]byte{0, 0, 0, 0, 0, 1}, [6]byte{0, 0, 0, 0, 0, 2}, header.EtherTypeIPv6)
	copy(fr[afxdp.Headroom+header.EthernetSize:], pkt)
	return unix.XDPDesc{Addr: a + afxdp.Headroom, Len: uint32(header.EthernetSize + len(pkt))}, true
}
