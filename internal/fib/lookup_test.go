package fib

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// sh runs ip(8) commands in the calling thread's namespace.
func sh(t *testing.T, cmds ...string) bool {
	t.Helper()
	for _, c := range cmds {
		args := strings.Fields(c)
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", c, err, out)
			return false
		}
	}
	return true
}

// bed is a namespace with a way out (xa, a resolved next hop and a
// default route) and a stand-in for the TUN device the translated
// packets arrive on (in0), on which the lookups are asked.
func bed(t *testing.T) (in int, out int, ok bool) {
	if !sh(t,
		"ip link add in0 type veth peer name in1", "ip link set in1 up",
		"ip link add xa type veth peer name xb",
		"ip link set xa address 02:00:00:00:00:0a",
		"ip link set in0 up", "ip link set xa up", "ip link set xb up",
		"sysctl -qw net.ipv4.ip_forward=1", "sysctl -qw net.ipv6.conf.all.forwarding=1",
		"ip addr add 192.0.2.1/24 dev xa", "ip addr add 2001:db8:1::1/64 dev xa nodad",
		"ip neigh add 192.0.2.80 lladdr 02:00:00:00:00:80 dev xa nud permanent",
		"ip neigh add 2001:db8:1::80 lladdr 02:00:00:00:00:80 dev xa nud permanent",
		"ip route add default via 192.0.2.80",
		"ip -6 route add default via 2001:db8:1::80",
	) {
		return 0, 0, false
	}
	in, out = ifindex(t, "in0"), ifindex(t, "xa")
	return in, out, in != 0 && out != 0
}

// ifindex is the index of interface name, 0 (and the test failed) when
// there is none; it runs off the test's goroutine, so no t.Fatal.
func ifindex(t *testing.T, name string) int {
	i, err := netInterface(name)
	if err != nil {
		t.Errorf("ifindex of %s: %v", name, err)
	}
	return i
}

// Each route type gets the kernel's verdict, not that of a less specific
// route behind it (the default route here).
func TestLookupRouteTypes(t *testing.T) {
	netnstest.InNewNetns(t, "a network namespace and BPF", func() {
		in, out, ok := bed(t)
		if !ok {
			return
		}
		if !sh(t,
			"ip route add blackhole 198.51.100.0/24",
			"ip route add unreachable 203.0.113.0/25",
			"ip route add prohibit 203.0.113.128/25",
			"ip -6 route add blackhole 2001:db8:bad::/48",
			"ip addr add 192.0.2.200/32 dev in0",
		) {
			return
		}
		l, err := NewLookup()
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		src4, src6 := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("2001:db8:1::9")
		for _, c := range []struct {
			dst  string
			want Verdict
		}{
			{"192.0.2.80", Forward},
			{"192.0.2.81", NoNeighbour},
			{"8.8.8.8", Forward}, // by the default route, never sent
			{"198.51.100.7", Blackhole},
			{"203.0.113.7", Unreachable},
			{"203.0.113.200", Prohibit},
			{"192.0.2.200", NotForwarded},
			{"2001:db8:1::80", Forward},
			{"2001:db8:bad::1", Blackhole},
		} {
			dst := netip.MustParseAddr(c.dst)
			src := src4
			if dst.Is6() {
				src = src6
			}
			r, err := l.Lookup(Query{In: in, Src: src, Dst: dst, Proto: 17})
			if err != nil {
				t.Errorf("%s: %v", c.dst, err)
				continue
			}
			if r.Verdict != c.want {
				t.Errorf("%s: %v, want %v", c.dst, r.Verdict, c.want)
				continue
			}
			if r.Verdict == Forward {
				if r.Ifindex != out || r.DstMAC != [6]byte{2, 0, 0, 0, 0, 0x80} || r.SrcMAC != [6]byte{2, 0, 0, 0, 0, 0x0a} || r.MTU != 1500 {
					t.Errorf("%s: %+v; want out of xa (%d) to 02::80 from 02::0a, MTU 1500", c.dst, r, out)
				}
			}
		}
	})
}

func netInterface(name string) (int, error) {
	i, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return i.Index, nil
}
