package fib

import (
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// kept are the benchmarks' namespaces, one per size of table.
var kept netnstest.KeptNetns

func TestMain(m *testing.M) {
	code := m.Run()
	kept.RemoveAll()
	os.Exit(code)
}

// benchNetns moves the calling goroutine's thread for good into a
// namespace with the bed's way out and routes more /24 routes, made the
// first time, and returns the index of in0, where the lookups arrive.
func benchNetns(b *testing.B, routes int) (in int) {
	b.Helper()
	kept.Enter(b, fmt.Sprintf("fib%d", routes), func(ns string) {
		netnstest.IP(b, ns,
			"link add in0 type veth peer name in1", "link add xa type veth peer name xb",
			"link set in0 up", "link set in1 up", "link set xa up", "link set xb up",
			"addr add 192.0.2.1/24 dev xa",
			"neigh add 192.0.2.80 lladdr 02:00:00:00:00:80 dev xa nud permanent",
			"route add default via 192.0.2.80",
			"-batch "+netnstest.SyntheticRoutes(b, routes))
		netnstest.Sh(b, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	})
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
