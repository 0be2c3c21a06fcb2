package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/v6xlat/xlat/handoff/internal/vectors"

	"github.com/v6xlat/xlat/internal/fixture"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestGoldenVectors(t *testing.T) {
	sessN := Session{Version: 1, NAT64Epoch: vectors.Epoch1, TableEpoch: vectors.Table1, Cookie: vectors.Cookie1, Token: vectors.Token1}
	sessS := sessN
	sessS.Flags = FlagServer | FlagPersistent
	e3 := sessS
	e3.TableEpoch = vectors.Table1
	tests := []struct {
		name string
		hex  string
		size int
		want Datagram
	}{
		{"E1", vectors.E1, 120, Datagram{
			Session: Session{Version: 1, NAT64Epoch: vectors.Epoch1, Token: vectors.Token1},
			Messages: []Message{
				&MapRequest{Flags: FlagAdopt, Proto: 6, Port: 3719, Client: ap("[2001:db8:1::2]:53186")},
				&Note{Text: "handoff/1: the client of this flow uses IPv6 via NAT64"},
			}}},
		{"E2", vectors.E2, 38, Datagram{
			Session: Session{Version: 1, Flags: FlagServer | FlagChallenge, NAT64Epoch: vectors.Epoch1, Cookie: vectors.Cookie1, Token: vectors.Token1}}},
		{"E4", vectors.E4, 128, Datagram{Session: sessN, Messages: []Message{
			&MapRequest{Proto: 6, Client: ap("[2001:db8:1::3]:34643")},
			Packet(fixture.Hex(t, vectors.E4Packet)),
		}}},
		{"E5", vectors.E5, 132, Datagram{Session: sessS, Messages: []Message{
			&Map{Status: StatusNew, Port: 12191, Generation: 2, Client: ap("[2001:db8:1::3]:34643")},
			Packet(fixture.Hex(t, vectors.E4Packet)),
		}}},
		{"E6", vectors.E6, 52, Datagram{Session: sessN, Messages: []Message{
			&Refresh{Entries: []RefreshEntry{{3719, 1}, {12191, 2}}},
		}}},
		{"E7", vectors.E7, 78, Datagram{
			Session: Session{Version: 1, Flags: FlagServer | FlagPersistent, NAT64Epoch: 0x0f1e2d3c4b5a6978,
				TableEpoch: 0x36c1e85f0a7b2d94, Cookie: 0x2bd1c3f94b796527, Token: 0xc6c7cc74b1d7b70f},
			Messages: []Message{
				&Invalidate{Port: 47102, Generation: 5210},
				&Map{Status: StatusNew, Port: 47102, Generation: 93117, Client: ap("[2001:db8::55]:34643")},
			}}},
		{"E8", vectors.E8, 84, Datagram{
			Session:  Session{Version: 1, NAT64Epoch: 0xc4a1e07b93d2586f, Cookie: 0x421aafe088f59b00, Token: 0xc746a6cc57ec2113},
			Messages: []Message{&Lookup{Port: 3719}, Packet(fixture.Hex(t, vectors.E8Packet))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := fixture.Hex(t, tt.hex)
			if len(raw) != tt.size {
				t.Fatalf("fixture is %d octets, spec says %d", len(raw), tt.size)
			}
			got, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", *got, tt.want)
			}
			if enc := tt.want.Append(nil); !bytes.Equal(enc, raw) {
				t.Errorf("Append =\n%x\nwant\n%x", enc, raw)
			}
		})
	}
}

