package client

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/server"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

// The Client as what it is for: nat64's Broker, in a NAT64 built from
// the nat64 package, towards a Server, all in memory.

var (
	h1   = netip.MustParseAddr("2001:db8::1") // the IPv6 client
	h2   = netip.MustParseAddr("192.0.2.1")   // the IPv4 server, running handoff
	pool = netip.MustParseAddr("203.0.113.1") // N
	wkp  = translate.MustParsePrefix("64:ff9b::/96")
)

type rigClock struct{ t time.Time }

func (c *rigClock) now() time.Time { return c.t }

// nat64Config is a NAT64 with one pool4 address for every protocol.
func nat64Config(clock *rigClock) nat64.Config {
	var pool4 []nat64.Pool4Entry
	for _, p := range []nat64.Protocol{nat64.TCP, nat64.UDP, nat64.ICMP} {
		pool4 = append(pool4, nat64.Pool4Entry{Protocol: p, Prefix: netip.PrefixFrom(pool, 32), Ports: nat64.PortRange{Min: 1, Max: 65535}})
	}
	return nat64.Config{Pool6: wkp, AllowNonGlobalWKP: true, Pool4: pool4,
		Config: translate.Config{Addr4: pool, Addr6: netip.MustParseAddr("2001:db8::ffff"), Now: clock.now}}
}

// brokered makes the NAT64's ports the same every run and gives it cl as
// its Broker.
func brokered(cl *Client) nat64.Collaborators {
	return nat64.Collaborators{Random: bytes.NewReader(make([]byte, 64)), Broker: cl}
}

// xl translates pkt in whichever direction its version says.
func xl(x *nat64.Translator, pkt []byte) ([]byte, translate.Result) {
	buf := make([]byte, translate.Headroom+len(pkt)+128)
	copy(buf[translate.Headroom:], pkt)
	r := x.Translate(buf, translate.Headroom, len(pkt))
	if r.Verdict == translate.Drop {
		return nil, r
	}
	return append([]byte(nil), buf[r.Start:r.End]...), r
}

func tcp6(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, flags uint8) []byte {
	d := wkp.Embed(dst)
	return testpkt.IPv6{Src: src, Dst: d}.Packet(6, testpkt.TCP(src, d, sport, dport, flags, nil))
}

// handoffRig is a NAT64 whose ports towards h2 come from a handoff server,
// all in memory: the client's control datagrams go straight to the
// server's Handle and the replies straight back.
type handoffRig struct {
	t      *testing.T
	clock  *rigClock
	srv    *server.Server
	log    strings.Builder
	cli    *Client
	x      *nat64.Translator
	parked [][]byte // delivered by the client, to translate again
	toSrv  [][]byte
}

func newHandoffRig(t *testing.T) *handoffRig {
	r := &handoffRig{t: t, clock: &rigClock{time.Unix(1_700_000_000, 0)}}
	var err error
	r.srv, err = server.New(server.Config{Addr: h2, OnEvent: func(e server.Event) { r.log.Write(e.AppendLogLine(nil)) }})
	if err != nil {
		t.Fatal(err)
	}
	r.restartNAT64()
	return r
}

// restartNAT64 replaces translator and client: empty tables and cache, a
// new epoch, the server configured statically (§8.5).
func (r *handoffRig) restartNAT64() {
	var err error
	r.cli, err = New(Config{NAT64: pool, Pool6: wkp, Servers: []netip.Addr{h2},
		Send:    func(p []byte) { r.toSrv = append(r.toSrv, p) },
		Deliver: func(p []byte, _ bool) { r.parked = append(r.parked, p) },
		Now:     r.clock.now})
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := nat64Config(r.clock)
	for i := range cfg.Pool4 {
		cfg.Pool4[i].Ports = nat64.PortRange{Min: 1028, Max: 65535}
	}
	if r.x, err = nat64.New(cfg, brokered(r.cli)); err != nil {
		r.t.Fatal(err)
	}
}

// pump carries the control exchange until it settles, then translates the
// packets the client released.
func (r *handoffRig) pump() (out [][]byte) {
	for len(r.toSrv) > 0 {
		p := r.toSrv[0]
		r.toSrv = r.toSrv[1:]
		ip := header.IPv4(p)
		u := header.UDP(p[ip.HeaderLen():])
		for _, reply := range r.srv.Handle(r.clock.now(), netip.AddrPortFrom(ip.Src(), u.SrcPort()), u[8:], nil) {
			pkt := testpkt.IPv4{Src: h2, Dst: pool, TTL: 64}.Packet(header.ProtoUDP,
				testpkt.UDP(h2, pool, handoff.DefaultServerPort, handoff.DefaultControlPort, reply))
			if !r.cli.Receive(pkt) {
				r.t.Fatal("the client refused its control packet")
			}
		}
	}
	for _, p := range r.parked {
		o, res := xl(r.x, p)
		if res.Verdict != translate.Forward {
			r.t.Fatalf("released packet: %v", res.Reason)
		}
		out = append(out, o)
	}
	r.parked = nil
	return out
}

