package nat64

import (
	"testing"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// ICMP errors quoting echoes (RFC 6146 §3.5.3, RFC 7915 §4.3 and §5.3):
// the quoted identifier is mapped through the session like the outer
// packet's would be, both ways; an error about a flow with no session, or
// quoting an address outside pool6, is not translated.
func TestICMPErrorsQuotingEchoes(t *testing.T) {
	x := newTest(t, testConfig(newClock()))
	dst := addr("198.51.100.7")
	d6 := wkp.Embed(dst)
	router4, router6 := addr("198.51.100.254"), addr("2001:db8::fe")
	req6 := testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.Echo(h1, d6, header.ICMPv6EchoRequest, 0x1234, 1, []byte("ping")))
	req4, r := xl(x, req6)
	if r.Verdict != translate.Forward {
		t.Fatalf("echo: %v %v", r.Verdict, r.Reason)
	}
	id := header.ICMPv4(req4[20:]).Ident()

	// An IPv4 router says the request's TTL ran out: back to h1, quoting
	// the request as h1 sent it.
	te4 := testpkt.IPv4{Src: router4, Dst: pool}.Packet(1, testpkt.ICMPError(router4, pool, header.ICMPv4TimeExceeded, 0, 0, req4))
	te6, r := xl(x, te4)
	if r.Verdict != translate.Forward {
		t.Fatalf("Time Exceeded 4->6: %v %v", r.Verdict, r.Reason)
	}
	q := header.IPv6(te6[40+header.ICMPHeaderSize:])
	qe := header.ICMPv6(q[40:])
	if header.IPv6(te6).Dst() != h1 || q.Src() != h1 || q.Dst() != d6 || qe.Type() != header.ICMPv6EchoRequest || qe.Ident() != 0x1234 {
		t.Errorf("4->6 error quotes %v -> %v type %d id %#x", q.Src(), q.Dst(), qe.Type(), qe.Ident())
	}

	// The reply comes back to h1, and h1's own stack objects to it: the
	// error quotes the reply as translated, which goes out quoting the
	// IPv4 reply with the session's identifier.
	rep4 := testpkt.IPv4{Src: dst, Dst: pool}.Packet(1, testpkt.Echo(dst, pool, header.ICMPv4EchoReply, id, 1, []byte("ping")))
	rep6, r := xl(x, rep4)
	if r.Verdict != translate.Forward {
		t.Fatalf("reply: %v %v", r.Verdict, r.Reason)
	}
	un6 := testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.ICMPError(h1, d6, header.ICMPv6DstUnreachable, header.ICMPv6CodeAdminProhib, 0, rep6))
	un4, r := xl(x, un6)
	if r.Verdict != translate.Forward {
		t.Fatalf("Destination Unreachable 6->4: %v %v", r.Verdict, r.Reason)
	}
	q4 := header.IPv4(un4[20+header.ICMPHeaderSize:])
	qe4 := header.ICMPv4(q4[20:])
	if header.IPv4(un4).Dst() != dst || q4.Src() != dst || q4.Dst() != pool || qe4.Type() != header.ICMPv4EchoReply || qe4.Ident() != id {
		t.Errorf("6->4 error quotes %v -> %v type %d id %#x", q4.Src(), q4.Dst(), qe4.Type(), qe4.Ident())
	}

	// No session for the quoted identifier, either way.
	stray4 := testpkt.IPv4{Src: pool, Dst: dst}.Packet(1, testpkt.Echo(pool, dst, header.ICMPv4EchoRequest, id+1, 1, nil))
	if _, r := xl(x, testpkt.IPv4{Src: router4, Dst: pool}.Packet(1, testpkt.ICMPError(router4, pool, header.ICMPv4TimeExceeded, 0, 0, stray4))); r.Reason != translate.ReasonNoBinding {
		t.Errorf("4->6: an error about an unknown identifier: %v %v", r.Verdict, r.Reason)
	}
	stray6 := testpkt.IPv6{Src: d6, Dst: h1}.Packet(58, testpkt.Echo(d6, h1, header.ICMPv6EchoReply, 0x4321, 1, nil))
	if _, r := xl(x, testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.ICMPError(h1, d6, header.ICMPv6DstUnreachable, 1, 0, stray6))); r.Reason != translate.ReasonNoBinding {
		t.Errorf("6->4: an error about an unknown identifier: %v %v", r.Verdict, r.Reason)
	}
	// A quoted source outside pool6 has no IPv4 form.
	odd := testpkt.IPv6{Src: router6, Dst: h1}.Packet(58, testpkt.Echo(router6, h1, header.ICMPv6EchoReply, 0x1234, 1, nil))
	if _, r := xl(x, testpkt.IPv6{Src: h1, Dst: d6}.Packet(58, testpkt.ICMPError(h1, d6, header.ICMPv6DstUnreachable, 1, 0, odd))); r.Reason != translate.ReasonUntranslatableSrc {
		t.Errorf("6->4: an error quoting a source outside pool6: %v %v", r.Verdict, r.Reason)
	}
}
