package handoff

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/v6xlat/xlat/internal/fixture"
)

// The §12 worked examples, as complete UDP payloads.
const (
	hexE1 = "3112010000005d3c9a1be04f772600000000000000000000000000000000c51b590967e9db02" +
		"320c80060e8720010db8000100000000000000000002cfc20000" +
		"381b68616e646f66662f313a2074686520636c69656e74206f66207468697320666c6f772075736573204950763620766961204e41543634"
	hexE2 = "311201c000005d3c9a1be04f77260000000000000000a6be3c23042a8dcdc51b590967e9db02"
	hexE4 = "3112010000005d3c9a1be04f77268e01f2a7c3b45d69a6be3c23042a8dcdc51b590967e9db02" +
		"320c0006000020010db800010000000000000000000387530000" + hexE4Packet
	hexE4Packet = "600000000018064020010db80001000000000000000000030064ff9b0000000000000000c0000202" +
		"875300501a2b3c4d000000006002fd20cd3e0000020405a0"
	hexE5 = "311201a000005d3c9a1be04f77268e01f2a7c3b45d69a6be3c23042a8dcdc51b590967e9db02" +
		"330e00002f9f0000000220010db800010000000000000000000387530000" + hexE4Packet
	hexE6 = "3112010000005d3c9a1be04f77268e01f2a7c3b45d69a6be3c23042a8dcdc51b590967e9db02" +
		"36060e87000000012f9f00000002"
	hexE7 = "311201a000000f1e2d3c4b5a697836c1e85f0a7b2d942bd1c3f94b796527c6c7cc74b1d7b70f" +
		"3704b7fe00000000145a" +
		"330e0000b7fe00016bbd20010db800000000000000000000005587530000"
	hexE8 = "311201000000c4a1e07b93d2586f0000000000000000421aafe088f59b00c746a6cc57ec2113" +
		"34020e870000" + hexE8Packet
	hexE8Packet = "450000281c46400040069a86c0000202c000020100500e875e6f70819a0b1c2e501001f595da0000"
)

