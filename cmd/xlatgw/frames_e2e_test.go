package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// Fault items 4 and 5: frames that are not the gateway's to translate
// must reach the kernel, which drops or delivers them as it does on the
// TUN-only gateway: a frame tagged for a VLAN the gateway has no device
// for (the tag taken off by the sending veth, as a NIC's VLAN offload
// does), a frame sent to another host's MAC (the fast path translated
// both, and with flooding both campus boxes translated the same frame),
// and a ping to the gateway's own address inside an EAMT prefix (it was
// translated to IPv6 and never answered).
func TestFaultForeignFrames(t *testing.T) {
	netnstest.Need(t)
	needXDP(t)
	bin := netnstest.Build(t, ".")
	type row struct {
		name, from, dst string // from: "c" the client, "s" the server
		want            int    // echo replies of 3
	}
	rows := []row{
		{"untagged, to the gateway's MAC", "c", "64:ff9b::192.0.2.80", 3},
		{"to another host's MAC", "c", "64:ff9b::192.0.2.81", 0},
		{"the gateway's own address in an EAMT prefix", "s", "198.51.100.1", 3},
	}
	vlan := linkTypeSupport("vlan", "id", "100")
	if vlan == "" {
		rows = append(rows, row{"tagged VLAN 100, which the gateway has not", "c", "64:ff9b::192.0.2.82", 0})
	} else {
		t.Logf("no VLAN row: %s", vlan)
	}
	var got [2][]int
	for i, xdp := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		prefix, config := "ff", strings.Replace(strings.Replace(matrixConfig, "19481", "19484", 1), `"instances": [`, `"instances": [
    {"name": "dc", "type": "siit", "siit": {"pool6": "2001:db8:46::/96",
      "eamt": [{"ipv4": "198.51.100.0/24", "ipv6": "2001:db8:c::100/120"}]}},`, 1)
		if xdp {
			prefix = "fx"
			config = withAFXDP(config, "g0", "g1")
		}
		cfg := filepath.Join(t.TempDir(), "xlatgw.json")
		os.WriteFile(cfg, []byte(config), 0o644)
		c, g, s := netnstest.Gateway3(t, prefix)
		if xdp {
			noChecksumOffload(t, c, "c0")
			noChecksumOffload(t, s, "s0")
		}
		out, _ := exec.Command("ip", "-n", g, "link", "show", "g0").Output()
		mac := regexp.MustCompile(`link/ether (\S+)`).FindStringSubmatch(string(out))
		if mac == nil {
			t.Fatalf("no MAC on g0: %s", out)
		}
		netnstest.IP(t, s, "addr add 192.0.2.81/24 dev s0", "addr add 192.0.2.82/24 dev s0")
		netnstest.IP(t, g, "addr add 198.51.100.1/32 dev g1")
		// Another host's MAC as the next hop on the untagged link.
		netnstest.IP(t, c,
			"-6 neigh add 2001:db8:c::2 lladdr 02:00:00:00:99:99 dev c0 nud permanent",
			"-6 route add 64:ff9b::c000:251/128 via 2001:db8:c::2 dev c0")
		if vlan == "" {
			// VLAN 100 on the client's link, the gateway's MAC as its
			// next hop there; veth carries the tag beside the frame, as
			// a NIC that strips tags hands them to its driver.
			netnstest.IP(t, c,
				"link add link c0 name c0.100 type vlan id 100", "link set c0.100 up",
				"addr add 2001:db8:d::10/64 dev c0.100 nodad",
				"-6 neigh add 2001:db8:d::1 lladdr "+mac[1]+" dev c0.100 nud permanent",
				"-6 route add 64:ff9b::c000:252/128 via 2001:db8:d::1 dev c0.100")
		}
		var logs netnstest.Log
		d, _ := runXlatgw(t, ctx, g, bin, cfg, &logs)
		for _, r := range rows {
			ns := c
			if r.from == "s" {
				ns = s
			}
			p := netnstest.Helper(ctx, ns, "probe", r.dst)
			out, err := p.Output()
			if err != nil {
				t.Fatalf("probe %s: %v", r.dst, err)
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(strings.Fields(string(out))[0], "replies="))
			got[i] = append(got[i], n)
		}
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
		cancel()
	}
	for k, r := range rows {
		t.Logf("%-44s TUN: %d of 3 answered, AF_XDP: %d of 3", r.name, got[0][k], got[1][k])
		if got[0][k] != r.want || got[1][k] != r.want {
			t.Errorf("%s: %d and %d of 3 answered on TUN and AF_XDP; want %d on both", r.name, got[0][k], got[1][k], r.want)
		}
	}
}
