package translate

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
)

// Config holds the translation options. Field names follow Jool's global
// options where one exists (in the JSON tags), so a Jool configuration
// carries over. The zero value of each field means its default.
type Config struct {
	// LowestIPv6MTU is the smallest MTU of any IPv6 link packets may cross
	// (Jool lowest-ipv6-mtu, default 1280, RFC 7915 §4: configurable
	// upwards). IPv4 packets with DF clear whose translation would exceed it
	// are fragmented.
	LowestIPv6MTU int `json:"lowest-ipv6-mtu,omitempty"`

	// MTUPlateaus estimate a path MTU when an ICMPv4 Fragmentation Needed
	// carries MTU 0 (Jool mtu-plateaus; RFC 1191 §7 table by default).
	MTUPlateaus []uint16 `json:"mtu-plateaus,omitempty"`

	// AmendUDPChecksumZero computes a checksum for unfragmented IPv4 UDP
	// datagrams that carry none, instead of dropping them (Jool
	// amend-udp-checksum-zero, RFC 7915 §4.5).
	AmendUDPChecksumZero bool `json:"amend-udp-checksum-zero,omitempty"`

	// ZeroizeTrafficClass sets the IPv6 Traffic Class to 0 instead of
	// copying the IPv4 TOS (Jool zeroize-traffic-class, RFC 7915 §4.1).
	ZeroizeTrafficClass bool `json:"zeroize-traffic-class,omitempty"`

	// OverrideTOS writes TOS instead of copying the Traffic Class into the
	// IPv4 TOS (Jool override-tos and tos, RFC 7915 §5.1).
	OverrideTOS bool  `json:"override-tos,omitempty"`
	TOS         uint8 `json:"tos,omitempty"`

	// IPv4MTU and IPv6MTU are the MTUs of the links the translator sends
	// IPv4 and IPv6 packets on (default 1500). They decide Packet Too Big,
	// Fragmentation Needed and fragmentation.
	IPv4MTU int `json:"ipv4-mtu,omitempty"`
	IPv6MTU int `json:"ipv6-mtu,omitempty"`

	// MSSClamp lowers the Maximum Segment Size option of TCP SYNs so that
	// the segments the other end sends back fit the link they leave the
	// translator on once translated, where the header grows or shrinks by
	// 20 octets: a SYN translated to IPv4 gets at most IPv6MTU − 60 (the
	// IPv6 and TCP headers of the segments that will come back), one
	// translated to IPv6 at most IPv4MTU − 40. Without it a sender behind
	// a link whose ICMP errors are lost (path MTU discovery broken) sends
	// segments that never arrive. A positive value caps the MSS further;
	// 0 clamps to the MTUs alone; a negative value turns clamping off.
	// Jool has no such option; it is on by default here because it only
	// ever lowers an MSS to what the translator can deliver.
	MSSClamp int `json:"mss-clamp,omitempty"`

	// Addr4 and Addr6 are the translator's own addresses, the sources of the
	// ICMP errors it generates. Without them it drops instead of replying.
	Addr4 netip.Addr `json:"ipv4-address,omitzero"`
	Addr6 netip.Addr `json:"ipv6-address,omitzero"`

	// SilentUntranslatable drops a packet whose addresses have no
	// translation (no mapping, a denylisted or forbidden class) without
	// the ICMP error RFC 7915 §4.4 (IPv4: Destination Unreachable, 3/13)
	// and §5.4 (IPv6: Destination Unreachable, 1/1) recommend. By default
	// the error is sent, through the rate limit, so that the sender fails
	// at once instead of waiting for a timeout.
	SilentUntranslatable bool `json:"silent-untranslatable,omitempty"`

	// ICMPErrorRate and ICMPErrorBurst bound generated ICMP errors with a
	// token bucket (RFC 4443 §2.4(f), RFC 1812 §4.3.2.8). Default 1000/s,
	// burst 100. A negative rate disables generated errors.
	ICMPErrorRate  int `json:"icmp-error-rate,omitempty"`
	ICMPErrorBurst int `json:"icmp-error-burst,omitempty"`

	// Now is the clock for the rate limiter; time.Now if nil.
	Now func() time.Time `json:"-"`
}

