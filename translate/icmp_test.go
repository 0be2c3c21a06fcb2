package translate

import (
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// Every row of RFC 7915 §4.2 (ICMPv4 -> ICMPv6), as the spec digest lists
// them; every type/code pair not listed must be dropped.
func TestICMPv4To6Table(t *testing.T) {
	type tc struct{ t, c uint8 }
	want := map[tc]tc{
		{8, 0}: {128, 0}, {0, 0}: {129, 0},
		{3, 0}: {1, 0}, {3, 1}: {1, 0}, {3, 2}: {4, 1}, {3, 3}: {1, 4}, {3, 4}: {2, 0},
		{3, 5}: {1, 0}, {3, 6}: {1, 0}, {3, 7}: {1, 0}, {3, 8}: {1, 0},
		{3, 9}: {1, 1}, {3, 10}: {1, 1}, {3, 11}: {1, 0}, {3, 12}: {1, 0},
		{3, 13}: {1, 1}, {3, 15}: {1, 1},
		{12, 0}: {4, 0}, {12, 2}: {4, 0},
	}
	for c := 0; c < 256; c++ {
		want[tc{11, uint8(c)}] = tc{3, uint8(c)} // Time Exceeded: code unchanged
	}
	// Echo codes are copied as they are.
	for c := 1; c < 256; c++ {
		want[tc{8, uint8(c)}] = tc{128, uint8(c)}
		want[tc{0, uint8(c)}] = tc{129, uint8(c)}
	}
	for typ := 0; typ < 256; typ++ {
		for code := 0; code < 256; code++ {
			t6, c6, ok := icmp4to6(uint8(typ), uint8(code))
			w, listed := want[tc{uint8(typ), uint8(code)}]
			if ok != listed || ok && (t6 != w.t || c6 != w.c) {
				t.Errorf("ICMPv4 %d/%d -> %d/%d %v, want %d/%d %v", typ, code, t6, c6, ok, w.t, w.c, listed)
			}
		}
	}
}

// Every row of RFC 7915 §5.2 (ICMPv6 -> ICMPv4).
func TestICMPv6To4Table(t *testing.T) {
	type tc struct{ t, c uint8 }
	want := map[tc]tc{
		{1, 0}: {3, 1}, {1, 1}: {3, 10}, {1, 2}: {3, 1}, {1, 3}: {3, 1}, {1, 4}: {3, 3},
		{4, 0}: {12, 0}, {4, 1}: {3, 2},
	}
	for c := 0; c < 256; c++ {
		want[tc{2, uint8(c)}] = tc{3, 4}          // Packet Too Big
		want[tc{3, uint8(c)}] = tc{11, uint8(c)}  // Time Exceeded
		want[tc{128, uint8(c)}] = tc{8, uint8(c)} // Echo Request
		want[tc{129, uint8(c)}] = tc{0, uint8(c)} // Echo Reply
	}
	for typ := 0; typ < 256; typ++ {
		for code := 0; code < 256; code++ {
			t4, c4, ok := icmp6to4(uint8(typ), uint8(code))
			w, listed := want[tc{uint8(typ), uint8(code)}]
			if ok != listed || ok && (t4 != w.t || c4 != w.c) {
				t.Errorf("ICMPv6 %d/%d -> %d/%d %v, want %d/%d %v", typ, code, t4, c4, ok, w.t, w.c, listed)
			}
		}
	}
}

// RFC 7915 §4.2 Figure 3 and §5.2 Figure 6, every pointer value.
func TestPointerTables(t *testing.T) {
	want4to6 := map[int]int{0: 0, 1: 1, 2: 4, 3: 4, 8: 7, 9: 6, 12: 8, 13: 8, 14: 8, 15: 8, 16: 24, 17: 24, 18: 24, 19: 24}
	for p := 0; p < 256; p++ {
		got := -1
		if p < len(pointer4to6) {
			got = int(pointer4to6[p])
		}
		w, ok := want4to6[p]
		if !ok {
			w = -1
		}
		if got != w {
			t.Errorf("IPv4 pointer %d -> %d, want %d", p, got, w)
		}
	}
	want6to4 := map[int]int{0: 0, 1: 1, 4: 2, 5: 2, 6: 9, 7: 8}
	for p := 8; p < 24; p++ {
		want6to4[p] = 12
	}
	for p := 24; p < 40; p++ {
		want6to4[p] = 16
	}
	for p := 0; p < 256; p++ {
		got := -1
		if p < len(pointer6to4) {
			got = int(pointer6to4[p])
		}
		w, ok := want6to4[p]
		if !ok {
			w = -1
		}
		if got != w {
			t.Errorf("IPv6 pointer %d -> %d, want %d", p, got, w)
		}
	}
}

// Generated ICMP errors obey the token bucket and refill with the clock.
func TestICMPErrorRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := testCf
	cfg.ICMPErrorRate, cfg.ICMPErrorBurst = 10, 3
	cfg.Now = func() time.Time { return now }
	x := newTestTranslator(t, cfg)
	expired := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd))
	count := func(n int) (replies int) {
		for i := 0; i < n; i++ {
			if _, r := run(x.To6, expired); r.Verdict == Reply {
				replies++
			} else if r.Reason != ReasonHopLimit {
				t.Fatalf("reason %v", r.Reason)
			}
		}
		return replies
	}
	if got := count(10); got != 3 {
		t.Errorf("burst: %d replies, want 3", got)
	}
	now = now.Add(200 * time.Millisecond) // 2 tokens at 10/s
	if got := count(10); got != 2 {
		t.Errorf("after 200ms: %d replies, want 2", got)
	}
	if x.Stats().Reason(ReasonICMPErrorRateLimit) != 15 {
		t.Errorf("rate-limited count %d, want 15", x.Stats().Reason(ReasonICMPErrorRateLimit))
	}
	// A negative rate turns generated errors off.
	cfg.ICMPErrorRate = -1
	x = newTestTranslator(t, cfg)
	if got := count(5); got != 0 {
		t.Errorf("disabled: %d replies", got)
	}
}

// No errors about errors, nor from a translator without an address.
func TestNoReplyCases(t *testing.T) {
	x := newTestTranslator(t, Config{})
	expired := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1}.Packet(header.ProtoUDP, testpkt.UDP(h4, h6v4, 1, 2, abcd))
	if _, r := run(x.To6, expired); r.Verdict != Drop || r.Reason != ReasonHopLimit {
		t.Errorf("no own address: %v %v", r.Verdict, r.Reason)
	}
	x = newTestTranslator(t, testCf)
	errPkt := testpkt.IPv4{Src: h4, Dst: h6v4, TTL: 1}.Packet(header.ProtoICMPv4, testpkt.ICMPError(h4, h6v4, 3, 3, 0, expired))
	if _, r := run(x.To6, errPkt); r.Verdict != Drop {
		t.Errorf("error about an error: %v", r.Verdict)
	}
}
