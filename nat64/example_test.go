package nat64_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

// An IPv6-only host opens a UDP flow through a NAT64; the reply finds its
// way back through the session.
func Example() {
	x, err := nat64.New(nat64.Config{
		Pool6:             translate.WellKnownPrefix,
		AllowNonGlobalWKP: true, // documentation addresses behind 64:ff9b::/96
		Pool4:             []nat64.Pool4Entry{{Protocol: nat64.UDP, Prefix: netip.MustParsePrefix("203.0.113.1/32")}},
	}, nat64.Collaborators{
		Random: bytes.NewReader(make([]byte, 32)), // deterministic ports for the example
	})
	if err != nil {
		panic(err)
	}
	// UDP [2001:db8::5]:40000 -> [64:ff9b::198.51.100.7]:53, "query".
	pkt, _ := hex.DecodeString("60000000000d1140" + "20010db8000000000000000000000005" +
		"0064ff9b0000000000000000c6336407" + "9c400035000dbb7d" + "7175657279")
	buf := make([]byte, translate.Headroom+len(pkt))
	copy(buf[translate.Headroom:], pkt)
	r := x.To4(buf, translate.Headroom, len(pkt))
	fmt.Println(r.Verdict, x.Sessions(), "session")

	x.RangeSessions(func(s nat64.Session) bool {
		fmt.Println(s.Proto, s.IPv6Src, "->", s.IPv4Dst, "as", s.IPv4Src.Addr())
		return true
	})
	// Output:
	// forward 1 session
	// UDP [2001:db8::5]:40000 -> 198.51.100.7:53 as 203.0.113.1
}