const (
	epoch1 = 0x5d3c9a1be04f7726
	token1 = 0xc51b590967e9db02
	cook1  = 0xa6be3c23042a8dcd
	table1 = 0x8e01f2a7c3b45d69
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestGoldenVectors(t *testing.T) {
	sessN := Session{Version: 1, NAT64Epoch: epoch1, TableEpoch: table1, Cookie: cook1, Token: token1}
	sessS := sessN
	sessS.Flags = FlagServer | FlagPersistent
	e3 := sessS
	e3.TableEpoch = table1
	tests := []struct {
		name string
		hex  string
		size int
		want Datagram
	}{
		{"E1", hexE1, 120, Datagram{
			Session: Session{Version: 1, NAT64Epoch: epoch1, Token: token1},
			Messages: []Message{
				&MapRequest{Flags: FlagAdopt, Proto: 6, Port: 3719, Client: ap("[2001:db8:1::2]:53186")},
				&Note{Text: "handoff/1: the client of this flow uses IPv6 via NAT64"},
			}}},
		{"E2", hexE2, 38, Datagram{
			Session: Session{Version: 1, Flags: FlagServer | FlagChallenge, NAT64Epoch: epoch1, Cookie: cook1, Token: token1}}},
		{"E4", hexE4, 128, Datagram{Session: sessN, Messages: []Message{
			&MapRequest{Proto: 6, Client: ap("[2001:db8:1::3]:34643")},
			Packet(fixture.Hex(t, hexE4Packet)),
		}}},
		{"E5", hexE5, 132, Datagram{Session: sessS, Messages: []Message{
			&Map{Status: StatusNew, Port: 12191, Generation: 2, Client: ap("[2001:db8:1::3]:34643")},
			Packet(fixture.Hex(t, hexE4Packet)),
		}}},
		{"E6", hexE6, 52, Datagram{Session: sessN, Messages: []Message{
			&Refresh{Entries: []RefreshEntry{{3719, 1}, {12191, 2}}},
		}}},
		{"E7", hexE7, 78, Datagram{
			Session: Session{Version: 1, Flags: FlagServer | FlagPersistent, NAT64Epoch: 0x0f1e2d3c4b5a6978,
				TableEpoch: 0x36c1e85f0a7b2d94, Cookie: 0x2bd1c3f94b796527, Token: 0xc6c7cc74b1d7b70f},
			Messages: []Message{
				&Invalidate{Port: 47102, Generation: 5210},
				&Map{Status: StatusNew, Port: 47102, Generation: 93117, Client: ap("[2001:db8::55]:34643")},
			}}},
		{"E8", hexE8, 84, Datagram{
			Session:  Session{Version: 1, NAT64Epoch: 0xc4a1e07b93d2586f, Cookie: 0x421aafe088f59b00, Token: 0xc746a6cc57ec2113},
			Messages: []Message{&Lookup{Port: 3719}, Packet(fixture.Hex(t, hexE8Packet))}}},
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
	e1 := fixture.Hex(t, hexE1)
	d, err := Parse(e1)
	if err != nil {
		t.Fatal(err)
	}
	d.Session.Cookie = cook1
	resent := d.Append(nil)
	want := append([]byte(nil), e1...)
	copy(want[22:30], fixture.Hex(t, "a6be3c23042a8dcd"))
	if !bytes.Equal(resent, want) {
		t.Errorf("E3 resend = %x, want %x", resent, want)
	}

	reply := Datagram{
		Session:  Session{Version: 1, Flags: FlagServer | FlagPersistent, NAT64Epoch: epoch1, TableEpoch: table1, Cookie: cook1, Token: token1},
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
			TableEpoch: table1, Cookie: 0x421aafe088f59b00, Token: 0xc746a6cc57ec2113},
		Messages: []Message{
			&Map{Status: StatusExisting, Port: 3719, Generation: 1, Client: ap("[2001:db8:1::2]:53186")},
			Packet(fixture.Hex(t, hexE8Packet)),
		},
	}
	b = e8.Append(nil)
	if len(b) != 108 || !bytes.Equal(b[38:48], fixture.Hex(t, "330e01000e8700000001")) ||
		!bytes.Equal(b[64:68], fixture.Hex(t, "cfc20000")) || !bytes.Equal(b[68:], fixture.Hex(t, hexE8Packet)) {
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
		Session:  Session{Version: 1, Flags: FlagServer, NAT64Epoch: epoch1, Cookie: cook1, Token: token1},
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

func TestTokenCookie(t *testing.T) {
	key := func(first byte) (k [32]byte) {
		for i := range k {
			k[i] = first + byte(i)
		}
		return k
	}
	s, n1, n9 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9")
	for _, tt := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"token E1", Token(key(0x00), s, DefaultServerPort, epoch1), token1},
		{"cookie E1", Cookie(key(0x20), n1, DefaultControlPort, epoch1), cook1},
		{"token E7", Token(key(0x40), s, DefaultServerPort, 0x0f1e2d3c4b5a6978), 0xc6c7cc74b1d7b70f},
		{"cookie E7", Cookie(key(0x20), n9, DefaultControlPort, 0x0f1e2d3c4b5a6978), 0x2bd1c3f94b796527},
		{"token E8", Token(key(0x60), s, DefaultServerPort, 0xc4a1e07b93d2586f), 0xc746a6cc57ec2113},
		{"cookie E8", Cookie(key(0x20), n1, DefaultControlPort, 0xc4a1e07b93d2586f), 0x421aafe088f59b00},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %016x, want %016x", tt.name, tt.got, tt.want)
		}
	}
}

// §13 test 2: datagrams dropped whole.
func TestParseMalformed(t *testing.T) {
	e8 := fixture.Hex(t, hexE8)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), e8...)) }
	for name, b := range map[string][]byte{
		"short":              e8[:37],
		"empty":              nil,
		"not SESSION first":  mutate(func(b []byte) []byte { b[0] = TypeLookup; return b }),
		"SESSION L 17":       mutate(func(b []byte) []byte { b[1] = 17; return b[:36] }),
		"nibble 0":           append(fixture.Hex(t, hexE2), 0x01, 0x00),
		"nibble 5":           append(fixture.Hex(t, hexE2), 0x51, 0x00),
		"nibble 7":           append(fixture.Hex(t, hexE2), 0x71, 0x00),
		"nibble f":           append(fixture.Hex(t, hexE2), 0xf1, 0x00),
		"truncated control":  e8[:41],
		"odd trailing octet": append(fixture.Hex(t, hexE2), 0x34),
		"IPv4 IHL 4":         mutate(func(b []byte) []byte { b[44] = 0x44; return b }),
		"IPv4 past end":      mutate(func(b []byte) []byte { b[47] = 0x29; return b }),
		"IPv4 too short":     mutate(func(b []byte) []byte { return b[:60] }),
		"IPv6 past end":      fixture.Hex(t, hexE4)[:127],
	} {
		if d, err := Parse(b); !errors.Is(err, ErrMalformedDatagram) {
			t.Errorf("%s: Parse = %+v, %v; want ErrMalformedDatagram", name, d, err)
		}
	}
}

// §13 test 3: unknown messages are skipped, short ones noted, long ones
// accepted with the excess ignored.
func TestParseMessageLevel(t *testing.T) {
	head := fixture.Hex(t, hexE2)
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
	for _, h := range []string{hexE1, hexE2, hexE4, hexE5, hexE6, hexE7, hexE8} {
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