// Validate reports what is wrong with c, as New and Update would, without
// changing anything: for callers that must check a whole configuration
// before they apply any of it.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// defaultMTUPlateaus is the RFC 1191 §7 plateau table, Jool's default.
var defaultMTUPlateaus = [...]uint16{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// DefaultMTUPlateaus returns the RFC 1191 §7 plateau table, Jool's default
// mtu-plateaus, which Config.MTUPlateaus takes when empty. It is a copy:
// changing it changes nothing else.
func DefaultMTUPlateaus() []uint16 { return append([]uint16(nil), defaultMTUPlateaus[:]...) }

// compiled is a validated Config with defaults applied; the datapath reads
// it through an atomic pointer and never sees a half-updated value.
type compiled struct {
	Config
	plateaus []uint16 // descending

	// The largest MSS a SYN translated to IPv4 and to IPv6 may carry; 0
	// when clamping is off.
	mssTo4, mssTo6 uint16

	// The own IPv6 address as words, for the plain path.
	own6           bool
	own6hi, own6lo uint64
}

func (c Config) compile() (*compiled, error) {
	if c.LowestIPv6MTU == 0 {
		c.LowestIPv6MTU = 1280
	}
	if c.LowestIPv6MTU < 1280 || c.LowestIPv6MTU > 65535 {
		return nil, fmt.Errorf("lowest-ipv6-mtu: %d is outside 1280..65535 (RFC 8200 §5 minimum)", c.LowestIPv6MTU)
	}
	if c.IPv4MTU == 0 {
		c.IPv4MTU = 1500
	}
	if c.IPv4MTU < 68 || c.IPv4MTU > 65535 {
		return nil, fmt.Errorf("ipv4-mtu: %d is outside 68..65535 (RFC 791)", c.IPv4MTU)
	}
	if c.IPv6MTU == 0 {
		c.IPv6MTU = 1500
	}
	if c.IPv6MTU < 1280 || c.IPv6MTU > 65535 {
		return nil, fmt.Errorf("ipv6-mtu: %d is outside 1280..65535 (RFC 8200 §5)", c.IPv6MTU)
	}
	if c.Addr4.IsValid() && !c.Addr4.Is4() {
		return nil, fmt.Errorf("ipv4-address: %v is not an IPv4 address", c.Addr4)
	}
	if c.Addr6.IsValid() && (!c.Addr6.Is6() || c.Addr6.Is4In6()) {
		return nil, fmt.Errorf("ipv6-address: %v is not an IPv6 address", c.Addr6)
	}
	if c.ICMPErrorRate == 0 {
		c.ICMPErrorRate = 1000
	}
	if c.ICMPErrorBurst == 0 {
		c.ICMPErrorBurst = 100
	}
	if c.ICMPErrorBurst < 0 {
		return nil, fmt.Errorf("icmp-error-burst: %d is negative", c.ICMPErrorBurst)
	}
	pl := c.MTUPlateaus
	if len(pl) == 0 {
		pl = defaultMTUPlateaus[:]
	}
	for i, p := range pl {
		if p == 0 {
			return nil, fmt.Errorf("mtu-plateaus[%d]: 0 is not a valid MTU", i)
		}
	}
	plateaus := slices.Clone(pl)
	slices.Sort(plateaus)
	slices.Reverse(plateaus)
	plateaus = slices.Compact(plateaus)
	if c.Now == nil {
		c.Now = time.Now
	}
	cc := &compiled{Config: c, plateaus: plateaus}
	if c.MSSClamp > 65535 {
		return nil, fmt.Errorf("mss-clamp: %d is not an MSS (at most 65535; 0 clamps to the MTUs, negative turns clamping off)", c.MSSClamp)
	}
	if c.MSSClamp >= 0 {
		limit := 65535
		if c.MSSClamp > 0 {
			limit = c.MSSClamp
		}
		cc.mssTo4 = uint16(min(limit, c.IPv6MTU-header.IPv6Size-header.TCPMinSize))
		cc.mssTo6 = uint16(min(limit, c.IPv4MTU-header.IPv4MinSize-header.TCPMinSize))
	}
	if c.Addr6.IsValid() {
		cc.own6 = true
		cc.own6hi, cc.own6lo = ipword.Words(c.Addr6)
	}
	return cc, nil
}
