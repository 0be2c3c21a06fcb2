package handoff

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
)

// Token is the NAT64's proof that a server datagram answers it (§6): the
// first 8 octets of HMAC-SHA256(kn, "handoff/1 token" ‖ S ‖ HP ‖ epoch).
func Token(kn [32]byte, server netip.Addr, port uint16, epoch uint64) uint64 {
	return NewMAC(kn).Token(server, port, epoch)
}

// Cookie is the server's proof that the NAT64 receives at N:CP (§6): the
// first 8 octets of HMAC-SHA256(ks, "handoff/1 cookie" ‖ N ‖ CP ‖ epoch).
func Cookie(ks [32]byte, nat64 netip.Addr, port uint16, epoch uint64) uint64 {
	return NewMAC(ks).Cookie(nat64, port, epoch)
}

// A MAC is HMAC-SHA256 under one key, kept between uses: resetting it
// restores the keyed state instead of hashing the key again, which halves
// the cost of a cookie on a server's path. Not safe for concurrent use.
type MAC struct {
	h   hash.Hash
	out [sha256.Size]byte
	in  [4 + 2 + 8]byte
}

// NewMAC returns a MAC keyed with key (kn for tokens, ks for cookies).
func NewMAC(key [32]byte) *MAC { return &MAC{h: hmac.New(sha256.New, key[:])} }

// Token is [Token] under m's key.
func (m *MAC) Token(server netip.Addr, port uint16, epoch uint64) uint64 {
	return m.sum("handoff/1 token", server, port, epoch)
}

// Cookie is [Cookie] under m's key.
func (m *MAC) Cookie(nat64 netip.Addr, port uint16, epoch uint64) uint64 {
	return m.sum("handoff/1 cookie", nat64, port, epoch)
}

func (m *MAC) sum(label string, a netip.Addr, port uint16, epoch uint64) uint64 {
	m.h.Reset()
	m.h.Write([]byte(label))
	a4 := a.As4()
	copy(m.in[:4], a4[:])
	binary.BigEndian.PutUint16(m.in[4:], port)
	binary.BigEndian.PutUint64(m.in[6:], epoch)
	m.h.Write(m.in[:])
	v := binary.BigEndian.Uint64(m.h.Sum(m.out[:0]))
	if v == 0 {
		v = 1 // never 0: 0 means "none" on the wire
	}
	return v
}
