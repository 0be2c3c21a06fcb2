// Package tunbatch reads a TUN queue in bursts: one wait, then whatever
// else the kernel has already queued, up to a batch.
//
// Translating and writing a burst at once is what makes small packets
// cheap. wireguard-go's Write coalesces the packets of one flow into a
// single GSO superpacket, so the kernel forwards a burst once instead of
// once per packet. A TUN read, though, returns one packet unless the
// kernel handed over a superpacket, so without draining the queue each
// 64-byte datagram would be its own read, translation and write.
//
// On a Linux TUN queue the Reader drains with read(2) on the descriptor
// until the kernel says EAGAIN, and waits in Go's netpoller only when the
// queue is empty: a burst of n packets costs n+1 system calls, not 2n
// (a poll before each further read) as through wireguard-go's Read. It
// does the virtio header's work itself (finishing partial checksums,
// cutting superpackets into segments).
package tunbatch

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// Reader reads bursts from one TUN queue into buffers of its own.
type Reader struct {
	// Bufs and Sizes hold the last burst: packet i is
	// Bufs[i][offset:offset+Sizes[i]], with offset octets of room in
	// front (wireguard-go's virtio header, and any growth the caller
	// wants to make in place).
	Bufs  [][]byte
	Sizes []int

	// Dropped counts what the kernel handed over that could not become
	// packets: a superpacket with more segments than the buffers left,
	// or a virtio header that does not fit its packet.
	Dropped atomic.Uint64

	dev    tun.Device
	batch  int
	offset int
	poll   []unix.PollFd // nil: the device has no descriptor to poll

	// On a Linux TUN queue: its descriptor, read directly, whether
	// packets carry a virtio header, and a buffer to swap in for one
	// holding a superpacket while it is cut into segments.
	raw     syscall.RawConn
	vnet    bool
	spare   []byte
	drainFn func(fd uintptr) bool // r.drainOnce, made once: no allocation per Read
	got     int
	err     error
}

// NewReader reads dev with offset octets of headroom in buffers of size
// octets each, laid out by Buffers. It holds twice dev.BatchSize()
// buffers: a single read may split a superpacket into a whole batch of
// segments, and one more read is only started while a whole batch of room
// is left.
func NewReader(dev tun.Device, offset, size int) *Reader {
	batch := dev.BatchSize()
	r := &Reader{
		Bufs:   Buffers(2*batch, size),
		Sizes:  make([]int, 2*batch),
		dev:    dev,
		batch:  batch,
		offset: offset,
	}
	if fd, ok := descriptor(dev); ok {
		r.poll = []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if flags, ok := tunFlags(fd); ok && (flags&unix.IFF_VNET_HDR == 0 || offset >= virtioHdrLen) {
			r.raw, _ = dev.File().SyscallConn()
			r.vnet = flags&unix.IFF_VNET_HDR != 0
			r.spare = make([]byte, size)
			r.drainFn = r.drainOnce
		}
	}
	return r
}

// tunFlags returns the IFF_ flags of the TUN queue open on fd, and false
// when fd is not one.
func tunFlags(fd int) (uint16, bool) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return 0, false
	}
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
		return 0, false
	}
	return ifr.Uint16(), true
}

// descriptor finds the file descriptor under dev without os.File.Fd,
// which would switch it to blocking mode behind wireguard-go's back (and
// then Close could no longer interrupt a read).
func descriptor(dev tun.Device) (int, bool) {
	f := dev.File()
	if f == nil {
		return 0, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	rc.Control(func(u uintptr) { fd = int(u) })
	return fd, fd >= 0
}

// Read waits for at least one packet, then takes whatever else is queued
// until a batch is full, and returns how many packets are in Bufs. An
// error from the first read is returned as it is (tun.ErrTooManySegments
// means one superpacket was lost, os.ErrClosed that the device is gone);
// an error from a later read ends the burst and shows up at the next
// call.
func (r *Reader) Read() (int, error) {
	if r.raw != nil {
		return r.readRaw()
	}
	n, err := r.dev.Read(r.Bufs[:r.batch], r.Sizes, r.offset)
	if err != nil {
		return 0, err
	}
	for n < r.batch && r.ready() {
		k, err := r.dev.Read(r.Bufs[n:n+r.batch], r.Sizes[n:], r.offset)
		if err != nil {
			break
		}
		n += k
	}
	return n, nil
}

// ready reports whether a packet is waiting, without blocking.
func (r *Reader) ready() bool {
	if r.poll == nil {
		return false
	}
	for {
		n, err := unix.Poll(r.poll, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n == 1 && r.poll[0].Revents&unix.POLLIN != 0
	}
}

// readRaw drains the TUN queue with read(2) until EAGAIN or a full batch,
// parking in the netpoller only while nothing has been read.
func (r *Reader) readRaw() (int, error) {
	perr := r.raw.Read(r.drainFn)
	n, err := r.got, r.err
	switch {
	case n > 0:
		return n, nil // a later read's error shows up at the next call
	case perr != nil:
		// The netpoller only fails once the file is closing.
		return 0, fmt.Errorf("%w: %v", os.ErrClosed, perr)
	case err == unix.EBADFD:
		return 0, os.ErrClosed
	}
	return 0, err
}

// drainOnce is the netpoller's callback: it drains, and asks to be
// called again once the descriptor is readable if nothing was there.
func (r *Reader) drainOnce(fd uintptr) bool {
	r.got, r.err = r.drain(int(fd))
	return r.got > 0 || r.err != unix.EAGAIN
}

// drain reads packets into Bufs until the queue is empty or less than a
// batch of buffers is left (one read may be a superpacket of up to a
// batch of segments).
func (r *Reader) drain(fd int) (int, error) {
	hdr := 0
	if r.vnet {
		hdr = virtioHdrLen
	}
	n := 0
	for n < r.batch {
		buf := r.Bufs[n]
		m, err := unix.Read(fd, buf[r.offset-hdr:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m <= hdr {
			r.Dropped.Add(1)
			continue
		}
		if !r.vnet {
			r.Sizes[n] = m
			n++
			continue
		}
		h := decodeVirtio(buf[r.offset-hdr:])
		pkt := buf[r.offset : r.offset-hdr+m]
		if h.gsoType == unix.VIRTIO_NET_HDR_GSO_NONE {
			if h.flags&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 && completeChecksum(pkt, h.csumStart, h.csumOffset) != nil {
				r.Dropped.Add(1)
				continue
			}
			r.Sizes[n] = len(pkt)
			n++
			continue
		}
		// A superpacket: set it aside and cut it into Bufs[n:].
		r.Bufs[n], r.spare = r.spare, buf
		k, err := split(pkt, h, r.Bufs[n:], r.Sizes[n:], r.offset)
		if err != nil {
			r.Dropped.Add(1)
			continue
		}
		n += k
	}
	return n, nil
}
