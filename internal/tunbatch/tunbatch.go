// Package tunbatch reads a wireguard-go TUN queue in bursts: one blocking
// read, then whatever else the kernel has already queued, up to a batch.
//
// Translating and writing a burst at once is what makes small packets
// cheap. wireguard-go's Write coalesces the packets of one flow into a
// single GSO superpacket, so the kernel forwards a burst once instead of
// once per packet, and forwarding is most of what a small packet costs. A
// TUN read, though, returns one packet unless the kernel handed over a
// superpacket, so without draining the queue each 64-byte datagram would
// be its own read, translation and write.
package tunbatch

import (
	"errors"

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

	dev    tun.Device
	batch  int
	offset int
	poll   []unix.PollFd // nil: the device has no descriptor to poll
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
	}
	return r
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