func TestBrokerHandoff(t *testing.T) {
	r := newHandoffRig(t)
	syn := tcp6(h1, 40000, h2, 80, header.TCPFlagSYN)
	if _, res := xl(r.x, syn); res.Verdict != translate.Drop || res.Reason != nat64.ReasonAwaiting {
		t.Fatalf("first SYN: %v %v, want to await the server", res.Verdict, res.Reason)
	}
	out := r.pump()
	if len(out) != 1 {
		t.Fatalf("%d packets released", len(out))
	}
	ip := header.IPv4(out[0])
	port := header.UDP(out[0][20:]).SrcPort() // TCP source port sits where UDP's does
	if ip.Src() != pool || ip.Dst() != h2 || port < handoff.SlotPortMin {
		t.Fatalf("translated SYN %v:%d -> %v", ip.Src(), port, ip.Dst())
	}
	if !strings.Contains(r.log.String(), "Created 203.0.113.1:"+strconv.Itoa(int(port))+" [2001:db8::1]:40000\n") {
		t.Errorf("server log %q", r.log.String())
	}
	if r.x.Sessions() != 0 {
		t.Errorf("%d BIB sessions: handoff flows keep none", r.x.Sessions())
	}
	synack := testpkt.IPv4{Src: h2, Dst: pool, TTL: 64}.Packet(header.ProtoTCP, testpkt.TCP(h2, pool, 80, port, header.TCPFlagSYN|header.TCPFlagACK, nil))
	o, res := xl(r.x, synack)
	if res.Verdict != translate.Forward || header.IPv6(o).Dst() != h1 || header.UDP(o[40:]).DstPort() != 40000 {
		t.Fatalf("SYN-ACK: %v %v", res.Verdict, res.Reason)
	}

	// The NAT64 restarts: cache gone. The server's next segment misses,
	// a LOOKUP finds the binding, and the connection goes on.
	r.log.Reset()
	r.restartNAT64()
	ack := testpkt.IPv4{Src: h2, Dst: pool, TTL: 64}.Packet(header.ProtoTCP, testpkt.TCP(h2, pool, 80, port, header.TCPFlagACK, []byte("data")))
	if _, res := xl(r.x, ack); res.Reason != nat64.ReasonAwaiting {
		t.Fatalf("after restart: %v", res.Reason)
	}
	out = r.pump()
	if len(out) != 1 || header.IPv6(out[0]).Dst() != h1 || header.UDP(out[0][40:]).DstPort() != 40000 {
		t.Fatalf("after restart: %d packets", len(out))
	}
	o, _ = xl(r.x, tcp6(h1, 40000, h2, 80, header.TCPFlagACK))
	if o == nil || header.UDP(o[20:]).SrcPort() != port {
		t.Fatal("outbound after restart took another port")
	}
	if r.log.Len() != 0 {
		t.Errorf("the server logged %q for a restarted NAT64", r.log.String())
	}
}

// The control ports of N stay out of the BIB (md §3).
func TestBrokerControlPorts(t *testing.T) {
	r := newHandoffRig(t)
	cfg := nat64Config(r.clock)
	_, err := nat64.New(cfg, brokered(r.cli))
	if err == nil || !strings.Contains(err.Error(), "include the handoff control ports 1024-1027") {
		t.Errorf("pool4 with ports 1-65535: %v", err)
	}
	cfg.Pool4 = cfg.Pool4[:0]
	cfg.Pool4 = append(cfg.Pool4, nat64.Pool4Entry{Protocol: nat64.TCP, Prefix: netip.MustParsePrefix("198.51.100.1/32")})
	if _, err := nat64.New(cfg, brokered(r.cli)); err == nil || !strings.Contains(err.Error(), "not a pool4 address") {
		t.Errorf("broker outside pool4: %v", err)
	}
}

// The Broker is the translator's for its life: an Update is checked
// against it (the same refusals as New, changing nothing), and after an
// accepted one it still owns its flows' ports.
func TestUpdateKeepsTheBroker(t *testing.T) {
	r := newHandoffRig(t)
	cfg := nat64Config(r.clock) // ports from 1: over the control ports
	if err := r.x.Update(cfg); err == nil || !strings.Contains(err.Error(), "include the handoff control ports") {
		t.Errorf("Update over the control ports: %v", err)
	}
	for i := range cfg.Pool4 {
		cfg.Pool4[i].Ports = nat64.PortRange{Min: 1028, Max: 65535}
	}
	cfg.IPv4MTU = 1400
	if err := r.x.Update(cfg); err != nil {
		t.Fatal(err)
	}
	// A flow to the handoff server is the Broker's: it asks for a port
	// before anything is translated.
	out, res := xl(r.x, tcp6(h1, 40000, h2, 80, header.TCPFlagSYN))
	if res.Verdict != translate.Drop || res.Reason != nat64.ReasonAwaiting || out != nil || len(r.toSrv) == 0 {
		t.Errorf("after Update the flow to the server gave %v/%v, %d requests sent; want it awaiting the Broker", res.Verdict, res.Reason, len(r.toSrv))
	}
	if got := r.pump(); len(got) != 1 {
		t.Errorf("%d packets once the server answered, want the SYN", len(got))
	}
}
