package nat64

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"net/netip"

	"github.com/v6xlat/xlat/internal/ipword"
)

// The session sync wire format, one UDP datagram:
//
//	magic "XS" (2) | version 1 (1) | type (1) | node ID (4) |
//	epoch (8) | sequence (8) | record count (2) | reserved (2) |
//	records (38 octets each) | HMAC-SHA256 of all before, first 16 octets
//
// The epoch is the sender's start time in nanoseconds (a restart makes a
// larger one); the sequence counts the sender's datagrams from 1 within
// an epoch. A session record:
//
//	proto (1) | TCP state (1) | reserved (2) | IPv6 source (16) |
//	source port (2) | pool4 address (4) | pool4 port (2) |
//	IPv4 remote (4) | remote port (2) | lifetime left, seconds (4)
//
// The lifetime travels relative, so the peers' clocks need not agree.
const (
	syncVersion   = 1
	syncHeaderLen = 28
	syncMACLen    = 16
	syncRecordLen = 38
	// SyncMaxDatagram keeps a datagram inside a 1500-byte IPv4 or IPv6
	// link with room for tunnels.
	SyncMaxDatagram = 1400
	syncPerDatagram = (SyncMaxDatagram - syncHeaderLen - syncMACLen) / syncRecordLen // 35

	syncSessions = 1 // records
	syncHello    = 2 // "send me your table": at start, and after a loss
)

var syncMagic = [2]byte{'X', 'S'}

type syncHeader struct {
	typ   uint8
	node  uint32
	epoch uint64
	seq   uint64
	count uint16
}

// syncRecord is one session on the wire.
type syncRecord struct {
	proto  uint8
	state  tcpState
	x6     netip.AddrPort
	t4     netip.AddrPort
	z4     netip.AddrPort
	remain uint32
}

func (r *syncRecord) key() key4 {
	return key4{t4: v4u(r.t4.Addr()), tp: r.t4.Port(), z4: v4u(r.z4.Addr()), zp: r.z4.Port(), proto: r.proto}
}

func appendSyncHeader(b []byte, h syncHeader) []byte {
	b = append(b, syncMagic[0], syncMagic[1], syncVersion, h.typ)
	b = binary.BigEndian.AppendUint32(b, h.node)
	b = binary.BigEndian.AppendUint64(b, h.epoch)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = binary.BigEndian.AppendUint16(b, h.count)
	return append(b, 0, 0)
}

func appendSyncRecord(b []byte, r *syncRecord) []byte {
	b = append(b, r.proto, uint8(r.state), 0, 0)
	a := r.x6.Addr().As16()
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint16(b, r.x6.Port())
	t := r.t4.Addr().As4()
	b = append(b, t[:]...)
	b = binary.BigEndian.AppendUint16(b, r.t4.Port())
	z := r.z4.Addr().As4()
	b = append(b, z[:]...)
	b = binary.BigEndian.AppendUint16(b, r.z4.Port())
	return binary.BigEndian.AppendUint32(b, r.remain)
}

// syncMAC signs and checks datagrams under the shared key. Not safe for
// concurrent use.
type syncMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newSyncMAC(key []byte) *syncMAC { return &syncMAC{h: hmac.New(sha256.New, key)} }

func (m *syncMAC) seal(b []byte) []byte {
	m.h.Reset()
	m.h.Write(b)
	return append(b, m.h.Sum(m.sum[:0])[:syncMACLen]...)
}

func (m *syncMAC) valid(b []byte) bool {
	if len(b) < syncHeaderLen+syncMACLen {
		return false
	}
	body := b[:len(b)-syncMACLen]
	m.h.Reset()
	m.h.Write(body)
	return hmac.Equal(m.h.Sum(m.sum[:0])[:syncMACLen], b[len(body):])
}

var errSyncMalformed = errors.New("malformed")

// parseSync reads an authenticated datagram's header and records.
func parseSync(b []byte, recs []syncRecord) (syncHeader, []syncRecord, error) {
	var h syncHeader
	body := b[:len(b)-syncMACLen]
	if len(body) < syncHeaderLen || body[0] != syncMagic[0] || body[1] != syncMagic[1] || body[2] != syncVersion {
		return h, recs, errSyncMalformed
	}
	h.typ = body[3]
	h.node = binary.BigEndian.Uint32(body[4:])
	h.epoch = binary.BigEndian.Uint64(body[8:])
	h.seq = binary.BigEndian.Uint64(body[16:])
	h.count = binary.BigEndian.Uint16(body[24:])
	rest := body[syncHeaderLen:]
	if len(rest) != int(h.count)*syncRecordLen || h.seq == 0 || h.epoch == 0 {
		return h, recs, errSyncMalformed
	}
	for ; len(rest) > 0; rest = rest[syncRecordLen:] {
		r := syncRecord{proto: rest[0], state: tcpState(rest[1])}
		r.x6 = netip.AddrPortFrom(ipword.Get6(rest[4:20]), binary.BigEndian.Uint16(rest[20:]))
		r.t4 = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[22:26])), binary.BigEndian.Uint16(rest[26:]))
		r.z4 = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[28:32])), binary.BigEndian.Uint16(rest[32:]))
		r.remain = binary.BigEndian.Uint32(rest[34:])
		if int(r.state) >= len(tcpStateNames) {
			return h, recs, errSyncMalformed
		}
		recs = append(recs, r)
	}
	return h, recs, nil
}
