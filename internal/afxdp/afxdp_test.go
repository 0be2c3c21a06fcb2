package afxdp

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/v6xlat/xlat/internal/netnstest"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/vishvananda/netlink"
)

// xdpMD is struct xdp_md, the context a test run starts from.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// A ring's indexes run freely over 2^32: what is free and what is
// available must come out right across the wrap.
func TestRingIndexesWrap(t *testing.T) {
	var prod, cons, flags uint32
	desc := make([]uint64, 8)
	r := &ring{producer: &prod, consumer: &cons, flags: &flags, desc: unsafe.Pointer(&desc[0]), mask: 7, size: 8}
	start := uint32(1<<32 - 3)
	prod, cons, r.cachedProd, r.cachedCons = start, start, start, start
	if n := r.free(8); n != 8 {
		t.Fatalf("empty ring: %d free, want 8", n)
	}
	for i := uint32(0); i < 5; i++ {
		*r.addr(r.cachedProd + i) = uint64(100 + i)
	}
	r.submit(5)
	if prod != start+5 || r.free(8) != 3 {
		t.Fatalf("after 5 across the wrap: producer %d, %d free; want %d and 3", prod, r.free(8), start+5)
	}
	// The other side consumes three; the producer sees it only when it
	// looks.
	cons += 3
	if n := r.free(4); n != 6 {
		t.Errorf("after the consumer took 3: %d free, want 6", n)
	}
	// As a consumer ring: five entries were produced, two are left.
	c := &ring{producer: &prod, consumer: &cons, flags: &flags, desc: r.desc, mask: 7, size: 8, cachedProd: start + 3, cachedCons: start + 3}
	if n := c.available(8); n != 2 {
		t.Fatalf("%d available, want 2", n)
	}
	if got := *c.addr(c.cachedCons); got != 103 {
		t.Errorf("entry %d holds %d, want 103", c.cachedCons, got)
	}
	c.release(2)
	if cons != start+5 || c.available(8) != 0 {
		t.Errorf("after release: consumer %d, %d available", cons, c.available(8))
	}
}

// The instruction list, built without maps or privileges: every jump
// lands, it names exactly the four maps Attach gives it, it calls only
// the helpers its doc names, and the VLAN variant adds one kfunc call.
func TestProgramInstructions(t *testing.T) {
	for _, vlan := range []btf.TypeID{0, 12345} {
		ins := instructions(vlan)
		if err := ins.Marshal(io.Discard, binary.LittleEndian); err != nil {
			t.Errorf("vlan %d: %v", vlan, err)
		}
		var names []string
		for _, in := range ins {
			if in.IsLoadFromMap() && !slices.Contains(names, in.Reference()) {
				names = append(names, in.Reference())
			}
		}
		slices.Sort(names)
		if want := []string{mapClaims4, mapClaims6, mapGuard, mapSockets}; !slices.Equal(names, want) {
			t.Errorf("vlan %d: references %v, want %v", vlan, names, want)
		}
		helpers := map[asm.BuiltinFunc]int{}
		kfuncs := 0
		for _, in := range ins {
			switch {
			case in.IsKfuncCall():
				kfuncs++
				if in.Constant != int64(vlan) {
					t.Errorf("a kfunc call to BTF ID %d, want %d", in.Constant, vlan)
				}
			case in.IsBuiltinCall():
				helpers[asm.BuiltinFunc(in.Constant)]++
			}
		}
		want := map[asm.BuiltinFunc]int{asm.FnMapLookupElem: 3, asm.FnFibLookup: 1, asm.FnRedirectMap: 1}
		if !maps.Equal(helpers, want) {
			t.Errorf("vlan %d: helper calls %v, want %v", vlan, helpers, want)
		}
		if wantK := min(int(vlan), 1); kfuncs != wantK {
			t.Errorf("vlan %d: %d kfunc calls, want %d", vlan, kfuncs, wantK)
		}
	}
}

