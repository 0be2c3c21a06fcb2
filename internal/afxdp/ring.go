package afxdp

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one of a socket's four rings: a power-of-two array of
// descriptors in memory shared with the kernel, and the producer and
// consumer indexes that say which part of it belongs to whom. The indexes
// run freely and wrap at 2^32; an entry's slot is its index & mask.
//
// Each ring has one producer and one consumer, the kernel and this
// process. The side that owns an index keeps a cached copy of the other's,
// and reads the shared one (an atomic load: acquire) only when the cache
// says there is not enough; it publishes its own with an atomic store
// (release) after the descriptors are written or read.
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	desc     unsafe.Pointer // [size]uint64 (fill, completion) or [size]unix.XDPDesc (RX, TX)
	mask     uint32
	size     uint32

	cachedProd uint32
	cachedCons uint32

	mem []byte // the mapping, for Munmap
}

// mapRing maps the ring of n entries of entSize octets at the page offset
// pgoff of socket fd, laid out as off says.
func mapRing(fd int, off unix.XDPRingOffset, n uint32, entSize uintptr, pgoff int64) (*ring, error) {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc)+int(n)*int(entSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	base := unsafe.Pointer(unsafe.SliceData(mem))
	return &ring{
		producer: (*uint32)(unsafe.Add(base, off.Producer)),
		consumer: (*uint32)(unsafe.Add(base, off.Consumer)),
		flags:    (*uint32)(unsafe.Add(base, off.Flags)),
		desc:     unsafe.Add(base, off.Desc),
		mask:     n - 1,
		size:     n,
		mem:      mem,
	}, nil
}

func (r *ring) unmap() {
	if r != nil && r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}

// needWakeup reports whether the kernel asks to be kicked for this ring
// (XDP_RING_NEED_WAKEUP, with XDP_USE_NEED_WAKEUP at bind).
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// Producer side (fill, TX).

// free returns how many entries this process may produce, up to want,
// refreshing the cached consumer index only when the cache says fewer.
func (r *ring) free(want uint32) uint32 {
	n := r.size - (r.cachedProd - r.cachedCons)
	if n >= want {
		return n
	}
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r.size - (r.cachedProd - r.cachedCons)
}

// addr is fill or completion entry i (an index, not a slot).
func (r *ring) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.desc, uintptr(i&r.mask)*8))
}

// xdpDesc is RX or TX entry i.
func (r *ring) xdpDesc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.desc, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

// submit publishes n entries written from the cached producer index on.
func (r *ring) submit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// Consumer side (RX, completion).

// available returns how many entries are there to consume, up to want,
// refreshing the cached producer index only when the cache is empty.
func (r *ring) available(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n == 0 {
		r.cachedProd = atomic.LoadUint32(r.producer)
		n = r.cachedProd - r.cachedCons
	}
	return min(n, want)
}

// release gives n consumed entries back to the kernel.
func (r *ring) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}
