// Package afxdp moves Ethernet frames between network interfaces and user
// space through AF_XDP sockets (Linux 5.10 and later), without cgo,
// libbpf or clang.
//
// The pieces, as the kernel's Documentation/networking/af_xdp.rst names
// them:
//
//   - A UMEM is one region of memory cut into frames of FrameSize octets,
//     registered with the first socket and shared by the others
//     (XDP_SHARED_UMEM), so that a frame received on one interface can be
//     sent on another without a copy.
//   - Each Socket is bound to one receive queue of one interface and has
//     four rings in shared memory: fill (frames the kernel may receive
//     into), RX (frames received), TX (frames to send) and completion
//     (frames sent, free again). One goroutine owns a UMEM and its
//     sockets, so the rings need no locks: each has one producer and one
//     consumer, synchronised through their producer and consumer indexes.
//   - An XDP program (program.go) redirects the frames a caller claims to
//     the socket of the queue they arrived on and passes everything else
//     to the kernel's stack, so neighbour discovery, ARP and the host's own
//     traffic go on as before.
//
// Sockets bind in zero-copy mode where the driver offers it and in copy
// mode otherwise (veth has no zero-copy), and always ask for the
// need-wakeup flags, so that the kernel is only kicked with a system call
// when it says it sleeps.
package afxdp