// The program redirects exactly the frames whose destination is claimed,
// for this interface's address, that the kernel would route into the
// guard's device; and passes everything else (ARP, neighbour discovery,
// the host's own addresses, other hosts' frames, what a blackhole or a
// rule keeps, frames too short to hold the header it reads).
func TestProgramClaims(t *testing.T) {
	netnstest.InNewNetns(t, "a network namespace, XDP and AF_XDP", func() {
		for _, c := range [][]string{
			{"link", "add", "xa", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "xb"},
			{"link", "add", "tv", "type", "veth", "peer", "name", "tw"}, // stands in for the TUN device
			{"link", "set", "xa", "up"}, {"link", "set", "xb", "up"}, {"link", "set", "tv", "up"}, {"link", "set", "tw", "up"},
			{"route", "add", "203.0.113.0/28", "dev", "tv"},
			{"route", "add", "198.51.100.7/32", "dev", "tv"},
			{"-6", "route", "add", "64:ff9b::/96", "dev", "tv"},
			{"route", "add", "blackhole", "203.0.113.8/29"}, // inside the /28: the kernel keeps it
			{"addr", "add", "203.0.113.1/32", "dev", "xa"},  // the host's own, inside the /28
		} {
			if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
				t.Errorf("ip %v: %v\n%s", c, err, out)
				return
			}
		}
		for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
				t.Error(err)
				return
			}
		}
		xa, _ := netlink.LinkByName("xa")
		tv, _ := netlink.LinkByName("tv")
		c, err := NewClaims()
		if err != nil {
			t.Errorf("NewClaims: %v", err)
			return
		}
		defer c.Close()
		if err := c.Set([]netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("203.0.113.0/28"), netip.MustParsePrefix("198.51.100.7/32")}); err != nil {
			t.Error(err)
			return
		}
		u, err := NewUMEM(4096, 1024)
		if err != nil {
			t.Error(err)
			return
		}
		defer u.Close()
		s, err := Open(u, xa.Attrs().Index, 0)
		if err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		defer s.Close()
		guard := Guard{MAC: [6]byte{2, 0, 0, 0, 0, 1}, Via: tv.Attrs().Index}
		p, err := Attach(c, xa.Attrs().Index, 1, guard)
		if err != nil {
			t.Errorf("Attach: %v", err)
			return
		}
		defer p.Close()
		if err := p.Register(s); err != nil {
			t.Error(err)
			return
		}
		if _, err := Attach(c, xa.Attrs().Index, 1, guard); err == nil || !strings.Contains(err.Error(), "already has an XDP program") {
			t.Errorf("a second Attach to xa: %v, want ErrAttached", err)
		}
		// A program bound to its device (for the driver's VLAN tag) cannot
		// be test-run: run gives its unbound twin, the same instructions
		// but the tag's, a frame as if it had arrived on xa. The tag's
		// part is TestFaultForeignFrames' (cmd/xlatgw), on real frames.
		if id := vlanKfunc(); id != 0 && !p.VLANChecked {
			t.Errorf("the kernel has bpf_xdp_metadata_rx_vlan_tag (BTF ID %d), but the program on xa does not ask it", id)
		}
		ins, err := p.instructions(c, 0)
		if err != nil {
			t.Error(err)
			return
		}
		twin, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: ins})
		if err != nil {
			t.Error(err)
			return
		}
		defer twin.Close()
		run := func(frame []byte) (uint32, error) {
			return twin.Run(&ebpf.RunOptions{Data: frame, Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(xa.Attrs().Index)}})
		}

		const eth6 = "020000000001020000000002" + "86dd"
		const eth4 = "020000000001020000000002" + "0800"
		ipv6 := func(dst string) string {
			return eth6 + "6000000000081140" + "20010db8000000000000000000000010" + dst + "0000000000000000"
		}
		ipv4 := func(dst string) string {
			return eth4 + "45000020000040004011" + "0000" + "c0000250" + dst + "0000000000000000" + "00000000"
		}
		const redirect, pass = 4, 2
		for _, tc := range []struct {
			name  string
			frame string
			want  uint32
		}{
			{"IPv6 to pool6", ipv6("0064ff9b0000000000000000c0000250"), redirect},
			{"IPv6 next to pool6", ipv6("0064ff9b0000000000000001c0000250"), pass},
			{"IPv6 neighbour solicitation", ipv6("ff0200000000000000000001ff000001"), pass},
			{"IPv4 in a claimed /28", ipv4("cb007105"), redirect},
			{"IPv4 past the /28", ipv4("cb007110"), pass},
			{"IPv4 to a claimed /32", ipv4("c6336407"), redirect},
			{"ARP", "ffffffffffff020000000002" + "0806" + "0001080006040001020000000002c0000250000000000000cb007101", pass},
			{"IPv6 header cut short", ipv6("0064ff9b0000000000000000c0000250")[:2*(14+30)], pass},
			{"IPv4 header cut short", ipv4("cb00710f")[:2*(14+10)], pass},
			{"VLAN-tagged", "020000000001020000000002" + "8100" + "0001" + "86dd" + strings.Repeat("00", 60), pass},
			{"IPv6 to pool6, another host's MAC", "020000000009" + ipv6("0064ff9b0000000000000000c0000250")[12:], pass},
			{"IPv6 to pool6, broadcast", "ffffffffffff" + ipv6("0064ff9b0000000000000000c0000250")[12:], pass},
			{"IPv6 to pool6, multicast MAC", "333300000001" + ipv6("0064ff9b0000000000000000c0000250")[12:], pass},
			{"IPv4 to the host's own address in the /28", ipv4("cb007101"), pass},
			{"IPv4 to a blackhole in the /28", ipv4("cb007109"), pass},
		} {
			frame, _ := hex.DecodeString(tc.frame)
			got, err := run(frame)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if got != tc.want {
				t.Errorf("%s: XDP action %d, want %d", tc.name, got, tc.want)
			}
		}
		// A reload that gives up a prefix takes it out of the trie.
		c.Set([]netip.Prefix{netip.MustParsePrefix("64:ff9b::/96")})
		frame, _ := hex.DecodeString(ipv4("cb00710f"))
		if got, _ := run(frame); got != pass {
			t.Errorf("after the /28 was released: action %d, want pass", got)
		}
		// The route into the device goes: the kernel would send the
		// packet elsewhere (nowhere here), so the program passes it.
		frame, _ = hex.DecodeString(ipv6("0064ff9b0000000000000000c0000250"))
		if got, _ := run(frame); got != redirect {
			t.Errorf("IPv6 to pool6: action %d, want redirect", got)
		}
		if out, err := exec.Command("ip", "-6", "route", "del", "64:ff9b::/96", "dev", "tv").CombinedOutput(); err != nil {
			t.Errorf("%v: %s", err, out)
		}
		if got, _ := run(frame); got != pass {
			t.Errorf("IPv6 to pool6 with the route gone: action %d, want pass", got)
		}
		exec.Command("ip", "-6", "route", "add", "64:ff9b::/96", "dev", "tv").Run()
		// The guard off: everything passes.
		guard.Off = true
		if err := p.SetGuard(guard); err != nil {
			t.Error(err)
		}
		if got, _ := run(frame); got != pass {
			t.Errorf("IPv6 to pool6 with the guard off: action %d, want pass", got)
		}
	})
}
