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
	return mac(kn, "handoff/1 token", server, port, epoch)
}

// Cookie is the server's proof that the NAT64 receives at N:CP (§6): the
// first 8 octets of HMAC-SHA256(ks, "handoff/1 cookie" ‖ N ‖ CP ‖ epoch).
func Cookie(ks [32]byte, nat64 netip.Addr, port uint16, epoch uint64) uint64 {
	return mac(ks, cookieLabel, nat64, port, epoch)
}

const cookieLabel = "handoff/1 cookie"

func mac(key [32]byte, label string, a netip.Addr, port uint16, epoch uint64) uint64 {
	return newKeyedMAC(key).sum(label, a, port, epoch)
}

// keyedMAC is HMAC-SHA256 under one key, kept between uses: Reset
// restores the keyed state instead of hashing the key again, which halves
// the cost of a cookie on the server's path. Not safe for concurrent use.
type keyedMAC struct {
	h   hash.Hash
	out [sha256.Size]byte
	in  [4 + 2 + 8]byte
}

func newKeyedMAC(key [32]byte) *keyedMAC { return &keyedMAC{h: hmac.New(sha256.New, key[:])} }

func (m *keyedMAC) sum(label string, a netip.Addr, port uint16, epoch uint64) uint64 {
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
