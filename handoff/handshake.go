package handoff

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
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
	return mac(ks, "handoff/1 cookie", nat64, port, epoch)
}

func mac(key [32]byte, label string, a netip.Addr, port uint16, epoch uint64) uint64 {
	h := hmac.New(sha256.New, key[:])
	h.Write([]byte(label))
	a4 := a.As4()
	h.Write(a4[:])
	var b [10]byte
	binary.BigEndian.PutUint16(b[0:], port)
	binary.BigEndian.PutUint64(b[2:], epoch)
	h.Write(b[:])
	v := binary.BigEndian.Uint64(h.Sum(nil))
	if v == 0 {
		v = 1 // never 0: 0 means "none" on the wire
	}
	return v
}