// E3 and the E8 reply are described rather than dumped; build them from
// the text and check the octets the spec spells out.
func TestGoldenDescribed(t *testing.T) {
	// E3: E1 resent with the cookie in octets 22-29, nothing else changed.
	e1 := fixture.Hex(t, vectors.E1)
	d, err := Parse(e1)
	if err != nil {
		t.Fatal(err)
	}
	d.Session.Cookie = vectors.Cookie1
	resent := d.Append(nil)
	want := append([]byte(nil), e1...)
	copy(want[22:30], fixture.Hex(t, "a6be3c23042a8dcd"))
	if !bytes.Equal(resent, want) {
		t.Errorf("E3 resend = %x, want %x", resent, want)
	}

	reply := Datagram{
		Session:  Session{Version: 1, Flags: FlagServer | FlagPersistent, NAT64Epoch: vectors.Epoch1, TableEpoch: vectors.Table1, Cookie: vectors.Cookie1, Token: vectors.Token1},
		Messages: []Message{&Map{Status: StatusAdopted, Port: 3719, Generation: 1, Client: ap("[2001:db8:1::2]:53186")}},
	}
	b := reply.Append(nil)
	if len(b) != 68 || !bytes.Equal(b[:6], fixture.Hex(t, "311201a00000")) ||
		!bytes.Equal(b[38:], fixture.Hex(t, "330e02000e870000000120010db8000100000000000000000002cfc20000")) {
		t.Errorf("E3 reply = %x", b)
	}

	// E8 reply: 108 octets, EXISTING 3719 generation 1, packet unchanged.
	e8 := Datagram{
		Session: Session{Version: 1, Flags: FlagServer | FlagPersistent, NAT64Epoch: 0xc4a1e07b93d2586f,
			TableEpoch: vectors.Table1, Cookie: 0x421aafe088f59b00, Token: 0xc746a6cc57ec2113},
		Messages: []Message{
			&Map{Status: StatusExisting, Port: 3719, Generation: 1, Client: ap("[2001:db8:1::2]:53186")},
			Packet(fixture.Hex(t, vectors.E8Packet)),
		},
	}
	b = e8.Append(nil)
	if len(b) != 108 || !bytes.Equal(b[38:48], fixture.Hex(t, "330e01000e8700000001")) ||
		!bytes.Equal(b[64:68], fixture.Hex(t, "cfc20000")) || !bytes.Equal(b[68:], fixture.Hex(t, vectors.E8Packet)) {
		t.Errorf("E8 reply = %x", b)
	}
	if p, err := Parse(b); err != nil || !reflect.DeepEqual(*p, e8) {
		t.Errorf("E8 reply round trip = %+v, %v", p, err)
	}
}

func TestShortForms(t *testing.T) {
	d := Datagram{Messages: []Message{&Unmapped{Port: 5000}}}
	if got := d.Append(nil)[HeaderSize:]; !bytes.Equal(got, fixture.Hex(t, "350213880000")) {
		t.Errorf("UNMAPPED 5000 = %x", got)
	}
	limit := Datagram{
		Session:  Session{Version: 1, Flags: FlagServer, NAT64Epoch: vectors.Epoch1, Cookie: vectors.Cookie1, Token: vectors.Token1},
		Messages: []Message{&Error{Code: ErrTableLimit, Text: "table limit"}},
	}
	b := limit.Append(nil)
	if len(b) != 56 || !bytes.Equal(b[HeaderSize:], fixture.Hex(t, "3908000200007461626c65206c696d6974ff")) {
		t.Errorf("TABLE_LIMIT = %x (%d octets)", b, len(b))
	}
	p, err := Parse(b)
	if err != nil || !reflect.DeepEqual(*p, limit) {
		t.Errorf("TABLE_LIMIT round trip = %+v, %v", p, err)
	}
}

func TestParseMalformed(t *testing.T) {
	e8 := fixture.Hex(t, vectors.E8)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), e8...)) }
	for name, b := range map[string][]byte{
		"short":              e8[:37],
		"empty":              nil,
		"not SESSION first":  mutate(func(b []byte) []byte { b[0] = TypeLookup; return b }),
		"SESSION L 17":       mutate(func(b []byte) []byte { b[1] = 17; return b[:36] }),
		"nibble 0":           append(fixture.Hex(t, vectors.E2), 0x01, 0x00),
		"nibble 5":           append(fixture.Hex(t, vectors.E2), 0x51, 0x00),
		"nibble 7":           append(fixture.Hex(t, vectors.E2), 0x71, 0x00),
		"nibble f":           append(fixture.Hex(t, vectors.E2), 0xf1, 0x00),
		"truncated control":  e8[:41],
		"odd trailing octet": append(fixture.Hex(t, vectors.E2), 0x34),
		"IPv4 IHL 4":         mutate(func(b []byte) []byte { b[44] = 0x44; return b }),
		"IPv4 past end":      mutate(func(b []byte) []byte { b[47] = 0x29; return b }),
		"IPv4 too short":     mutate(func(b []byte) []byte { return b[:60] }),
		"IPv6 past end":      fixture.Hex(t, vectors.E4)[:127],
	} {
		if d, err := Parse(b); !errors.Is(err, ErrMalformedDatagram) {
			t.Errorf("%s: Parse = %+v, %v; want ErrMalformedDatagram", name, d, err)
		}
	}
}

