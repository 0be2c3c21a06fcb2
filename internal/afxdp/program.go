package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Claims are the destinations whose packets the XDP programs redirect to
// the sockets: two longest-prefix-match tries, one a family, that every
// interface's program consults. Everything else passes to the kernel.
type Claims struct {
	v4, v6 *ebpf.Map
	cur    []netip.Prefix
}

// MaxClaims bounds each trie.
const MaxClaims = 4096

// NewClaims creates the tries, empty.
func NewClaims() (*Claims, error) {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later
	// ones to the cgroup, and this does nothing.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permission(fmt.Errorf("raising RLIMIT_MEMLOCK for BPF maps: %w", err))
	}
	c := &Claims{}
	var err error
	for _, m := range []struct {
		p    **ebpf.Map
		size uint32
		name string
	}{{&c.v4, 4 + 4, "xlat_claim4"}, {&c.v6, 4 + 16, "xlat_claim6"}} {
		*m.p, err = ebpf.NewMap(&ebpf.MapSpec{Name: m.name, Type: ebpf.LPMTrie, KeySize: m.size, ValueSize: 4, MaxEntries: MaxClaims, Flags: unix.BPF_F_NO_PREALLOC})
		if err != nil {
			c.Close()
			return nil, permission(fmt.Errorf("creating the BPF map %s: %w", m.name, err))
		}
	}
	return c, nil
}

// permission adds what is needed to an error that says it lacked it.
func permission(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: loading XDP programs needs root, or CAP_BPF and CAP_NET_ADMIN", err)
	}
	return err
}

// Set makes prefixes the claimed destinations, replacing what was there.
func (c *Claims) Set(prefixes []netip.Prefix) error {
	if len(prefixes) > MaxClaims {
		return fmt.Errorf("%d prefixes to claim; at most %d", len(prefixes), MaxClaims)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range prefixes {
		want[p.Masked()] = true
	}
	for p := range want {
		if err := c.trie(p).Put(trieKey(p), uint32(1)); err != nil {
			return fmt.Errorf("claiming %v: %w", p, err)
		}
	}
	for _, p := range c.cur {
		if !want[p] {
			if err := c.trie(p).Delete(trieKey(p)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("releasing %v: %w", p, err)
			}
		}
	}
	c.cur = c.cur[:0]
	for p := range want {
		c.cur = append(c.cur, p)
	}
	return nil
}

func (c *Claims) trie(p netip.Prefix) *ebpf.Map {
	if p.Addr().Is4() {
		return c.v4
	}
	return c.v6
}

// trieKey is struct bpf_lpm_trie_key: the prefix length in host order,
// then the address in network order.
func trieKey(p netip.Prefix) []byte {
	a := p.Addr().AsSlice()
	k := make([]byte, 4+len(a))
	binary.NativeEndian.PutUint32(k, uint32(p.Bits()))
	copy(k[4:], a)
	return k
}

// Close releases the tries.
func (c *Claims) Close() {
	for _, m := range []*ebpf.Map{c.v4, c.v6} {
		if m != nil {
			m.Close()
		}
	}
}

// Program is the XDP program attached to one interface, and the map of
// that interface's sockets by receive queue.
type Program struct {
	Ifindex int
	// Generic reports that the driver has no native XDP and the program
	// runs in the slower generic (SKB) mode.
	Generic bool
	xsks    *ebpf.Map
	prog    *ebpf.Program
	link    link.Link
}

// xdp_md offsets (include/uapi/linux/bpf.h).
const (
	mdData          = 0
	mdDataEnd       = 4
	mdRxQueueIndex  = 16
	ethHeaderLen    = 14
	xdpPass         = 2
	ipv4DstOffset   = ethHeaderLen + 16
	ipv6DstOffset   = ethHeaderLen + 24
	ipv4HeaderEnd   = ethHeaderLen + 20
	ipv6HeaderEnd   = ethHeaderLen + 40
	ethTypeOffset   = 12
	stackKey4       = -8  // prefix length, then 4 octets of address
	stackKey6       = -20 // prefix length, then 16 octets of address
	claimPrefixLen4 = 32
	claimPrefixLen6 = 128
)

// instructions is the program: an Ethernet frame carrying IPv4 or IPv6
// whose destination one of the claims tries holds goes to the socket of
// the queue it arrived on (or passes, where that queue has none);
// everything else passes to the kernel.
func instructions(c *Claims, xsks *ebpf.Map) asm.Instructions {
	ethIPv4 := int32(binary.NativeEndian.Uint16([]byte{0x08, 0x00}))
	ethIPv6 := int32(binary.NativeEndian.Uint16([]byte{0x86, 0xdd}))
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // the context survives calls in R6
		asm.LoadMem(asm.R2, asm.R6, mdData, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, mdDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, ethHeaderLen),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethTypeOffset, asm.Half),
		asm.JEq.Imm(asm.R5, ethIPv6, "ipv6"),
		asm.JNE.Imm(asm.R5, ethIPv4, "pass"),

		// IPv4: look the destination up as a /32.
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, ipv4HeaderEnd),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.StoreImm(asm.R10, stackKey4, claimPrefixLen4, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, ipv4DstOffset, asm.Word),
		asm.StoreMem(asm.R10, stackKey4+4, asm.R5, asm.Word),
		asm.LoadMapPtr(asm.R1, c.v4.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackKey4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Ja.Label("redirect"),

		// IPv6: look the destination up as a /128.
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ipv6"),
		asm.Add.Imm(asm.R4, ipv6HeaderEnd),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.StoreImm(asm.R10, stackKey6, claimPrefixLen6, asm.Word),
	}
	for k := int16(0); k < 16; k += 4 {
		ins = append(ins,
			asm.LoadMem(asm.R5, asm.R2, ipv6DstOffset+k, asm.Word),
			asm.StoreMem(asm.R10, stackKey6+4+k, asm.R5, asm.Word))
	}
	return append(ins,
		asm.LoadMapPtr(asm.R1, c.v6.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackKey6),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),

		// Claimed: to the socket of this receive queue; XDP_PASS in the
		// flags is what happens where the queue has no socket.
		asm.LoadMem(asm.R2, asm.R6, mdRxQueueIndex, asm.Word).WithSymbol("redirect"),
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),

		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	)
}

