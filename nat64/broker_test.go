package nat64

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

// handoffRig is a NAT64 whose ports towards h2 come from a handoff server,
// all in memory: the client's control datagrams go straight to the
// server's Handle and the replies straight back.
type handoffRig struct {
	t      *testing.T
	clock  *fakeClock
	srv    *handoff.Server
	log    strings.Builder
	cli    *handoff.Client
	x      *Translator
	parked [][]byte // delivered by the client, to translate again
	toSrv  [][]byte
}

func newHandoffRig(t *testing.T) *handoffRig {
	r := &handoffRig{t: t, clock: newClock()}
	var err error
	r.srv, err = handoff.NewServer(handoff.ServerConfig{Addr: h2, OnEvent: func(e handoff.Event) { r.log.Write(e.AppendLogLine(nil)) }})
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
	r.cli, err = handoff.NewClient(handoff.ClientConfig{NAT64: pool, Pool6: wkp, Servers: []netip.Addr{h2},
		Send:    func(p []byte) { r.toSrv = append(r.toSrv, p) },
		Deliver: func(p []byte, _ bool) { r.parked = append(r.parked, p) },
		Now:     r.clock.now})
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := testConfig(r.clock)
	for i := range cfg.Pool4 {
		cfg.Pool4[i].Ports = PortRange{1028, 65535}
	}
	cfg.Broker = r.cli
	r.x = newTest(r.t, cfg)
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
	if _, res := xl(r.x, syn); res.Verdict != translate.Drop || res.Reason != translate.ReasonAwaiting {
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
	if !strings.Contains(r.log.String(), "Created 203.0.113.1:"+itoa(port)+" [2001:db8::1]:40000\n") {
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
	if _, res := xl(r.x, ack); res.Reason != translate.ReasonAwaiting {
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

// The control ports of N stay out of the BIB (handoff.md §3).
func TestBrokerControlPorts(t *testing.T) {
	r := newHandoffRig(t)
	cfg := testConfig(r.clock)
	cfg.Broker = r.cli
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "include the handoff control ports 1024-1027") {
		t.Errorf("pool4 with ports 1-65535: %v", err)
	}
	cfg.Pool4 = cfg.Pool4[:0]
	cfg.Pool4 = append(cfg.Pool4, Pool4Entry{Protocol: TCP, Prefix: netip.MustParsePrefix("198.51.100.1/32")})
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "not a pool4 address") {
		t.Errorf("broker outside pool4: %v", err)
	}
}

func itoa(p uint16) string { return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[8:] }
