package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/v6xlat/xlat/header"
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
	}{{&c.v4, 4 + 4, mapClaims4}, {&c.v6, 4 + 16, mapClaims6}} {
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
// The prefixes given up go first, so that the tries never hold more than
// MaxClaims: a frame for a prefix between the two is not claimed, and
// goes to the kernel, which is never wrong.
func (c *Claims) Set(prefixes []netip.Prefix) error {
	want := map[netip.Prefix]bool{}
	for _, p := range prefixes {
		want[p.Masked()] = true
	}
	if len(want) > MaxClaims {
		return fmt.Errorf("%d prefixes to claim; at most %d", len(want), MaxClaims)
	}
	var kept []netip.Prefix
	for i, p := range c.cur {
		if want[p] {
			kept = append(kept, p)
			continue
		}
		if err := c.trie(p).Delete(trieKey(p)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			c.cur = append(kept, c.cur[i:]...)
			return fmt.Errorf("releasing %v: %w", p, err)
		}
	}
	c.cur = kept
	held := map[netip.Prefix]bool{}
	for _, p := range c.cur {
		held[p] = true
	}
	for p := range want {
		if held[p] {
			continue
		}
		if err := c.trie(p).Put(trieKey(p), uint32(1)); err != nil {
			return fmt.Errorf("claiming %v: %w", p, err)
		}
		c.cur = append(c.cur, p)
	}
	return nil
}

// Claimed is the prefixes claimed now.
func (c *Claims) Claimed() []netip.Prefix { return append([]netip.Prefix(nil), c.cur...) }

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

// Program is the XDP program attached to one interface, the map of that
// interface's sockets by receive queue, and its guard.
type Program struct {
	Ifindex int
	Name    string // of the interface, when attached
	// Generic reports that the driver has no native XDP and the program
	// runs in the slower generic (SKB) mode.
	Generic bool
	// VLANChecked reports that the program asks the driver for a VLAN
	// tag it took off the frame (bpf_xdp_metadata_rx_vlan_tag), and
	// passes such frames to the kernel. Without it (before Linux 6.8, or
	// in generic mode) only tags still in the frame are seen.
	VLANChecked bool
	xsks        *ebpf.Map
	guard       *ebpf.Map
	prog        *ebpf.Program
	link        link.Link
}

// Guard is what a frame must pass, besides a claimed destination, before
// the program takes it from the kernel: it must be for the interface's
// own Ethernet address (not another host's, not broadcast or multicast),
// and the kernel's own forwarding lookup (bpf_fib_lookup, with the
// frame's input interface, addresses, protocol, TOS or flow label and
// length) must route it into the device Via, as it would if the frame
// went up the stack: so the host's own addresses, a route or a policy
// rule that sends part of a claimed prefix elsewhere or nowhere, a
// forwarding switch turned off, or a packet too big for the way in
// keep the kernel's answer.
type Guard struct {
	MAC [6]byte
	Via int
	// Off passes every frame to the kernel: for what the lookup cannot
	// see (a firewall mark), the datapath gives up the fast path.
	Off bool
}

// guard is struct { u8 mac[6]; u16 pad; u32 via; u32 flags; } in the
// program's one-entry array.
const (
	guardMAC   = 0
	guardVia   = 8
	guardFlags = 12
	guardSize  = 16
	guardOff   = 1
)

func (g Guard) bytes() []byte {
	b := make([]byte, guardSize)
	copy(b[guardMAC:], g.MAC[:])
	binary.NativeEndian.PutUint32(b[guardVia:], uint32(g.Via))
	if g.Off {
		binary.NativeEndian.PutUint32(b[guardFlags:], guardOff)
	}
	return b
}

// SetGuard replaces the program's guard; frames the program sees after
// it returns are held to the new one.
func (p *Program) SetGuard(g Guard) error {
	if err := p.guard.Put(uint32(0), g.bytes()); err != nil {
		return fmt.Errorf("setting the guard of interface %d: %w", p.Ifindex, err)
	}
	return nil
}

// xdp_md offsets (include/uapi/linux/bpf.h), where the IP headers'
// fields are in a frame (header's offsets after an Ethernet header), and
// the program's stack.
const (
	mdData          = 0
	mdDataEnd       = 4
	mdIngress       = 12
	mdRxQueueIndex  = 16
	ethHeaderLen    = header.EthernetSize
	xdpPass         = 2
	ipv4DstOffset   = ethHeaderLen + header.IPv4DstOffset
	ipv6DstOffset   = ethHeaderLen + header.IPv6DstOffset
	ipv4HeaderEnd   = ethHeaderLen + header.IPv4MinSize
	ipv6HeaderEnd   = ethHeaderLen + header.IPv6Size
	ethTypeOffset   = header.EthernetTypeOffset
	stackGuardKey   = -4
	stackKey4       = -16  // prefix length, then 4 octets of address
	stackKey6       = -40  // prefix length, then 16 octets of address
	stackFIB        = -104 // struct bpf_fib_lookup, 64 octets
	stackVLAN       = -112 // the tag's protocol and TCI, if any
	claimPrefixLen4 = 32
	claimPrefixLen6 = 128

	// struct bpf_fib_lookup and the helper's answers.
	fibSize        = 64
	fibFamily      = 0
	fibProto       = 1
	fibTotLen      = 6
	fibIfindex     = 8
	fibTOS         = 12 // flowinfo for IPv6
	fibSrc         = 16
	fibDst         = 32
	fibSuccess     = 0
	fibNoNeighbour = 7
)

// The names the program gives the maps it reads, which Attach associates
// with the maps themselves (the instruction list is built without them).
const (
	mapClaims4 = "xlat_claim4"
	mapClaims6 = "xlat_claim6"
	mapSockets = "xlat_xsks"
	mapGuard   = "xlat_guard"
)

// instructions is the program: an Ethernet frame for this interface's
// address carrying IPv4 or IPv6 whose destination one of the claims tries
// holds, and which the kernel would route into the guard's device, goes
// to the socket of the queue it arrived on (or passes, where that queue
// has none); everything else passes to the kernel.
func instructions(vlan btf.TypeID) asm.Instructions {
	ethIPv4 := int32(binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, header.EtherTypeIPv4)))
	ethIPv6 := int32(binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, header.EtherTypeIPv6)))
	flowInfo := int32(binary.NativeEndian.Uint32([]byte{0x0f, 0xff, 0xff, 0xff}))
	// packet loads R2 = data and R3 = data end and passes frames shorter
	// than end: helper calls clobber both, and the verifier wants every
	// packet access checked after them.
	packet := func(end int32) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R2, asm.R6, mdData, asm.Word),
			asm.LoadMem(asm.R3, asm.R6, mdDataEnd, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, end),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		}
	}
	// copyWords copies n words from R2+from to the stack at to.
	copyWords := func(from, to int16, n int16) asm.Instructions {
		var ins asm.Instructions
		for k := int16(0); k < 4*n; k += 4 {
			ins = append(ins,
				asm.LoadMem(asm.R5, asm.R2, from+k, asm.Word),
				asm.StoreMem(asm.R10, to+k, asm.R5, asm.Word))
		}
		return ins
	}
	zeroFIB := asm.Instructions{asm.Mov.Imm(asm.R5, 0)}
	for k := int16(0); k < fibSize; k += 8 {
		zeroFIB = append(zeroFIB, asm.StoreMem(asm.R10, stackFIB+k, asm.R5, asm.DWord))
	}

	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // the context survives calls in R6
		// The guard, kept in R9 across calls.
		asm.StoreImm(asm.R10, stackGuardKey, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapGuard),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackGuardKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R1, asm.R9, guardFlags, asm.Word),
		asm.JSet.Imm(asm.R1, guardOff, "pass"),
	}
	ins = append(ins, packet(ethHeaderLen)...)
	ins = append(ins,
		// For this interface's address only: not another host's, not a
		// group's.
		asm.LoadMem(asm.R4, asm.R2, 0, asm.Word),
		asm.LoadMem(asm.R5, asm.R9, guardMAC, asm.Word),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),
		asm.LoadMem(asm.R4, asm.R2, 4, asm.Half),
		asm.LoadMem(asm.R5, asm.R9, guardMAC+4, asm.Half),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),
	)
	if vlan != 0 {
		// A VLAN tag the driver took off: the frame belongs to a VLAN
		// device, or to nobody here; the kernel decides which.
		ins = append(ins,
			asm.StoreImm(asm.R10, stackVLAN, 0, asm.Word),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, stackVLAN),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackVLAN+2),
			asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Call), Src: asm.PseudoKfuncCall, Constant: int64(vlan)},
			asm.JEq.Imm(asm.R0, 0, "pass"),
		)
		ins = append(ins, packet(ethHeaderLen)...)
	}
	ins = append(ins,
		asm.LoadMem(asm.R5, asm.R2, ethTypeOffset, asm.Half),
		asm.JEq.Imm(asm.R5, ethIPv6, "ipv6"),
		asm.JNE.Imm(asm.R5, ethIPv4, "pass"),
	)

	// IPv4: look the destination up as a /32.
	ins = append(ins, packet(ipv4HeaderEnd)...)
	ins = append(ins,
		asm.StoreImm(asm.R10, stackKey4, claimPrefixLen4, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, ipv4DstOffset, asm.Word),
		asm.StoreMem(asm.R10, stackKey4+4, asm.R5, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapClaims4),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackKey4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
	)
	ins = append(ins, packet(ipv4HeaderEnd)...)
	ins = append(ins, zeroFIB...)
	ins = append(ins,
		asm.StoreImm(asm.R10, stackFIB+fibFamily, unix.AF_INET, asm.Byte),
		asm.LoadMem(asm.R4, asm.R2, ethHeaderLen+header.IPv4ProtocolOffset, asm.Byte),
		asm.StoreMem(asm.R10, stackFIB+fibProto, asm.R4, asm.Byte),
		asm.LoadMem(asm.R4, asm.R2, ethHeaderLen+header.IPv4TotalLenOffset, asm.Half),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.R10, stackFIB+fibTotLen, asm.R4, asm.Half),
		asm.LoadMem(asm.R4, asm.R2, ethHeaderLen+header.IPv4TOSOffset, asm.Byte),
		asm.StoreMem(asm.R10, stackFIB+fibTOS, asm.R4, asm.Byte),
	)
	ins = append(ins, copyWords(ethHeaderLen+header.IPv4SrcOffset, stackFIB+fibSrc, 1)...)
	ins = append(ins, copyWords(ethHeaderLen+header.IPv4DstOffset, stackFIB+fibDst, 1)...)
	ins = append(ins, asm.Ja.Label("fib"))

	// IPv6: look the destination up as a /128.
	ipv6 := packet(ipv6HeaderEnd)
	ipv6[0] = ipv6[0].WithSymbol("ipv6")
	ins = append(ins, ipv6...)
	ins = append(ins, asm.StoreImm(asm.R10, stackKey6, claimPrefixLen6, asm.Word))
	ins = append(ins, copyWords(ipv6DstOffset, stackKey6+4, 4)...)
	ins = append(ins,
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapClaims6),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackKey6),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
	)
	ins = append(ins, packet(ipv6HeaderEnd)...)
	ins = append(ins, zeroFIB...)
	ins = append(ins,
		asm.StoreImm(asm.R10, stackFIB+fibFamily, unix.AF_INET6, asm.Byte),
		asm.LoadMem(asm.R4, asm.R2, ethHeaderLen+header.IPv6NextHeaderOffset, asm.Byte),
		asm.StoreMem(asm.R10, stackFIB+fibProto, asm.R4, asm.Byte),
		asm.LoadMem(asm.R4, asm.R2, ethHeaderLen+header.IPv6PayloadLenOffset, asm.Half),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.Add.Imm(asm.R4, header.IPv6Size),
		asm.StoreMem(asm.R10, stackFIB+fibTotLen, asm.R4, asm.Half),
		asm.LoadMem(asm.R4, asm.R2, ethHeaderLen, asm.Word), // traffic class and flow label
		asm.And.Imm(asm.R4, flowInfo),
		asm.StoreMem(asm.R10, stackFIB+fibTOS, asm.R4, asm.Word),
	)
	ins = append(ins, copyWords(ethHeaderLen+header.IPv6SrcOffset, stackFIB+fibSrc, 4)...)
	ins = append(ins, copyWords(ethHeaderLen+header.IPv6DstOffset, stackFIB+fibDst, 4)...)

	// Where would the kernel send it? Into the guard's device, or the
	// kernel keeps it. A next hop without a neighbour entry is still a
	// route: the TUN device has none to resolve.
	return append(ins,
		asm.LoadMem(asm.R4, asm.R6, mdIngress, asm.Word).WithSymbol("fib"),
		asm.StoreMem(asm.R10, stackFIB+fibIfindex, asm.R4, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackFIB),
		asm.Mov.Imm(asm.R3, fibSize),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnFibLookup.Call(),
		asm.JEq.Imm(asm.R0, fibSuccess, "routed"),
		asm.JNE.Imm(asm.R0, fibNoNeighbour, "pass"),
		asm.LoadMem(asm.R4, asm.R10, stackFIB+fibIfindex, asm.Word).WithSymbol("routed"),
		asm.LoadMem(asm.R5, asm.R9, guardVia, asm.Word),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),

		// Claimed: to the socket of this receive queue; XDP_PASS in the
		// flags is what happens where the queue has no socket.
		asm.LoadMem(asm.R2, asm.R6, mdRxQueueIndex, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapSockets),
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
// runs an XDP program. The program holds frames to the guard g (see
// Guard). The attachment is a BPF link owned by this process: it goes
// away when the process exits, however it exits.
func Attach(c *Claims, ifindex, queues int, g Guard) (*Program, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("interface %d: %w", ifindex, err)
	}
	name := l.Attrs().Name
	if err := CheckFree(l); err != nil {
		return nil, err
	}
	p := &Program{Ifindex: ifindex, Name: name}
	p.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Name: mapSockets, Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues)})
	if err != nil {
		return nil, permission(fmt.Errorf("creating the socket map for %s: %w", name, err))
	}
	p.guard, err = ebpf.NewMap(&ebpf.MapSpec{Name: mapGuard, Type: ebpf.Array, KeySize: 4, ValueSize: guardSize, MaxEntries: 1})
	if err != nil {
		p.Close()
		return nil, permission(fmt.Errorf("creating the guard map for %s: %w", name, err))
	}
	if err := p.SetGuard(g); err != nil {
		p.Close()
		return nil, err
	}
	// Native mode with the VLAN check first: a program bound to the
	// device, so that the driver's own bpf_xdp_metadata_rx_vlan_tag
	// answers.
	var nerr error
	if id := vlanKfunc(); id != 0 {
		ins, err := p.instructions(c, id)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.prog, nerr = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xlat_claim", Type: ebpf.XDP, License: "Dual MIT/GPL",
			Ifindex: uint32(ifindex), Flags: xdpDevBoundOnly, Instructions: ins})
		if nerr == nil {
			if p.link, nerr = link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: link.XDPDriverMode}); nerr == nil {
				p.VLANChecked = true
				return p, nil
			}
			p.prog.Close()
		}
	}
	ins, err := p.instructions(c, 0)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xlat_claim", Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: ins})
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
			if errors.Is(err, unix.EBUSY) || errors.Is(gerr, unix.EBUSY) || errors.Is(nerr, unix.EBUSY) {
				return nil, fmt.Errorf("%s %w (by another process)", name, ErrAttached)
			}
			return nil, permission(fmt.Errorf("attaching XDP to %s: native: %v; generic: %w", name, err, gerr))
		}
		p.Generic = true
	}
	return p, nil
}

