package translate

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/internal/ipword"
)

// Prefix is an RFC 6052 translation prefix: an IPv6 prefix of length 32,
// 40, 48, 56, 64 or 96 that IPv4 addresses are embedded in. The zero Prefix
// is invalid. Prefix is comparable and can be a map key.
type Prefix struct {
	hi, lo   uint64 // the prefix bits, zeros after
	mhi, mlo uint64 // the prefix mask
	shape    shape
}

// shape packs the rest of a Prefix into one word, so that a Prefix is five
// words and a method taking it by value with an address still gets its
// arguments in registers (Go's ABI passes a struct in registers only when
// every field fits), rather than copied through the stack on every call.
//
// Bits 0-7 are the length, bit 8 is set for 64:ff9b::/96 (precomputed for
// the §3.1 check), bits 16-23 and 24-31 are hiShift and loShift and bits
// 32-63 loMask: where the IPv4 address sits (RFC 6052 §2.2), for Embed and
// Extract without a switch. Its first bits end the high word (v >> hiShift
// is their value there), the rest start the low word after the u octet
// ((v & loMask) << loShift).
type shape uint64

func makeShape(bits uint8, wkp bool, hiShift, loShift uint8, loMask uint32) shape {
	s := shape(bits) | shape(hiShift)<<16 | shape(loShift)<<24 | shape(loMask)<<32
	if wkp {
		s |= 1 << 8
	}
	return s
}

func (s shape) bits() uint8    { return uint8(s) }
func (s shape) wkp() bool      { return s&(1<<8) != 0 }
func (s shape) hiShift() uint8 { return uint8(s >> 16) }
func (s shape) loShift() uint8 { return uint8(s >> 24) }
func (s shape) loMask() uint32 { return uint32(s >> 32) }

// layout6052 is the hiShift, loShift and loMask of each prefix length:
// /32 has all 32 bits in the high word, /40 24 of them and 8 in the low
// word, and so on to /64 and /96 with all of them in the low word (a shift
// of 64 or more leaves nothing).
var layout6052 = map[int]struct {
	hiShift, loShift uint8
	loMask           uint32
}{
	32: {0, 0, 0},
	40: {8, 48, 0xff},
	48: {16, 40, 0xffff},
	56: {24, 32, 0xffffff},
	64: {32, 24, 0xffffffff},
	96: {64, 0, 0xffffffff},
}

// WellKnownPrefix is 64:ff9b::/96 (RFC 6052 §2.1).
var WellKnownPrefix = MustParsePrefix("64:ff9b::/96")

// LocalUsePrefix is the RFC 8215 local-use block 64:ff9b:1::/48. It is a
// block to carve translation prefixes from, not one itself: RFC 8215 §5
// forbids assuming where (or whether) an IPv4 address is embedded in it.
var LocalUsePrefix = netip.MustParsePrefix("64:ff9b:1::/48")

var wkp = netip.MustParsePrefix("64:ff9b::/96")

// NewPrefix validates p as an RFC 6052 prefix.
func NewPrefix(p netip.Prefix) (Prefix, error) {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() && p.Bits() < 96 {
		return Prefix{}, fmt.Errorf("translation prefix %v: must be an IPv6 prefix", p)
	}
	switch p.Bits() {
	case 32, 40, 48, 56, 64, 96:
	default:
		// RFC 6052 §2.2: only these six lengths have a defined layout.
		return Prefix{}, fmt.Errorf("translation prefix %v: length /%d is not one of /32 /40 /48 /56 /64 /96 (RFC 6052 §2.2)", p, p.Bits())
	}
	if p.Masked() != p {
		return Prefix{}, fmt.Errorf("translation prefix %v: host bits are set (did you mean %v?)", p, p.Masked())
	}
	b := p.Addr().As16()
	if p.Bits() == 96 && b[8] != 0 {
		// RFC 6052 §2.2: bits 64-71 (the u octet) must be zero.
		return Prefix{}, fmt.Errorf("translation prefix %v: bits 64-71 (the u octet) must be zero (RFC 6052 §2.2)", p)
	}
	l := layout6052[p.Bits()]
	q := Prefix{hi: be64(b[:8]), lo: be64(b[8:]), shape: makeShape(uint8(p.Bits()), p == wkp, l.hiShift, l.loShift, l.loMask)}
	if p.Bits() >= 64 {
		q.mhi, q.mlo = ^uint64(0), ^uint64(0)<<(128-p.Bits())
	} else {
		q.mhi = ^uint64(0) << (64 - p.Bits())
	}
	return q, nil
}

// ParsePrefix parses s (such as "64:ff9b::/96") as an RFC 6052 prefix.
func ParsePrefix(s string) (Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Prefix{}, err
	}
	return NewPrefix(p)
}

