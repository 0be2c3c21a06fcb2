package tunbatch

import (
	"net"
	"os"
	"testing"

	"github.com/v6xlat/xlat/internal/netnstest"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/checksum"
)

// On a real TUN queue with offloads (wireguard-go's CreateTUN) the Reader
// reads the descriptor itself: a queued burst comes back from one Read,
// checksums the kernel left partial are completed, and a UDP GSO
// superpacket comes back as its segments.
func TestReadTUN(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	netnstest.InNewNetns(t, "a network namespace and a TUN device", func() {
		dev, err := tun.CreateTUN("xtb0", 1500)
		if err != nil {
			t.Errorf("creating a TUN device: %v", err)
			return
		}
		defer dev.Close()
		link, err := netlink.LinkByName("xtb0")
		if err == nil {
			err = netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.IP{192, 0, 2, 1}, Mask: net.CIDRMask(32, 32)}})
		}
		if err == nil {
			err = netlink.LinkSetUp(link)
		}
		if err == nil {
			err = netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: &net.IPNet{IP: net.IP{198, 51, 100, 0}, Mask: net.CIDRMask(24, 32)}})
		}
		if err != nil {
			t.Errorf("setting up xtb0: %v", err)
			return
		}
		r := NewReader(dev, 16+virtioHdrLen, 16+virtioHdrLen+65535)
		if r.raw == nil || !r.vnet {
			t.Errorf("the Reader does not read the TUN descriptor itself (raw %v, vnet %v)", r.raw != nil, r.vnet)
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		unix.Bind(fd, &unix.SockaddrInet4{Port: 40000, Addr: [4]byte{192, 0, 2, 1}})
		to := &unix.SockaddrInet4{Port: 9, Addr: [4]byte{198, 51, 100, 7}}

		// valid reports whether pkt is an IPv4/UDP datagram to port 9
		// with a payload of n octets and a checksum that verifies.
		valid := func(pkt []byte, n int) bool {
			if len(pkt) != 28+n || pkt[0] != 0x45 || pkt[9] != unix.IPPROTO_UDP || pkt[23] != 9 {
				return false
			}
			return checksum.Verify(pkt[20:], checksum.PseudoHeaderBytes(pkt[12:16], pkt[16:20], unix.IPPROTO_UDP, uint32(len(pkt)-20)))
		}
		udp := func(n int) (count int, ok bool) {
			got, err := r.Read()
			if err != nil {
				t.Errorf("Read: %v", err)
				return 0, false
			}
			ok = true
			for i := 0; i < got; i++ {
				pkt := r.Bufs[i][r.offset : r.offset+r.Sizes[i]]
				if len(pkt) > 23 && pkt[0]>>4 == 4 && pkt[23] == 9 {
					count++
					ok = ok && valid(pkt, n)
				}
			}
			return count, ok
		}

		const burst = 20
		for i := 0; i < burst; i++ {
			if err := unix.Sendto(fd, []byte("sixteen octets!!"), 0, to); err != nil {
				t.Errorf("send: %v", err)
				return
			}
		}
		if n, ok := udp(16); n != burst || !ok {
			t.Errorf("one Read returned %d of the %d queued datagrams (checksums valid: %v)", n, burst, ok)
		}

		// UDP GSO: one send of 4500 octets in segments of 1000.
		if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 1000); err != nil {
			t.Errorf("UDP_SEGMENT (Linux 4.18): %v", err) // not Skip: this runs off the test's goroutine
			return
		}
		if err := unix.Sendto(fd, make([]byte, 4500), 0, to); err != nil {
			t.Errorf("GSO send: %v", err)
			return
		}
		got, err := r.Read()
		if err != nil || got != 5 {
			t.Errorf("the 4500-octet GSO send came back as %d packets (%v), want 5", got, err)
			return
		}
		for i := 0; i < got; i++ {
			want := 1000
			if i == 4 {
				want = 500
			}
			if pkt := r.Bufs[i][r.offset : r.offset+r.Sizes[i]]; !valid(pkt, want) {
				t.Errorf("segment %d (%d octets) is not a valid datagram of %d", i, len(pkt), want)
			}
		}

		// A datagram in, a Read out: no allocation on the way.
		if err := unix.Connect(fd, to); err != nil {
			t.Error(err)
			return
		}
		msg := []byte("sixteen octets!!")
		allocs := testing.AllocsPerRun(200, func() {
			unix.Write(fd, msg)
			r.Read()
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per datagram read", allocs)
		}
		if r.Dropped.Load() != 0 {
			t.Errorf("%d dropped", r.Dropped.Load())
		}
	})
}