// instructions is the program with the maps of p and c in it.
func (p *Program) instructions(c *Claims, vlan btf.TypeID) (asm.Instructions, error) {
	ins := instructions(vlan)
	for name, m := range map[string]*ebpf.Map{mapClaims4: c.v4, mapClaims6: c.v6, mapSockets: p.xsks, mapGuard: p.guard} {
		if err := ins.AssociateMap(name, m); err != nil {
			return nil, fmt.Errorf("the XDP program's map %s: %w", name, err)
		}
	}
	return ins, nil
}

// xdpDevBoundOnly is BPF_F_XDP_DEV_BOUND_ONLY (include/uapi/linux/bpf.h):
// a program for one device that may call its metadata kfuncs.
const xdpDevBoundOnly = 1 << 6

// vlanKfunc is the BTF ID of the kernel's bpf_xdp_metadata_rx_vlan_tag
// (Linux 6.8), or 0 where the kernel has none.
func vlanKfunc() btf.TypeID {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return 0
	}
	fn, err := spec.AnyTypeByName("bpf_xdp_metadata_rx_vlan_tag")
	if err != nil {
		return 0
	}
	if _, ok := fn.(*btf.Func); !ok {
		return 0
	}
	id, err := spec.TypeID(fn)
	if err != nil {
		return 0
	}
	return id
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
	if p.guard != nil {
		p.guard.Close()
	}
	return err
}
