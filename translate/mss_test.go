package translate

import (
	"net/netip"
	"testing"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// A SYN's options as Linux sends them: MSS, SACK permitted, timestamps,
// NOP, window scale.
func synOptions(mss uint16) []byte {
	return []byte{2, 4, byte(mss >> 8), byte(mss), 4, 2, 8, 10, 0, 1, 0xe2, 0x40, 0, 0, 0, 0, 1, 3, 3, 7}
}

// mssOf returns the MSS option of a translated packet's TCP segment, and
// whether the segment's checksum holds.
func mssOf(t *testing.T, pkt []byte) (uint16, bool) {
	t.Helper()
	var seg []byte
	var pseudo uint16
	if pkt[0]>>4 == 4 {
		ip := header.IPv4(pkt)
		seg = pkt[ip.HeaderLen():]
		pseudo = checksum.PseudoHeader4(ip.Src(), ip.Dst(), header.ProtoTCP, uint16(len(seg)))
	} else {
		ip := header.IPv6(pkt)
		seg = pkt[header.IPv6Size:]
		pseudo = checksum.PseudoHeader6(ip.Src(), ip.Dst(), header.ProtoTCP, uint32(len(seg)))
	}
	mss, _ := header.TCP(seg).MSS()
	return mss, checksum.Verify(seg, pseudo)
}

// Config.MSSClamp: a SYN's MSS is lowered so that the segments coming
// back fit the link they leave on after translation, both ways, on the
// plain path's packets too; an MSS that fits, a SYN without the option
// and a segment that is no SYN are left alone; a cap lowers it further;
// a negative value turns it off.
func TestMSSClamp(t *testing.T) {
	syn6 := func(mss uint16, flags uint8) []byte {
		opts := synOptions(mss)
		if mss == 0 {
			opts = nil
		}
		return testpkt.IPv6{Src: h6, Dst: h4v6, HopLimit: 64}.Packet(header.ProtoTCP, testpkt.TCPOptions(h6, h4v6, 40000, 80, flags, opts, nil))
	}
	syn4 := func(mss uint16, flags uint8) []byte {
		return testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 64, DF: true}.Packet(header.ProtoTCP, testpkt.TCPOptions(h4, h6v4, 80, 40000, flags, synOptions(mss), nil))
	}
	const synAck = header.TCPFlagSYN | header.TCPFlagACK
	for _, tc := range []struct {
		name  string
		cfg   Config
		pkt   []byte
		want  uint16
		to4   bool
		plain bool
	}{
		{"6to4 1500", Config{}, syn6(1460, header.TCPFlagSYN), 1440, true, false},
		{"6to4 fits", Config{}, syn6(1400, header.TCPFlagSYN), 1400, true, false},
		{"6to4 tunnel", Config{IPv6MTU: 1280}, syn6(1440, header.TCPFlagSYN), 1220, true, false},
		{"6to4 cap", Config{MSSClamp: 1200}, syn6(1440, header.TCPFlagSYN), 1200, true, false},
		{"6to4 off", Config{MSSClamp: -1}, syn6(8940, header.TCPFlagSYN), 8940, true, false},
		{"6to4 no option", Config{}, syn6(0, header.TCPFlagSYN), 0, true, false},
		{"6to4 not a SYN", Config{}, syn6(8940, header.TCPFlagACK), 8940, true, true},
		{"4to6 SYN-ACK", Config{IPv4MTU: 1400}, syn4(1460, synAck), 1360, false, false},
		{"4to6 fits", Config{}, syn4(1460, synAck), 1460, false, false},
		{"4to6 off", Config{IPv4MTU: 1400, MSSClamp: -1}, syn4(1460, synAck), 1460, false, false},
	} {
		tc.cfg.Addr4, tc.cfg.Addr6 = xlat4, xlat6
		x := newTestTranslator(t, tc.cfg)
		f := x.To6
		if tc.to4 {
			f = x.To4
		}
		out, r := run(f, tc.pkt)
		if r.Verdict != Forward {
			t.Errorf("%s: %v %v", tc.name, r.Verdict, r.Reason)
			continue
		}
		if mss, ok := mssOf(t, out); mss != tc.want || !ok {
			t.Errorf("%s: MSS %d (checksum ok %v), want %d", tc.name, mss, ok, tc.want)
		}
		// The plain path must not pass a SYN it would have to clamp.
		_, plain := x.plainFor(tc.to4, tc.pkt)
		if tc.cfg.MSSClamp >= 0 && tc.pkt[0]>>4 == 6 && plain != tc.plain {
			t.Errorf("%s: plain path took it: %v", tc.name, plain)
		}
	}
}

// plainFor runs the plain path alone on a copy of pkt.
func (x *Translator) plainFor(to4 bool, pkt []byte) (Result, bool) {
	buf := make([]byte, Headroom+len(pkt))
	copy(buf[Headroom:], pkt)
	c := x.cfg.Load()
	if to4 {
		return x.plain6to4(c, buf, Headroom, len(pkt), netip.Addr{})
	}
	return x.plain4to6(c, buf, Headroom, len(pkt))
}
