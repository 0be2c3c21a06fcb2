package checksum_test

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
)

// Fill and verify an IPv4 header checksum, then update it for a TTL
// decrement without summing the header again.
func Example() {
	h := []byte{
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	}
	field := ^checksum.Checksum(h, 0)
	h[10], h[11] = byte(field>>8), byte(field)
	fmt.Printf("checksum %#04x, valid %v\n", field, checksum.Verify(h, 0))

	// TTL is the high byte of the word TTL|Protocol (RFC 1624 eqn. 3).
	field = checksum.Update16(field, 0x4011, 0x3f11)
	h[8], h[10], h[11] = 0x3f, byte(field>>8), byte(field)
	fmt.Printf("after TTL-1 %#04x, valid %v\n", field, checksum.Verify(h, 0))
	// Output:
	// checksum 0xb861, valid true
	// after TTL-1 0xb961, valid true
}

// A translator replaces IPv4 pseudo-header addresses with IPv6 ones; the
// transport checksum changes by the difference of the address sums only.
func ExampleUpdateAddr() {
	udp := uint16(0x3c4f) // CK-15: UDP from 192.0.2.33 to 198.51.100.2
	udp = checksum.UpdateAddr(udp, netip.MustParseAddr("192.0.2.33"), netip.MustParseAddr("2001:db8:1c0:2:21::"))
	udp = checksum.UpdateAddr(udp, netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8:1c6:3364:2::"))
	fmt.Printf("%#04x\n", checksum.UDPField(udp))
	// Output: 0x9625
}

// The well-known prefix sums to -0, so embedding an address in it does not
// change any checksum (RFC 6052 §4.2).
func ExampleIsNeutral() {
	wkp := netip.MustParseAddr("64:ff9b::")
	nsp := netip.MustParseAddr("2001:db8:100::")
	fmt.Println(checksum.IsNeutral(checksum.AddrSum(wkp)), checksum.IsNeutral(checksum.AddrSum(nsp)))
	// Output: true false
}
