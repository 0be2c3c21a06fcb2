package map66_test

import (
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/map66"
)

// The RFC 6296 §3.6 example: a /48 ULA behind a /48 of the provider.
func ExampleMapper_MapAddr() {
	m, err := map66.New([]map66.Rule{{
		Internal: netip.MustParsePrefix("fd01:203:405::/48"),
		External: netip.MustParsePrefix("2001:db8:1::/48"),
	}}, map66.Options{})
	if err != nil {
		panic(err)
	}
	out, _ := m.MapAddr(netip.MustParseAddr("fd01:203:405:1::1234"), true)
	back, _ := m.MapAddr(out, false)
	fmt.Println(out, back)
	// Output: 2001:db8:1:d550::1234 fd01:203:405:1::1234
}
