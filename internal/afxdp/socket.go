package afxdp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FrameSize is the size of a UMEM frame: one page, so that a frame never
// straddles two and every interface MTU up to FrameSize - Headroom fits.
const FrameSize = 4096

// Headroom is where a received packet starts in its frame: the kernel
// leaves XDP_PACKET_HEADROOM in front of it, room for a translated
// packet's growth and for the link header in front of that.
const Headroom = unix.XDP_PACKET_HEADROOM

// UMEM is the frame memory a group of sockets shares, and the frames not
// in any ring at the moment. It belongs to one goroutine.
type UMEM struct {
	mem  []byte
	free []uint64 // frame addresses (offsets into mem) owned by this process
	fd   int      // the socket it is registered with; -1 before the first
	// ringSize is the number of entries of each ring of each socket.
	ringSize uint32
}

// NewUMEM maps frames frames of FrameSize octets, for sockets with rings
// of ringSize entries (a power of two).
func NewUMEM(frames int, ringSize uint32) (*UMEM, error) {
	if ringSize == 0 || ringSize&(ringSize-1) != 0 {
		return nil, fmt.Errorf("ring size %d is not a power of two", ringSize)
	}
	mem, err := unix.Mmap(-1, 0, frames*FrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping %d frames: %w", frames, err)
	}
	u := &UMEM{mem: mem, fd: -1, ringSize: ringSize, free: make([]uint64, 0, frames)}
	for i := frames - 1; i >= 0; i-- {
		u.free = append(u.free, uint64(i*FrameSize))
	}
	return u, nil
}

// Frame returns the frame that holds UMEM address addr, whole.
func (u *UMEM) Frame(addr uint64) []byte {
	base := addr &^ (FrameSize - 1)
	return u.mem[base : base+FrameSize : base+FrameSize]
}

// Alloc takes a free frame and returns its address, or false when none is
// left.
func (u *UMEM) Alloc() (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	a := u.free[n-1]
	u.free = u.free[:n-1]
	return a, true
}

// Free gives the frame holding addr back.
func (u *UMEM) Free(addr uint64) {
	u.free = append(u.free, addr&^(FrameSize-1))
}

// FreeFrames reports how many frames are free.
func (u *UMEM) FreeFrames() int { return len(u.free) }

// Close unmaps the memory; close the sockets first.
func (u *UMEM) Close() {
	if u.mem != nil {
		unix.Munmap(u.mem)
		u.mem = nil
	}
}

// Socket is an AF_XDP socket bound to one queue of one interface.
type Socket struct {
	fd       int
	Ifindex  int
	Queue    int
	ZeroCopy bool
	umem     *UMEM

	fill, comp, rx, tx *ring
}

// Errors Open wraps, so that callers can say what is missing.
var (
	ErrNoXDPSockets = errors.New("AF_XDP sockets are not available (a kernel without CONFIG_XDP_SOCKETS?)")
	ErrPermission   = errors.New("AF_XDP needs root, or CAP_NET_RAW and CAP_NET_ADMIN (and CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK for the frames)")
)

// Open creates a socket on queue queue of interface ifindex using u, in
// zero-copy mode where the driver offers it and copy mode otherwise, with
// need-wakeup. The first socket of a UMEM registers it; later ones share
// it with rings of their own.
func Open(u *UMEM, ifindex, queue int) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.EAFNOSUPPORT):
			return nil, ErrNoXDPSockets
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	s := &Socket{fd: fd, Ifindex: ifindex, Queue: queue, umem: u}
	if err := s.setup(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup() error {
	u := s.umem
	if u.fd < 0 {
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(u.mem)))),
			Len:  uint64(len(u.mem)),
			Size: FrameSize,
		}
		if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOBUFS) {
				return fmt.Errorf("registering %d MiB of frames: %w (%w)", len(u.mem)>>20, ErrPermission, err)
			}
			return fmt.Errorf("registering the UMEM: %w", err)
		}
	}
	n := u.ringSize
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := setsockopt(s.fd, opt, unsafe.Pointer(&n), 4); err != nil {
			return fmt.Errorf("sizing ring %d: %w", opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	l := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return fmt.Errorf("XDP_MMAP_OFFSETS: %w", e)
	}
	var err error
	if s.fill, err = mapRing(s.fd, off.Fr, n, 8, unix.XDP_UMEM_PGOFF_FILL_RING); err != nil {
		return fmt.Errorf("mapping the fill ring: %w", err)
	}
	if s.comp, err = mapRing(s.fd, off.Cr, n, 8, unix.XDP_UMEM_PGOFF_COMPLETION_RING); err != nil {
		return fmt.Errorf("mapping the completion ring: %w", err)
	}
	if s.rx, err = mapRing(s.fd, off.Rx, n, unsafe.Sizeof(unix.XDPDesc{}), unix.XDP_PGOFF_RX_RING); err != nil {
		return fmt.Errorf("mapping the RX ring: %w", err)
	}
	if s.tx, err = mapRing(s.fd, off.Tx, n, unsafe.Sizeof(unix.XDPDesc{}), unix.XDP_PGOFF_TX_RING); err != nil {
		return fmt.Errorf("mapping the TX ring: %w", err)
	}
	sa := &unix.SockaddrXDP{Ifindex: uint32(s.Ifindex), QueueID: uint32(s.Queue)}
	if u.fd >= 0 {
		// A socket sharing the UMEM takes the first one's mode and
		// need-wakeup setting, and may name none of its own.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(u.fd)
		if err := bind(s.fd, sa); err != nil {
			return bindError(s, err)
		}
	} else {
		// Zero-copy first; a driver without it says EOPNOTSUPP, and
		// copy mode works everywhere.
		sa.Flags = unix.XDP_USE_NEED_WAKEUP | unix.XDP_ZEROCOPY
		if err := bind(s.fd, sa); err != nil {
			sa.Flags = unix.XDP_USE_NEED_WAKEUP | unix.XDP_COPY
			if err := bind(s.fd, sa); err != nil {
				return bindError(s, err)
			}
		}
	}
	var opts uint32
	optLen := uint32(4)
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_OPTIONS, uintptr(unsafe.Pointer(&opts)), uintptr(unsafe.Pointer(&optLen)), 0); e == 0 {
		s.ZeroCopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	if u.fd < 0 {
		u.fd = s.fd
	}
	return nil
}

