package tunbatch

import (
	"fmt"
	"io"
	"os"
	"testing"
	"unsafe"

	"golang.zx2c4.com/wireguard/tun"
)

// pipeTUN is a tun.Device over a pipe carrying packets of pktLen octets:
// each Read takes one packet, as a TUN queue without offloads does.
type pipeTUN struct {
	r, w *os.File
}

const pktLen = 8

func (p *pipeTUN) File() *os.File { return p.r }
func (p *pipeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if _, err := io.ReadFull(p.r, bufs[0][offset:offset+pktLen]); err != nil {
		return 0, err
	}
	sizes[0] = pktLen
	return 1, nil
}
func (p *pipeTUN) Write(bufs [][]byte, offset int) (int, error) { return 0, nil }
func (p *pipeTUN) MTU() (int, error)                            { return 1500, nil }
func (p *pipeTUN) Name() (string, error)                        { return "pipe", nil }
func (p *pipeTUN) Events() <-chan tun.Event                     { return nil }
func (p *pipeTUN) Close() error                                 { p.w.Close(); return p.r.Close() }
func (p *pipeTUN) BatchSize() int                               { return 4 }

func newPipeTUN(t *testing.T) *pipeTUN {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeTUN{r: r, w: w}
	t.Cleanup(func() { p.Close() })
	return p
}

// queue puts packets "pkt-0000", "pkt-0001", ... into the pipe.
func (p *pipeTUN) queue(t *testing.T, from, n int) {
	for i := from; i < from+n; i++ {
		if _, err := fmt.Fprintf(p.w, "pkt-%04d", i); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *Reader) packets(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, string(r.Bufs[i][r.offset:r.offset+r.Sizes[i]]))
	}
	return out
}

func TestReadDrainsTheQueue(t *testing.T) {
	dev := newPipeTUN(t)
	r := NewReader(dev, 16, 64)
	if r.poll == nil {
		t.Fatal("found no descriptor to poll")
	}
	// A lone packet comes back alone: nothing waits for a second one.
	dev.queue(t, 0, 1)
	if n, err := r.Read(); err != nil || fmt.Sprint(r.packets(n)) != "[pkt-0000]" {
		t.Fatalf("Read = %v, %v; want [pkt-0000]", r.packets(n), err)
	}
	// A queued burst is taken in one call up to the batch (4), in order;
	// the rest comes with the next call.
	dev.queue(t, 1, 6)
	if n, err := r.Read(); err != nil || fmt.Sprint(r.packets(n)) != "[pkt-0001 pkt-0002 pkt-0003 pkt-0004]" {
		t.Fatalf("first Read = %v, %v; want four packets", r.packets(n), err)
	}
	if n, err := r.Read(); err != nil || fmt.Sprint(r.packets(n)) != "[pkt-0005 pkt-0006]" {
		t.Fatalf("second Read = %v, %v; want the last two", r.packets(n), err)
	}
}

// A device whose descriptor cannot be polled is read one call at a time.
func TestReadWithoutDescriptor(t *testing.T) {
	dev := newPipeTUN(t)
	r := NewReader(noFile{dev}, 0, 64)
	dev.queue(t, 0, 3)
	if n, err := r.Read(); err != nil || n != 1 {
		t.Fatalf("Read = %d, %v; want 1 packet", n, err)
	}
}

type noFile struct{ *pipeTUN }

func (noFile) File() *os.File { return nil }

func TestReadReportsFirstError(t *testing.T) {
	dev := newPipeTUN(t)
	r := NewReader(dev, 0, 64)
	dev.w.Close()
	if _, err := r.Read(); err == nil {
		t.Fatal("Read on a closed device returned no error")
	}
}

// Buffers the size of a TUN read are page-aligned allocations; each
// must start at its own cache-line offset in the page, so that the first
// line of 64 buffers in a row falls in 64 different L1 sets.
func TestBuffersSpreadOverSets(t *testing.T) {
	const size = 65535 + 64
	bufs := Buffers(200, size)
	for i, b := range bufs {
		if len(b) != size {
			t.Fatalf("buffer %d has %d octets, want %d", i, len(b), size)
		}
	}
	for i := 0; i+lineSpan <= len(bufs); i++ {
		var seen [lineSpan]bool
		for _, b := range bufs[i : i+lineSpan] {
			set := uintptr(unsafe.Pointer(unsafe.SliceData(b))) / cacheLine % lineSpan
			if seen[set] {
				t.Fatalf("buffers %d to %d: two start in L1 set %d", i, i+lineSpan-1, set)
			}
			seen[set] = true
		}
	}
}
