package testpkt

import (
	"fmt"

	"github.com/v6xlat/xlat/header"
)

// WellFormed reports what is wrong with a translator's output, or nil:
// an IPv4 packet must pass header.IPv4.Valid, its Total Length must be
// its size and its header checksum must verify; an IPv6 packet's Payload
// Length must account for all of it.
// Fuzz tests of every translator apply the same check through it.
func WellFormed(out []byte) error {
	if len(out) == 0 {
		return fmt.Errorf("empty output")
	}
	switch out[0] >> 4 {
	case 4:
		if ip := header.IPv4(out); !ip.Valid() || int(ip.TotalLen()) != len(out) || !ip.ValidChecksum() {
			return fmt.Errorf("bad IPv4 packet % x", out)
		}
	case 6:
		if len(out) < header.IPv6Size || int(header.IPv6(out).PayloadLen())+header.IPv6Size != len(out) {
			return fmt.Errorf("bad IPv6 packet % x", out)
		}
	default:
		return fmt.Errorf("not an IP packet: % x", out)
	}
	return nil
}
