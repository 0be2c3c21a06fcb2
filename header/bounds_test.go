package header

import (
	"testing"
)

// Each check at the door holds exactly at its bound: a header that ends
// where the buffer ends is whole, one octet less is not.

func TestIPv4ValidAtItsBounds(t *testing.T) {
	hdr := func(n, ihl, total int) IPv4 {
		h := make(IPv4, n)
		if n > 0 {
			h[0] = 4<<4 | byte(ihl)
		}
		if n >= 4 {
			h[2], h[3] = byte(total>>8), byte(total)
		}
		return h
	}
	for _, tc := range []struct {
		name          string
		n, ihl, total int
		want          bool
	}{
		{"a bare 20-octet header, Total Length 20", 20, 5, 20, true},
		{"19 octets", 19, 5, 19, false},
		{"IHL 4", 20, 4, 20, false},
		{"Total Length below the header", 24, 6, 23, false},
		{"Total Length equal to a 24-octet header", 24, 6, 24, true},
		{"Total Length one past the buffer", 20, 5, 21, false},
		{"Total Length at the buffer's end", 30, 5, 30, true},
	} {
		if got := hdr(tc.n, tc.ihl, tc.total).Valid(); got != tc.want {
			t.Errorf("%s: Valid = %v, want %v", tc.name, got, tc.want)
		}
	}
	v6 := make(IPv4, 20)
	v6[0], v6[3] = 6<<4|5, 20
	if v6.Valid() {
		t.Error("version 6 taken as IPv4")
	}
}

func TestIPv6ValidAtItsBounds(t *testing.T) {
	hdr := func(n, payload int) IPv6 {
		h := make(IPv6, n)
		if n > 0 {
			h[0] = 6 << 4
		}
		if n >= 6 {
			h[4], h[5] = byte(payload>>8), byte(payload)
		}
		return h
	}
	for _, tc := range []struct {
		name       string
		n, payload int
		want       bool
	}{
		{"a bare 40-octet header", 40, 0, true},
		{"39 octets", 39, 0, false},
		{"payload to the buffer's end", 48, 8, true},
		{"payload one past it", 48, 9, false},
	} {
		if got := hdr(tc.n, tc.payload).Valid(); got != tc.want {
			t.Errorf("%s: Valid = %v, want %v", tc.name, got, tc.want)
		}
	}
	v4 := hdr(40, 0)
	v4[0] = 4 << 4
	if v4.Valid() {
		t.Error("version 4 taken as IPv6")
	}
}

// UpperLayer at the edges: an extension header or a fragment header that
// ends the packet leaves an upper layer of nothing at its end, which is
// still "held"; one cut short is not.
func TestUpperLayerAtItsBounds(t *testing.T) {
	pkt := func(n int, nh uint8, ext ...byte) IPv6 {
		h := make(IPv6, n)
		h[0], h[6] = 6<<4, nh
		copy(h[IPv6Size:], ext)
		return h
	}
	for _, tc := range []struct {
		name  string
		p     IPv6
		off   int
		proto uint8
		ok    bool
	}{
		{"no payload", pkt(40, ProtoNone), 40, ProtoNone, true},
		{"hop-by-hop ending the packet", pkt(48, ProtoHopByHop, ProtoNone, 0), 48, ProtoNone, true},
		{"hop-by-hop cut short", pkt(47, ProtoHopByHop, ProtoNone, 0), 40, ProtoHopByHop, false},
		{"a first fragment's header ending the packet", pkt(48, ProtoFragment, ProtoNone), 48, ProtoNone, true},
		{"a fragment header cut short", pkt(44, ProtoFragment, ProtoNone), 40, ProtoFragment, false},
		{"an AH ending the packet", pkt(52, ProtoAH, ProtoNone, 1), 52, ProtoNone, true},
		{"an 8-octet AH ending the packet", pkt(48, ProtoAH, ProtoNone, 0), 48, ProtoNone, true},
		{"hop-by-hop claiming more than there is", pkt(48, ProtoHopByHop, ProtoNone, 1), 56, ProtoNone, false},
	} {
		off, proto, ok := tc.p.UpperLayer()
		if off != tc.off || proto != tc.proto || ok != tc.ok {
			t.Errorf("%s: UpperLayer = %d, %d, %v; want %d, %d, %v", tc.name, off, proto, ok, tc.off, tc.proto, tc.ok)
		}
	}
}

// MSSOffset walks the options to the last octet of the Data Offset and no
// further: an option that ends exactly there counts, one that runs past
// it or a kind octet with no length after it ends the walk.
func TestMSSOffsetAtItsBounds(t *testing.T) {
	seg := func(dataOff int, opts []byte, extra int) TCP {
		h := make(TCP, TCPMinSize+len(opts)+extra)
		h[12] = byte(dataOff/4) << 4
		copy(h[TCPMinSize:], opts)
		return h
	}
	for _, tc := range []struct {
		name string
		h    TCP
		want int
	}{
		{"MSS ending the options", seg(24, []byte{TCPOptionMSS, 4, 0x05, 0xb4}, 0), 22},
		{"MSS after a two-octet option", seg(28, []byte{4, 2, TCPOptionMSS, 4, 0x05, 0xb4, TCPOptionNOP, TCPOptionNOP}, 0), 24},
		{"MSS running past the Data Offset", seg(24, []byte{TCPOptionNOP, TCPOptionNOP, TCPOptionMSS, 4, 0x05, 0xb4}, 0), 0},
		{"a kind with no length octet, at the buffer's end", seg(24, []byte{TCPOptionNOP, TCPOptionNOP, TCPOptionNOP, TCPOptionMSS}, 0), 0},
		{"a length below 2", seg(24, []byte{8, 1, TCPOptionMSS, 4}, 0), 0},
	} {
		if got := tc.h.MSSOffset(); got != tc.want {
			t.Errorf("%s: MSSOffset = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// ClampMSS leaves an MSS equal to the limit alone and says so.
func TestClampMSSAtTheLimit(t *testing.T) {
	h := make(TCP, 24)
	h[12] = 6 << 4
	copy(h[20:], []byte{TCPOptionMSS, 4, 0x05, 0xb4}) // 1460
	h.SetChecksum(0x1234)
	if h.ClampMSS(1460) {
		t.Error("ClampMSS(1460) of an MSS of 1460 reported a change")
	}
	if mss, _ := h.MSS(); mss != 1460 || h.Checksum() != 0x1234 {
		t.Errorf("after ClampMSS(1460): MSS %d, checksum %#04x", mss, h.Checksum())
	}
}