// ErrAttached says that an interface already runs an XDP program this
// process did not attach.
var ErrAttached = errors.New("already has an XDP program attached")

// CheckFree returns ErrAttached, with what to do about it, when the
// interface already runs an XDP program.
func CheckFree(l netlink.Link) error {
	name := l.Attrs().Name
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return fmt.Errorf("%s %w (program id %d); detach it first (ip link set dev %s xdp off) or leave %s out of af-xdp.interfaces", name, ErrAttached, x.ProgId, name, name)
	}
	return nil
}

// Attach loads the program for the interface ifindex with room for queues
// sockets, and attaches it: in native (driver) mode where the driver has
// it, in generic mode otherwise. It refuses an interface that already
// runs an XDP program. The attachment is a BPF link owned by this
// process: it goes away when the process exits, however it exits.
func Attach(c *Claims, ifindex, queues int) (*Program, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("interface %d: %w", ifindex, err)
	}
	name := l.Attrs().Name
	if err := CheckFree(l); err != nil {
		return nil, err
	}
	p := &Program{Ifindex: ifindex}
	p.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "xlat_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues)})
	if err != nil {
		return nil, permission(fmt.Errorf("creating the socket map for %s: %w", name, err))
	}
	p.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xlat_claim", Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: instructions(c, p.xsks)})
	if err != nil {
		p.Close()
		return nil, permission(fmt.Errorf("loading the XDP program for %s: %w", name, err))
	}
	p.link, err = link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		var gerr error
		p.link, gerr = link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: link.XDPGenericMode})
		if gerr != nil {
			p.Close()
			if errors.Is(err, unix.EBUSY) || errors.Is(gerr, unix.EBUSY) {
				return nil, fmt.Errorf("%s %w (by another process)", name, ErrAttached)
			}
			return nil, permission(fmt.Errorf("attaching XDP to %s: native: %v; generic: %w", name, err, gerr))
		}
		p.Generic = true
	}
	return p, nil
}

// Register makes s the socket its queue's frames are redirected to.
func (p *Program) Register(s *Socket) error {
	if err := p.xsks.Put(uint32(s.Queue), uint32(s.FD())); err != nil {
		return fmt.Errorf("registering the socket of queue %d: %w", s.Queue, err)
	}
	return nil
}

// Close detaches the program and releases it.
func (p *Program) Close() error {
	var err error
	if p.link != nil {
		err = p.link.Close()
	}
	if p.prog != nil {
		p.prog.Close()
	}
	if p.xsks != nil {
		p.xsks.Close()
	}
	return err
}
