package oracle

import (
	"math/rand"
	"strconv"
	"testing"

	gvchecksum "gvisor.dev/gvisor/pkg/tcpip/checksum"

	"github.com/v6xlat/xlat/checksum"
)

// Differential: our sum equals gVisor's for every length and alignment up
// to a jumbo frame.
func TestChecksumMatchesGVisor(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	buf := make([]byte, 9001+8)
	rng.Read(buf)
	for align := 0; align < 8; align++ {
		for n := 0; n <= 9001; n += 1 + n/64 {
			b := buf[align : align+n]
			init := uint16(rng.Uint32())
			if got, want := checksum.Checksum(b, init), gvchecksum.Checksum(b, init); got != want {
				t.Fatalf("len %d align %d init %#04x: xlat %#04x, gVisor %#04x", n, align, init, got, want)
			}
		}
	}
}

func FuzzChecksumVsGVisor(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(0xffff))
	f.Add(make([]byte, 300), uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, init uint16) {
		if got, want := checksum.Checksum(b, init), gvchecksum.Checksum(b, init); got != want {
			t.Fatalf("Checksum(%x, %#04x): xlat %#04x, gVisor %#04x", b, init, got, want)
		}
	})
}

var benchSizes = []int{20, 40, 64, 576, 1280, 1500, 9000, 65535}

var sink uint16

// BenchmarkChecksum runs xlat and gVisor on the same buffers in one run, so
// the two can be compared with benchstat (-col /impl).
func BenchmarkChecksum(b *testing.B) {
	impls := []struct {
		name string
		f    func([]byte, uint16) uint16
	}{
		{"xlat", checksum.Checksum},
		{"gvisor", gvchecksum.Checksum},
	}
	for _, n := range benchSizes {
		buf := make([]byte, n)
		rand.New(rand.NewSource(int64(n))).Read(buf)
		for _, impl := range impls {
			b.Run("size="+strconv.Itoa(n)+"/impl="+impl.name, func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				var s uint16
				for i := 0; i < b.N; i++ {
					s = impl.f(buf, s)
				}
				sink = s
			})
		}
	}
}
