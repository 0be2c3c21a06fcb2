// Package handofftest is the test bed the handoff packages' tests share:
// the addresses of the protocol reference's test vectors (§12), a fixed
// clock, deterministic randomness, a connection-log recorder and a
// packet to carry.
package handofftest

import (
	"bytes"
	"io"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
)

// The addresses of §12: the NAT64 N, its control endpoint N:CP, the
// server S, and two IPv6 clients behind the NAT64.
var (
	N       = netip.MustParseAddr("192.0.2.1")
	NCP     = netip.AddrPortFrom(N, 1024)
	S       = netip.MustParseAddr("192.0.2.2")
	Client1 = netip.MustParseAddrPort("[2001:db8:1::2]:53186")
	Client2 = netip.MustParseAddrPort("[2001:db8:1::3]:34643")
)

// Step is the k-th second of the tests' clock, 2024-05-01 12:00:00 UTC
// plus k seconds.
func Step(k int) time.Time { return time.Date(2024, 5, 1, 12, 0, k, 0, time.UTC) }

// SeqRand yields 20 21 … 3f (the cookie key Ks of §12), then the table
// epoch of §12, then a counting sequence: a server built on it answers
// with the bytes of the reference's vectors.
func SeqRand() io.Reader {
	b := make([]byte, 0, 40)
	for i := 0x20; i <= 0x3f; i++ {
		b = append(b, byte(i))
	}
	b = append(b, 0x8e, 0x01, 0xf2, 0xa7, 0xc3, 0xb4, 0x5d, 0x69)
	return io.MultiReader(bytes.NewReader(b), &Counting{})
}

// Counting is a reader of N+1, N+2, …: randomness that differs between
// readers started at different N and repeats between runs.
type Counting struct{ N byte }

// Read fills p with the next octets of the sequence; it never fails.
func (c *Counting) Read(p []byte) (int, error) {
	for i := range p {
		c.N++
		p[i] = c.N
	}
	return len(p), nil
}

// A Recorder collects connection-log events as the text lines of §9.
// E is the server's event type; it is a parameter so that the server's
// own tests can use a Recorder without an import cycle.
type Recorder[E interface{ AppendLogLine([]byte) []byte }] struct{ b []byte }

// Event appends e's log line; its method value is a server's OnEvent.
func (r *Recorder[E]) Event(e E) { r.b = e.AppendLogLine(r.b) }

// Take returns the lines recorded since the last Take.
func (r *Recorder[E]) Take() string { s := string(r.b); r.b = r.b[:0]; return s }

// SYN is a TCP SYN from client to port 80 of S behind 64:ff9b::/96, a
// packet for a NAT64 to hold or a datagram to carry.
func SYN(client netip.AddrPort) []byte {
	dst := netip.MustParseAddr("64:ff9b::192.0.2.2")
	return testpkt.IPv6{Src: client.Addr(), Dst: dst, HopLimit: 64}.Packet(header.ProtoTCP,
		testpkt.TCP(client.Addr(), dst, client.Port(), 80, header.TCPFlagSYN, nil))
}
