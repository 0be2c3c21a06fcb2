package fib

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// benchNamespaces are the namespaces the benchmarks made, by size of
// table, kept across runs (-count) and removed by TestMain.
var benchNamespaces = map[int]string{}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, name := range benchNamespaces {
		exec.Command("ip", "netns", "del", name).Run()
	}
	os.Exit(code)
}

// benchNetns makes (once per size) a named namespace with the bed's way
// out and routes more /24 routes, and moves the calling goroutine's
// thread into it for good.
func benchNetns(b *testing.B, routes int) (in int) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root for a network namespace and BPF")
	}
	name, made := benchNamespaces[routes]
	if !made {
		name = fmt.Sprintf("xlatfib%d-%d", routes, os.Getpid())
		benchNamespaces[routes] = name
		ip := func(args ...string) {
			if out, err := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
				b.Fatalf("ip %v: %v\n%s", args, err, out)
			}
		}
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			b.Fatalf("ip netns add: %v\n%s", err, out)
		}
		ip("link", "add", "in0", "type", "veth", "peer", "name", "in1")
		ip("link", "add", "xa", "type", "veth", "peer", "name", "xb")
		for _, l := range []string{"in0", "in1", "xa", "xb"} {
			ip("link", "set", l, "up")
		}
		ip("addr", "add", "192.0.2.1/24", "dev", "xa")
		ip("neigh", "add", "192.0.2.80", "lladdr", "02:00:00:00:00:80", "dev", "xa", "nud", "permanent")
		ip("route", "add", "default", "via", "192.0.2.80")
		exec.Command("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1").Run()
		f := filepath.Join(b.TempDir(), "routes")
		os.WriteFile(f, []byte(netnstest.SyntheticRoutes(routes)), 0o644)
		ip("-batch", f)
	}
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		b.Fatal(err)
	}
	l, err := netInterface("in0")
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// The kernel's lookup and the cache's hit, with the table the bed needs
// and with a synthetic full table beside it: neither may grow with the
// table (the kernel's LC-trie does not, and a hit is a hash lookup).
//
//	go test -run '^$' -bench . -count 6 ./internal/fib/ | benchstat -col /routes -
func BenchmarkLookup(b *testing.B) {
	src, dst := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.80")
	far := netip.MustParseAddr("14.1.2.3") // inside the synthetic table, or by the default route
	for _, routes := range []int{10, 1000000} {
		b.Run(fmt.Sprintf("routes=%d/op=kernel", routes), func(b *testing.B) {
			in := benchNetns(b, routes)
			l, err := NewLookup()
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := dst
				if i&1 == 1 {
					d = far
				}
				if r, err := l.Lookup(Query{In: in, Src: src, Dst: d}); err != nil || r.Verdict != Forward {
					b.Fatalf("%v: %+v %v", d, r, err)
				}
			}
		})
		b.Run(fmt.Sprintf("routes=%d/op=cached", routes), func(b *testing.B) {
			in := benchNetns(b, routes)
			l, err := NewLookup()
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			w, err := NewWatcher()
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			c := NewCache(l, w, in)
			c.Sync()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := dst
				if i&1 == 1 {
					d = far
				}
				if r, ok := c.Route(src, d); !ok || r.Verdict != Forward {
					b.Fatalf("%v: %+v", d, r)
				}
			}
		})
	}
}