// MustParsePrefix is ParsePrefix that panics on error, for constants.
func MustParsePrefix(s string) Prefix {
	p, err := ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

// IsValid reports whether p is a valid prefix (not the zero value).
func (p Prefix) IsValid() bool { return p.shape.bits() != 0 }

// Prefix returns p as a netip.Prefix.
func (p Prefix) Prefix() netip.Prefix {
	return netip.PrefixFrom(addr16(p.hi, p.lo), int(p.shape.bits()))
}

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func addr16(hi, lo uint64) netip.Addr { return ipword.From6(hi, lo) }

func addr4(v uint32) netip.Addr { return ipword.From4(v) }

// Bits returns the prefix length.
func (p Prefix) Bits() int { return int(p.shape.bits()) }

// String returns the prefix in CIDR form.
func (p Prefix) String() string { return p.Prefix().String() }

// MarshalText implements encoding.TextMarshaler.
func (p Prefix) MarshalText() ([]byte, error) {
	if !p.IsValid() {
		return []byte{}, nil
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Prefix) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = Prefix{}
		return nil
	}
	q, err := ParsePrefix(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// IsWellKnown reports whether p is 64:ff9b::/96.
func (p Prefix) IsWellKnown() bool { return p.shape.wkp() }

// ChecksumNeutral reports whether the words of p sum to a neutral value, so
// that embedding an address changes no checksum (RFC 6052 §4.1, RFC 8215
// §6).
func (p Prefix) ChecksumNeutral() bool {
	return checksum.IsNeutral(checksum.AddrSum(addr16(p.hi, p.lo)))
}

// Contains reports whether a is inside p. Zones are not looked at.
func (p Prefix) Contains(a netip.Addr) bool {
	if !a.Is6() {
		return false
	}
	hi, lo := ipword.Words(a)
	return hi&p.mhi == p.hi && lo&p.mlo == p.lo && p.shape.bits() != 0
}

// Embed returns the IPv4-embedded IPv6 address of v4 under p (RFC 6052
// §2.2, §2.3), with a zero u octet and suffix. It applies the layout only;
// [Prefix.Permits] is the §3.1 policy check. v4 must be an IPv4 address.
func (p Prefix) Embed(v4 netip.Addr) netip.Addr {
	a := v4.As4()
	return addr16(p.embed(binary.BigEndian.Uint32(a[:])))
}

// embed and extract are Embed and Extract on address words. They take p by
// pointer and are small enough to inline, so a policy calling them on the
// datapath neither calls nor copies the Prefix, which is too large to go
// in registers.
func (p *Prefix) embed(v4 uint32) (hi, lo uint64) {
	v := uint64(v4)
	// Bits 64-71 (the u octet) stay zero: loShift skips them.
	return p.hi | v>>p.shape.hiShift(), p.lo | (v&uint64(p.shape.loMask()))<<p.shape.loShift()
}

func (p *Prefix) extract(hi, lo uint64) (v4 uint32, ok bool) {
	v4 = uint32(hi<<p.shape.hiShift()) | uint32(lo>>p.shape.loShift())&p.shape.loMask()
	return v4, hi&p.mhi == p.hi && lo&p.mlo == p.lo && p.shape.bits() != 0
}

// Extract returns the IPv4 address embedded in v6 and true, or false if v6
// is not inside p. A non-zero suffix is ignored, as RFC 6052 §2.2 says a
// receiver should; so is a non-zero u octet (§2.3 deletes it).
func (p Prefix) Extract(v6 netip.Addr) (netip.Addr, bool) {
	if !v6.Is6() || p.shape.bits() == 0 {
		return netip.Addr{}, false
	}
	v4, ok := p.extract(ipword.Words(v6))
	if !ok {
		return netip.Addr{}, false
	}
	return addr4(v4), true
}

// Permits reports whether RFC 6052 §3.1 allows v4 to be represented under
// p: the well-known prefix must not carry non-global IPv4 addresses
// (translators must drop such packets). Every other prefix, the RFC 8215
// local-use block included, permits every address.
func (p Prefix) Permits(v4 netip.Addr) bool {
	return !p.shape.wkp() || IsGlobal4(v4)
}

// nonGlobal4 are the IPv4 blocks RFC 6052 §3.1 treats as non-global: RFC
// 1918 and RFC 5735 §3 (now RFC 6890), plus RFC 6598 shared address space.
var nonGlobal4 = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// IsGlobal4 reports whether v4 is outside every non-global block of RFC
// 6052 §3.1.
func IsGlobal4(v4 netip.Addr) bool {
	if !v4.Is4() {
		return true // no IPv4 block contains it
	}
	_, lo := ipword.Words(v4)
	return global4(uint32(lo))
}

// nonGlobal4Words are nonGlobal4 as (address, mask) words.
var nonGlobal4Words = func() (w [len(nonGlobal4)][2]uint32) {
	for i, p := range nonGlobal4 {
		a := p.Addr().As4()
		w[i] = [2]uint32{binary.BigEndian.Uint32(a[:]), ^uint32(0) << (32 - p.Bits())}
	}
	return w
}()

// global4 is IsGlobal4 of the IPv4 address v4 as a word, small enough to
// inline where only the well-known prefix needs it.
func global4(v4 uint32) bool {
	for _, b := range nonGlobal4Words {
		if v4&b[1] == b[0] {
			return false
		}
	}
	return true
}