// §13 test 3: unknown messages are skipped, short ones noted, long ones
// accepted with the excess ignored.
func TestParseMessageLevel(t *testing.T) {
	head := fixture.Hex(t, vectors.E2)
	req := fixture.Hex(t, "320c0006000020010db800010000000000000000000387530000")
	b := append(append([]byte(nil), head...), 0x3b, 0x01, 0xaa, 0xbb)
	b = append(b, req...)
	d, err := Parse(b)
	if err != nil || d.UnknownMessages != 1 || len(d.Messages) != 1 {
		t.Fatalf("unknown then request: %+v, %v", d, err)
	}

	short := append(append([]byte(nil), head...), 0x32, 11)
	short = append(short, req[2:24]...)
	d, err = Parse(short)
	if err != nil || len(d.Messages) != 0 || !reflect.DeepEqual(d.MalformedMessages, []uint8{TypeMapRequest}) {
		t.Fatalf("L=11: %+v, %v", d, err)
	}

	again := append(append([]byte(nil), head...), head...)
	d, err = Parse(again)
	if err != nil || d.UnexpectedMessages != 1 || len(d.Messages) != 0 {
		t.Fatalf("second SESSION: %+v, %v", d, err)
	}

	long := append(append([]byte(nil), head...), 0x32, 13)
	long = append(long, req[2:]...)
	long = append(long, 0xde, 0xad)
	d, err = Parse(long)
	if err != nil || len(d.Messages) != 1 || d.Messages[0].(*MapRequest).Client != ap("[2001:db8:1::3]:34643") {
		t.Fatalf("L=13: %+v, %v", d, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, h := range []string{vectors.E1, vectors.E2, vectors.E4, vectors.E5, vectors.E6, vectors.E7, vectors.E8} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		// What Parse accepts without skipping anything re-encodes to a
		// datagram that parses to the same thing.
		if d.UnknownMessages > 0 || len(d.MalformedMessages) > 0 || d.UnexpectedMessages > 0 {
			return
		}
		d2, err := Parse(d.Append(nil))
		if err != nil {
			t.Fatalf("re-encoded datagram does not parse: %v", err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip:\n%+v\n%+v", d, d2)
		}
	})
}

// Statuses and error codes print as the specification names them.
func TestStatusAndErrorCodeNames(t *testing.T) {
	for got, want := range map[string]string{
		StatusNew.String(): "NEW", StatusRefused.String(): "REFUSED", Status(9).String(): "STATUS_9", Status(4).String(): "STATUS_4",
		ErrorCode(4).String():  "ERROR_4",
		ErrTableLimit.String(): "TABLE_LIMIT", ErrMalformed.String(): "MALFORMED", ErrorCode(0).String(): "ERROR_0", ErrorCode(700).String(): "ERROR_700",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

// The framing at its bounds (§4): a message that ends the datagram, an
// empty NOTE, IPv4 and IPv6 packets of nothing but a header, and the
// header lengths that make a carried IPv4 packet malformed.
func TestParseAtTheBounds(t *testing.T) {
	head := fixture.Hex(t, vectors.E2)
	v4 := func(ihl, total int, n int) []byte {
		p := make([]byte, n)
		p[0] = 4<<4 | byte(ihl)
		binary.BigEndian.PutUint16(p[2:], uint16(total))
		return p
	}
	v6 := make([]byte, 40)
	v6[0] = 6 << 4
	for _, tc := range []struct {
		name string
		msg  []byte
		ok   bool
		want Message
	}{
		{"an empty NOTE, two octets, ending the datagram", []byte{TypeNote, 0}, true, &Note{}},
		{"a NOTE of one octet and its pad", []byte{TypeNote, 1, 'x', 0xff}, true, &Note{Text: "x"}},
		{"an IPv4 packet of a bare 20-octet header", v4(5, 20, 20), true, Packet(v4(5, 20, 20))},
		{"an IPv4 header longer than its Total Length", v4(6, 20, 20), false, nil},
		{"an IPv4 IHL below 5", v4(4, 20, 20), false, nil},
		{"an IPv4 packet cut below 20 octets", v4(5, 19, 19), false, nil},
		{"an IPv6 packet of a bare 40-octet header", v6, true, Packet(v6)},
		{"an IPv6 packet cut below 40 octets", v6[:39], false, nil},
		{"one octet", []byte{TypeNote}, false, nil},
	} {
		d, err := Parse(append(append([]byte(nil), head...), tc.msg...))
		if !tc.ok {
			if err == nil {
				t.Errorf("%s: parsed (%+v); want a malformed datagram", tc.name, d)
			}
			continue
		}
		if err != nil || len(d.Messages) != 1 || !reflect.DeepEqual(d.Messages[0], tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, d, err, tc.want)
		}
	}
}
