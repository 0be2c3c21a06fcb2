package afxdp

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// The program's cost per frame, its kernel lookup included, with the
// routes a lab has and with a synthetic full table of IPv4 /24s beside
// them: IPv6 frames (the ingress lookup in the IPv6 table) and IPv4
// frames (in the IPv4 table, where the million routes are).
//
//	go test -run '^$' -bench Program -count 6 ./internal/afxdp/ | benchstat -col /routes -
func BenchmarkProgram(b *testing.B) {
	const eth = "020000000001020000000002"
	frames := map[string]string{
		"6": eth + "86dd" + "6000000000081140" + "20010db8000000000000000000000010" + "0064ff9b0000000000000000c0000250" + "0000000000000000",
		"4": eth + "0800" + "45000020000040004011" + "0000" + "c0000250" + "cb007105" + "0000000000000000" + "00000000",
	}
	for _, fam := range []string{"6", "4"} {
		for _, routes := range []int{10, 1000000} {
			b.Run(fmt.Sprintf("routes=%d/family=%s", routes, fam), func(b *testing.B) {
				// The program's way in (xa), a stand-in for the TUN
				// device (tv), and routes more /24 routes.
				kept.Enter(b, fmt.Sprintf("prog%d", routes), func(ns string) {
					netnstest.IP(b, ns,
						"link add xa address 02:00:00:00:00:01 type veth peer name xb",
						"link add tv type veth peer name tw",
						"link set xa up", "link set xb up", "link set tv up", "link set tw up",
						"addr add 192.0.2.1/24 dev xa",
						"route add 203.0.113.0/28 dev tv", "-6 route add 64:ff9b::/96 dev tv",
						"-batch "+netnstest.SyntheticRoutes(b, routes))
					netnstest.Sh(b, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
				})
				tv, err := netlink.LinkByName("tv")
				if err != nil {
					b.Fatal(err)
				}
				c, err := NewClaims()
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				c.Set([]netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("203.0.113.0/28")})
				p := &Program{}
				for _, m := range []struct {
					p    **ebpf.Map
					spec *ebpf.MapSpec
				}{
					{&p.xsks, &ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 1}},
					{&p.guard, &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: guardSize, MaxEntries: 1}},
				} {
					if *m.p, err = ebpf.NewMap(m.spec); err != nil {
						b.Fatal(err)
					}
				}
				defer p.Close()
				p.SetGuard(Guard{MAC: [6]byte{2, 0, 0, 0, 0, 1}, Via: tv.Attrs().Index})
				ins, err := p.instructions(c, 0)
				if err != nil {
					b.Fatal(err)
				}
				prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: ins})
				if err != nil {
					b.Fatal(err)
				}
				defer prog.Close()
				frame, _ := hex.DecodeString(frames[fam])
				// The socket map is empty: a frame the program claims is
				// redirected to no socket, and XDP_PASS comes back, after
				// all of the program's work.
				ret, d, err := prog.Benchmark(frame, b.N, b.ResetTimer)
				if err != nil {
					b.Fatal(err)
				}
				if ret != xdpPass {
					b.Fatalf("action %d", ret)
				}
				b.ReportMetric(float64(d.Nanoseconds()), "ns/frame")
			})
		}
	}
}

// kept are the benchmark's namespaces, one per size of table.
var kept netnstest.KeptNetns

func TestMain(m *testing.M) {
	code := m.Run()
	kept.RemoveAll()
	os.Exit(code)
}
