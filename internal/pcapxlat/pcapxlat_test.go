package pcapxlat

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/gateway"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// A capture goes through the configured instances offline, no root needed.
func TestTranslatePcap(t *testing.T) {
	dir := t.TempDir()
	setup, err := gateway.Build(gateway.Config{Instances: []gateway.InstanceConfig{{Name: "n", Type: "nat64",
		NAT64: []byte(`{"pool6": "64:ff9b::/96", "wkp-allow-non-global": true, "pool4": [{"protocol": "UDP", "prefix": "203.0.113.1/32"}]}`)}}})
	if err != nil {
		t.Fatal(err)
	}

	client, server := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("64:ff9b::192.0.2.80")
	out6 := testpkt.IPv6{Src: client, Dst: server}.Packet(17, testpkt.UDP(client, server, 5000, 53, []byte("query")))
	// An Ethernet-framed capture, as tcpdump on a LAN would write it.
	eth := append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x86, 0xdd}, out6...)
	in := filepath.Join(dir, "in.pcap")
	f, _ := os.Create(in)
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(eth), Length: len(eth)}, eth)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(2, 0), CaptureLength: 3, Length: 3}, []byte{1, 2, 3})
	f.Close()

	outPath := filepath.Join(dir, "out.pcap")
	f, _ = os.Open(in)
	o, _ := os.Create(outPath)
	var log strings.Builder
	c, err := Translate(f, o, setup, &log)
	f.Close()
	o.Close()
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{Read: 2, Written: 1, Dropped: 1}) {
		t.Errorf("%+v, want 2 records read, 1 packet written, 1 record dropped", c)
	}
	f, _ = os.Open(outPath)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	ip := header.IPv4(data)
	if r.LinkType() != layers.LinkTypeRaw || !ip.Valid() || ip.Src() != netip.MustParseAddr("203.0.113.1") || ip.Dst() != netip.MustParseAddr("192.0.2.80") {
		t.Errorf("translated packet % x", data)
	}
}
