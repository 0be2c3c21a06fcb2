package fib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Verdict is what the kernel would do with a packet.
type Verdict uint8

// The verdicts are the kernel's BPF_FIB_LKUP_RET_* codes
// (include/uapi/linux/bpf.h), in the same order.
const (
	Forward       Verdict = iota // sent out of Ifindex to DstMAC
	Blackhole                    // a blackhole route: dropped silently
	Unreachable                  // an unreachable route (or none): ICMP unreachable
	Prohibit                     // a prohibit route: ICMP administratively prohibited
	NotForwarded                 // the host's own, a broadcast, or a route type the kernel does not forward
	ForwardingOff                // forwarding is disabled on the input interface
	Tunnel                       // the route has a lightweight tunnel encapsulation
	NoNeighbour                  // routed out of Ifindex, but the next hop is not resolved
	TooBig                       // larger than the path MTU
	NoSource                     // no source address for the way out
)

var verdictNames = [...]string{"forward", "blackhole", "unreachable", "prohibit", "not-forwarded", "forwarding-off", "tunnel", "no-neighbour", "too-big", "no-source"}

// String is the verdict's name, as the logs and tests print it.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Query is a packet as the forwarding path sees it.
type Query struct {
	// In is the interface the packet arrives on: its forwarding switch,
	// the rules by input interface and its VRF apply.
	In       int
	Src, Dst netip.Addr // of one family
	// Proto is the IP protocol (next header), for rules that name it and
	// for the multipath hash.
	Proto uint8
}

// Result is the kernel's answer.
type Result struct {
	Verdict Verdict
	// Ifindex is the interface the packet leaves by (Forward and
	// NoNeighbour), SrcMAC and DstMAC its Ethernet addresses (Forward).
	Ifindex        int
	SrcMAC, DstMAC [6]byte
	// MTU is the path MTU toward the destination (Forward; the kernel
	// answers it from Linux 5.12 on, 0 before).
	MTU int
}

// The layout of struct bpf_fib_lookup (include/uapi/linux/bpf.h).
const (
	paramsSize      = 64
	offFamily       = 0
	offProto        = 1
	offMTU          = 6 // tot_len in, mtu_result out
	offIfindex      = 8
	offSrc          = 16
	offDst          = 32
	offSMAC         = 52
	offDMAC         = 58
	mdData          = 0
	mdDataEnd       = 4
	lookupFlagsNone = 0
)

// Lookup runs the kernel's forwarding lookup from user space.
type Lookup struct {
	prog *ebpf.Program
}

// lookupInstructions is the program: the packet it is run on is a struct
// bpf_fib_lookup, which it copies to the stack (helpers may not write
// to packets), hands to the helper and copies back; it returns the
// helper's code.
func lookupInstructions() asm.Instructions {
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, mdData, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, mdDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R7),
		asm.Add.Imm(asm.R4, paramsSize),
		asm.JGT.Reg(asm.R4, asm.R3, "short"),
	}
	for o := int16(0); o < paramsSize; o += 8 {
		ins = append(ins,
			asm.LoadMem(asm.R5, asm.R7, o, asm.DWord),
			asm.StoreMem(asm.RFP, o-paramsSize, asm.R5, asm.DWord))
	}
	ins = append(ins,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -paramsSize),
		asm.Mov.Imm(asm.R3, paramsSize),
		asm.Mov.Imm(asm.R4, lookupFlagsNone),
		asm.FnFibLookup.Call(),
	)
	// The packet pointers do not survive a helper that may change the
	// packet: load them again.
	ins = append(ins,
		asm.LoadMem(asm.R7, asm.R6, mdData, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, mdDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R7),
		asm.Add.Imm(asm.R4, paramsSize),
		asm.JGT.Reg(asm.R4, asm.R3, "short"),
	)
	for o := int16(0); o < paramsSize; o += 8 {
		ins = append(ins,
			asm.LoadMem(asm.R5, asm.RFP, o-paramsSize, asm.DWord),
			asm.StoreMem(asm.R7, o, asm.R5, asm.DWord))
	}
	return append(ins,
		asm.Return(),
		asm.Mov.Imm(asm.R0, -1).WithSymbol("short"),
		asm.Return(),
	)
}

// NewLookup loads the lookup program. The lookups it answers are those of
// the network namespace of the thread that calls Lookup.
func NewLookup() (*Lookup, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising RLIMIT_MEMLOCK for BPF: %w: the lookup needs root, or CAP_BPF and CAP_NET_ADMIN", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xlat_fib", Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: lookupInstructions()})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("loading the forwarding lookup program: %w: it needs root, or CAP_BPF and CAP_NET_ADMIN", err)
		}
		return nil, fmt.Errorf("loading the forwarding lookup program: %w", err)
	}
	return &Lookup{prog: prog}, nil
}

// Close releases the program.
func (l *Lookup) Close() error { return l.prog.Close() }

// Lookup asks the kernel where q goes. An error means the question could
// not be asked (a closed program, an invalid query), not that the packet
// has no way out: that is a Verdict.
func (l *Lookup) Lookup(q Query) (Result, error) {
	var p [paramsSize + 8]byte // test runs want more than the struct
	if !q.Src.IsValid() || !q.Dst.IsValid() || q.Src.Is4() != q.Dst.Is4() {
		return Result{}, fmt.Errorf("fib: query %v -> %v mixes families", q.Src, q.Dst)
	}
	p[offProto] = q.Proto
	binary.NativeEndian.PutUint32(p[offIfindex:], uint32(q.In))
	if q.Dst.Is4() {
		p[offFamily] = unix.AF_INET
		s, d := q.Src.As4(), q.Dst.As4()
		copy(p[offSrc:], s[:])
		copy(p[offDst:], d[:])
	} else {
		p[offFamily] = unix.AF_INET6
		s, d := q.Src.As16(), q.Dst.As16()
		copy(p[offSrc:], s[:])
		copy(p[offDst:], d[:])
	}
	out := p
	ret, err := l.prog.Run(&ebpf.RunOptions{Data: p[:], DataOut: out[:]})
	if err != nil {
		return Result{}, fmt.Errorf("fib: running the lookup: %w", err)
	}
	if int32(ret) < 0 {
		return Result{}, fmt.Errorf("fib: the lookup refused the query (%d)", int32(ret))
	}
	r := Result{Verdict: Verdict(ret)}
	if r.Verdict == Forward || r.Verdict == NoNeighbour {
		r.Ifindex = int(binary.NativeEndian.Uint32(out[offIfindex:]))
	}
	if r.Verdict == Forward {
		r.MTU = int(binary.NativeEndian.Uint16(out[offMTU:]))
		copy(r.SrcMAC[:], out[offSMAC:])
		copy(r.DstMAC[:], out[offDMAC:])
	}
	return r, nil
}