// bind binds, trying again for up to two seconds while the kernel says
// EBUSY: a queue whose last socket closed a moment ago (a gateway
// restarted, or killed) is released asynchronously.
func bind(fd int, sa *unix.SockaddrXDP) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = unix.Bind(fd, sa); !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func bindError(s *Socket, err error) error {
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("binding to queue %d of interface %d: %w (another AF_XDP socket holds it, or one that just closed is still being released: try again in a second)", s.Queue, s.Ifindex, err)
	}
	return fmt.Errorf("binding to queue %d of interface %d: %w", s.Queue, s.Ifindex, err)
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

// FD is the socket's descriptor, for an XSKMAP and for poll.
func (s *Socket) FD() int { return s.fd }

// Close closes the socket and unmaps its rings.
func (s *Socket) Close() error {
	for _, r := range []*ring{s.fill, s.comp, s.rx, s.tx} {
		r.unmap()
	}
	if s.fd >= 0 {
		err := unix.Close(s.fd)
		s.fd = -1
		return err
	}
	return nil
}

// Fill hands free frames to the kernel to receive into, as many as the
// fill ring takes, and returns how many.
func (s *Socket) Fill() int {
	u := s.umem
	n := s.fill.free(uint32(len(u.free)))
	n = min(n, uint32(len(u.free)))
	if n == 0 {
		return 0
	}
	for i := uint32(0); i < n; i++ {
		a, _ := u.Alloc()
		*s.fill.addr(s.fill.cachedProd + i) = a
	}
	s.fill.submit(n)
	return int(n)
}

// Complete takes back the frames the kernel has finished sending and
// returns how many.
func (s *Socket) Complete() int {
	n := s.comp.available(s.comp.size)
	for i := uint32(0); i < n; i++ {
		s.umem.Free(*s.comp.addr(s.comp.cachedCons + i))
	}
	if n > 0 {
		s.comp.release(n)
	}
	return int(n)
}

// Receive returns up to len(descs) received frames into descs, which
// stay the caller's until Release.
func (s *Socket) Receive(descs []unix.XDPDesc) int {
	n := s.rx.available(uint32(len(descs)))
	for i := uint32(0); i < n; i++ {
		descs[i] = *s.rx.xdpDesc(s.rx.cachedCons + i)
	}
	return int(n)
}

// Release gives n received descriptors back to the RX ring; the frames
// themselves stay the caller's (to send, or to Free).
func (s *Socket) Release(n int) {
	if n > 0 {
		s.rx.release(uint32(n))
	}
}

// TXFree returns how many frames the TX ring takes now.
func (s *Socket) TXFree() int { return int(s.tx.free(s.tx.size)) }

// Send queues frame addr (a UMEM address, the first octet of the frame to
// send) of n octets for transmission; it reports false when the TX ring
// is full. Nothing goes out before Flush.
func (s *Socket) Send(addr uint64, n int) bool {
	if s.tx.free(1) == 0 {
		return false
	}
	*s.tx.xdpDesc(s.tx.cachedProd) = unix.XDPDesc{Addr: addr, Len: uint32(n)}
	s.tx.cachedProd++
	return true
}

// Flush publishes the queued frames and kicks the kernel if it asks for
// it. In copy mode it always asks, and each sendto sends at most a small
// batch (32 frames in Linux 6.x) before saying EAGAIN, so Flush kicks
// until the kernel has taken everything or says it is busy.
func (s *Socket) Flush() error {
	if atomic.LoadUint32(s.tx.producer) != s.tx.cachedProd {
		atomic.StoreUint32(s.tx.producer, s.tx.cachedProd)
	}
	for i := 0; i < 64 && s.tx.needWakeup() && atomic.LoadUint32(s.tx.consumer) != s.tx.cachedProd; i++ {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN:
			continue
		case unix.EBUSY, unix.ENOBUFS, unix.ENETDOWN:
			// Busy sending from another context, or out of
			// buffers: the frames stay queued for the next kick.
			return nil
		default:
			return e
		}
	}
	return nil
}

// Outstanding is how many frames are queued for sending or sent and not
// yet completed.
func (s *Socket) Outstanding() int {
	return int(s.tx.cachedProd - atomic.LoadUint32(s.tx.consumer))
}

// WakeRX asks the kernel to go on filling the RX ring where it sleeps
// waiting for fill entries (need-wakeup on the fill ring, zero-copy
// drivers).
func (s *Socket) WakeRX() {
	if s.fill.needWakeup() {
		unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
}

// Stats are the kernel's counters for the socket (XDP_STATISTICS).
func (s *Socket) Stats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	l := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS, uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return st, e
	}
	return st, nil
}
