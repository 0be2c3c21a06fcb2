package header_test

import (
	"encoding/hex"
	"fmt"

	"github.com/v6xlat/xlat/header"
)

// Read a packet through views: no copying, no parsing into structs; each
// accessor reads its bytes where they are.
func Example() {
	// UDP [2001:db8::5]:40000 -> [64:ff9b::198.51.100.7]:53, "query".
	pkt, _ := hex.DecodeString("60000000000d1140" + "20010db8000000000000000000000005" +
		"0064ff9b0000000000000000c6336407" + "9c400035000dbb7d" + "7175657279")
	ip := header.IPv6(pkt)
	off, proto, _ := ip.UpperLayer()
	udp := header.UDP(pkt[off:])
	fmt.Println(ip.Src(), "->", ip.Dst(), "hop limit", ip.HopLimit())
	fmt.Println("protocol", proto, "ports", udp.SrcPort(), udp.DstPort(), "length", udp.Length())

	ip.SetHopLimit(ip.HopLimit() - 1) // writes go to the packet itself
	fmt.Printf("% x\n", pkt[4:8])
	// Output:
	// 2001:db8::5 -> 64:ff9b::c633:6407 hop limit 64
	// protocol 17 ports 40000 53 length 13
	// 00 0d 11 3f
}
