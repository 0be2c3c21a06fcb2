package afxdp

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// The program's cost per frame, its kernel lookup included, with the
// routes a lab has and with a synthetic full table of IPv4 /24s beside
// them: IPv6 frames (the ingress lookup in the IPv6 table) and IPv4
// frames (in the IPv4 table, where the million routes are).
//
//	go test -run '^$' -bench Program -count 6 ./internal/afxdp/ | benchstat -col /routes -
func BenchmarkProgram(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for a network namespace and BPF")
	}
	const eth = "020000000001020000000002"
	frames := map[string]string{
		"6": eth + "86dd" + "6000000000081140" + "20010db8000000000000000000000010" + "0064ff9b0000000000000000c0000250" + "0000000000000000",
		"4": eth + "0800" + "45000020000040004011" + "0000" + "c0000250" + "cb007105" + "0000000000000000" + "00000000",
	}
	for _, fam := range []string{"6", "4"} {
		for _, routes := range []int{10, 1000000} {
			b.Run(fmt.Sprintf("routes=%d/family=%s", routes, fam), func(b *testing.B) {
				name := benchNetns(b, routes)
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer unix.Close(fd)
				if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
					b.Fatal(err)
				}
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

// benchNamespaces are the namespaces BenchmarkProgram made, by size of
// table, kept across its runs (-count) and removed by TestMain.
var benchNamespaces = map[int]string{}

// benchNetns returns a namespace with the program's way in (xa), a
// stand-in for the TUN device (tv) and routes more /24 routes, made the
// first time it is asked for.
func benchNetns(b *testing.B, routes int) string {
	if name, ok := benchNamespaces[routes]; ok {
		return name
	}
	name := fmt.Sprintf("xlatprog%d-%d", routes, os.Getpid())
	setup := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "add", "xa", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "xb"},
		{"-n", name, "link", "add", "tv", "type", "veth", "peer", "name", "tw"},
		{"-n", name, "link", "set", "xa", "up"}, {"-n", name, "link", "set", "xb", "up"},
		{"-n", name, "link", "set", "tv", "up"}, {"-n", name, "link", "set", "tw", "up"},
		{"-n", name, "addr", "add", "192.0.2.1/24", "dev", "xa"},
		{"-n", name, "route", "add", "203.0.113.0/28", "dev", "tv"},
		{"-n", name, "-6", "route", "add", "64:ff9b::/96", "dev", "tv"},
	}
	benchNamespaces[routes] = name
	for _, args := range setup {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	exec.Command("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1").Run()
	f := filepath.Join(b.TempDir(), "routes")
	os.WriteFile(f, []byte(netnstest.SyntheticRoutes(routes)), 0o644)
	if out, err := exec.Command("ip", "-n", name, "-batch", f).CombinedOutput(); err != nil {
		b.Fatalf("ip -batch: %v\n%s", err, out)
	}
	return name
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, name := range benchNamespaces {
		exec.Command("ip", "netns", "del", name).Run()
	}
	os.Exit(code)
}
