package client

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/internal/handofftest"
	"github.com/v6xlat/xlat/handoff/server"
	"github.com/v6xlat/xlat/handoff/wire"
	"github.com/v6xlat/xlat/nat64"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/testpkt"
	"github.com/v6xlat/xlat/translate"
)

var pref64 = mustPrefix("64:ff9b::/96")

func mustPrefix(s string) translate.Prefix {
	p, err := translate.ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

// testbed connects a Client and a Server through an in-memory network
// with a fake clock: datagrams queue until pump, and the link can be cut.
type testbed struct {
	t         *testing.T
	now       time.Time
	srv       *server.Server
	rec       *recorder
	cli       *Client
	toServer  [][]byte
	delivered []delivery
	blocked   bool
	live      []LocalBinding // what LiveBindings reports
	sent      int            // datagrams the client sent
}

type delivery struct {
	pkt []byte
	to4 bool
}

func newTestbed(t *testing.T, cfg Config) *testbed {
	t.Helper()
	tb := &testbed{t: t, now: step(1)}
	tb.restartServer()
	cfg.NAT64, cfg.Pool6 = n1, pref64
	cfg.Send = func(pkt []byte) { tb.sent++; tb.toServer = append(tb.toServer, pkt) }
	cfg.Deliver = func(pkt []byte, to4 bool) { tb.delivered = append(tb.delivered, delivery{pkt, to4}) }
	cfg.Now = func() time.Time { return tb.now }
	cfg.LiveBindings = func(netip.Addr) []LocalBinding { return tb.live }
	cfg.SlotMin, cfg.SlotMax = 1028, 1035
	var err error
	if tb.cli, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tb.cli != nil {
			checkCache(t, tb.cli)
		}
	})
	return tb
}

// restartServer replaces the server by a fresh one without persistence:
// new cookie key, no tables.
func (tb *testbed) restartServer() {
	tb.rec = &recorder{}
	var err error
	tb.srv, err = server.New(server.Config{Addr: sAddr, Rand: &handofftest.Counting{N: byte(tb.now.Second() * 7)}, OnEvent: tb.rec.Event,
		Table: server.TableConfig{SlotMin: 1028, SlotMax: 1035}})
	if err != nil {
		tb.t.Fatal(err)
	}
}

// pump carries queued datagrams to the server and its replies back, until
// nothing moves.
func (tb *testbed) pump() {
	tb.t.Helper()
	for len(tb.toServer) > 0 {
		pkt := tb.toServer[0]
		tb.toServer = tb.toServer[1:]
		if tb.blocked {
			continue
		}
		h := header.IPv4(pkt)
		u := header.UDP(pkt[h.HeaderLen():])
		if !checksum.Verify(u, checksum.PseudoHeader4(h.Src(), h.Dst(), header.ProtoUDP, uint16(len(u)))) {
			tb.t.Fatalf("client datagram with a bad UDP checksum: %x", pkt)
		}
		if len(u)-8 > MaxControlDatagram {
			tb.t.Fatalf("control datagram of %d octets", len(u)-8)
		}
		from := netip.AddrPortFrom(h.Src(), u.SrcPort())
		for _, r := range tb.srv.Handle(tb.now, from, u[8:], nil) {
			tb.reply(r, sAddr, handoff.DefaultServerPort)
		}
	}
}

func (tb *testbed) reply(payload []byte, src netip.Addr, sport uint16) {
	if !tb.cli.Receive(control(src, sport, 0, payload)) {
		tb.t.Fatal("Receive refused a control packet")
	}
}

func (tb *testbed) advance(d time.Duration) {
	tb.now = tb.now.Add(d)
	tb.cli.Tick()
	tb.pump()
}

func (tb *testbed) takeDelivered() []delivery {
	d := tb.delivered
	tb.delivered = nil
	return d
}

func (tb *testbed) expectLog(want string) {
	tb.t.Helper()
	if got := tb.rec.Take(); got != want {
		tb.t.Errorf("server log:\n%s\nwant:\n%s", got, want)
	}
}

func ts(k int) string { return step(k).Format(handoff.LogTimeLayout) }

// answer hands the client a server datagram that passes its checks (§6):
// the peer's token and the client's epoch, from S:HP, with flags besides R.
func (tb *testbed) answer(flags uint8, msgs ...wire.Message) {
	tb.t.Helper()
	p := tb.cli.peers[sAddr]
	s := wire.Session{Version: wire.ProtocolVersion, Flags: wire.FlagServer | flags, NAT64Epoch: tb.cli.epoch,
		TableEpoch: p.tableEpoch, Cookie: p.cookie + 1, Token: p.token}
	tb.reply((&wire.Datagram{Session: s, Messages: msgs}).Append(nil), sAddr, handoff.DefaultServerPort)
}

// takeSent returns the control datagrams the client queued since the last
// pump or takeSent, decoded, and forgets them.
func (tb *testbed) takeSent() []*wire.Datagram {
	tb.t.Helper()
	var out []*wire.Datagram
	for _, pkt := range tb.toServer {
		d, err := wire.Parse(pkt[udpIPv4Header:])
		if err != nil {
			tb.t.Fatalf("client datagram %x: %v", pkt, err)
		}
		out = append(out, d)
	}
	tb.toServer = nil
	return out
}

// A cache miss towards a CAPABLE server: the request, one challenge, the
// MAP, the held packet delivered; then hits both ways.
func TestClientMissThenHit(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	if _, c := tb.cli.Out(sAddr, client1, false); c != nat64.Await {
		t.Fatalf("miss: %v, want nat64.Await", c)
	}
	syn := handofftest.SYN(client1)
	tb.cli.Park(syn, true)
	tb.cli.Park(syn, true) // a retransmitted SYN is held too
	tb.pump()
	d := tb.takeDelivered()
	if len(d) != 2 || !bytes.Equal(d[0].pkt, syn) || !d[0].to4 {
		t.Fatalf("delivered %d packets", len(d))
	}
	port, c := tb.cli.Out(sAddr, client1, false)
	if c != nat64.Claimed || port != 1028 {
		t.Fatalf("after MAP: %d %v", port, c)
	}
	if cl, c := tb.cli.In(sAddr, 1028, false); c != nat64.Claimed || cl != client1 {
		t.Errorf("inbound: %v %v", cl, c)
	}
	if _, c := tb.cli.In(sAddr, 80, false); c != nat64.NotClaimed {
		t.Errorf("a port outside the slot range: %v", c)
	}
	if _, c := tb.cli.Out(netip.MustParseAddr("198.51.100.1"), client1, false); c != nat64.NotClaimed {
		t.Errorf("an unknown server: %v", c)
	}
	st := tb.cli.Stats()
	if st.Challenges != 1 || st.RequestsSent != 1 || st.Retransmissions != 0 || tb.sent != 2 {
		t.Errorf("stats %+v, %d datagrams", st, tb.sent)
	}
	tb.expectLog(ts(1) + " Initialized 192.0.2.1\n" + ts(1) + " Created 192.0.2.1:1028 [2001:db8:1::2]:53186\n")
}

// Handoff applies only to the configured destination prefixes (§8): a
// server outside them is left to RFC 6146, with no datagram sent.
func TestClientDestinations(t *testing.T) {
	outside := newTestbed(t, Config{Servers: []netip.Addr{sAddr}, Destinations: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	if _, c := outside.cli.Out(sAddr, client1, false); c != nat64.NotClaimed {
		t.Errorf("outbound to a server outside the destinations: %v", c)
	}
	if _, c := outside.cli.In(sAddr, 1028, false); c != nat64.NotClaimed {
		t.Errorf("inbound from a server outside the destinations: %v", c)
	}
	// Nor a notification for a server not known to be CAPABLE.
	outside.cli.SessionCreated(netip.MustParseAddr("192.0.2.9"), client1, 1028)
	outside.pump()
	if outside.sent != 0 {
		t.Errorf("%d datagrams sent for a disabled destination", outside.sent)
	}
	inside := newTestbed(t, Config{Servers: []netip.Addr{sAddr}, Destinations: []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("192.0.2.0/30")}})
	if _, c := inside.cli.Out(sAddr, client1, false); c != nat64.Await {
		t.Errorf("outbound to a server inside the second prefix: %v, want nat64.Await", c)
	}
}

// §13 test 11 at unit level: a restarted NAT64 (new epoch, empty cache)
// meets an established connection's packet from the server: LOOKUP, MAP
// EXISTING with the same port; nothing logged.
func TestClientRestartLookup(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "capable")
	tb := newTestbed(t, Config{StateFile: state})
	// Not static: the server becomes CAPABLE through a notification.
	tb.cli.SessionCreated(sAddr, client1, 1030)
	tb.pump()
	if p := tb.cli.Peers(); len(p) != 1 || p[0].State != Capable {
		t.Fatalf("peers %+v", p)
	}
	b, _ := os.ReadFile(state)
	if !strings.Contains(string(b), "192.0.2.2 64646 ") {
		t.Fatalf("state file %q", b)
	}
	tb.expectLog(ts(1) + " Initialized 192.0.2.1\n" + ts(1) + " Created 192.0.2.1:1030 [2001:db8:1::2]:53186\n")

	// Restart: a new client from the state file.
	old := tb.cli
	tb.cli = nil
	cfg := old.cfg
	tb.now = tb.now.Add(time.Minute)
	var err error
	if tb.cli, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if tb.cli.epoch == old.epoch {
		t.Fatal("same nat64_epoch after a restart")
	}
	if p := tb.cli.Peers(); len(p) != 1 || p[0].State != Capable {
		t.Fatalf("restarted peers %+v", p)
	}
	ack := testpkt.IPv4{Src: sAddr, Dst: n1, TTL: 64}.Packet(header.ProtoTCP, testpkt.TCP(sAddr, n1, 80, 1030, header.TCPFlagACK, []byte("x")))
	if _, c := tb.cli.In(sAddr, 1030, false); c != nat64.Await {
		t.Fatalf("inbound miss: %v", c)
	}
	tb.cli.Park(ack, false)
	tb.pump()
	if d := tb.takeDelivered(); len(d) != 1 || d[0].to4 || !bytes.Equal(d[0].pkt, ack) {
		t.Fatalf("delivered %+v", d)
	}
	if p, c := tb.cli.Out(sAddr, client1, false); c != nat64.Claimed || p != 1030 {
		t.Errorf("outbound after LOOKUP: %d %v", p, c)
	}
	tb.expectLog("")
}

// §13 test 14: a silent server. A new flow gets a LOCAL port 3 s after
// its first packet; cached flows are unaffected; once the server answers
// again the ADOPT and its Created follow within a probe interval.
func TestClientUnreachable(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)
	tb.pump()
	tb.rec.Take()
	tb.blocked = true
	if _, c := tb.cli.Out(sAddr, client2, false); c != nat64.Await {
		t.Fatal("no request")
	}
	syn := handofftest.SYN(client2)
	tb.cli.Park(syn, true)
	for _, ms := range []int{200, 400, 800} {
		tb.advance(time.Duration(ms) * time.Millisecond)
		if p, c := tb.cli.Out(sAddr, client1, false); c != nat64.Claimed || p != 1028 {
			t.Fatalf("cached flow during the outage: %d %v", p, c)
		}
		if len(tb.delivered) != 0 {
			t.Fatal("delivered before the transmissions ran out")
		}
	}
	tb.advance(1599 * time.Millisecond)
	if len(tb.delivered) != 0 {
		t.Fatal("gave up before 3 s")
	}
	tb.advance(time.Millisecond)
	d := tb.takeDelivered()
	if len(d) != 1 || !bytes.Equal(d[0].pkt, syn) {
		t.Fatalf("after 3 s delivered %d", len(d))
	}
	port, gen, local, ok := tb.cli.lookup(sAddr, client2)
	if !ok || !local || gen != 0 || port < 1028 || port > 1035 || port == 1028 {
		t.Fatalf("LOCAL entry %d %d %v %v", port, gen, local, ok)
	}
	if st := tb.cli.Stats(); st.Retransmissions != 3 || st.Failures != 1 || tb.cli.Peers()[0].State != Unreachable {
		t.Fatalf("stats %+v peers %+v", st, tb.cli.Peers())
	}
	// An inbound miss is dropped while UNREACHABLE.
	if _, c := tb.cli.In(sAddr, 1035-(port-1028)%2, false); c == nat64.Await {
		t.Error("LOOKUP sent to an unreachable server")
	}
	tb.blocked = false
	tb.advance(UnreachableProbeInterval)
	if tb.cli.Peers()[0].State != Capable {
		t.Fatal("not CAPABLE after the probe was answered")
	}
	p2, gen2, local2, _ := tb.cli.lookup(sAddr, client2)
	if p2 != port || local2 || gen2 != 2 {
		t.Errorf("after ADOPT: port %d gen %d local %v", p2, gen2, local2)
	}
	tb.expectLog(tb.now.Format(handoff.LogTimeLayout) + " Created 192.0.2.1:" + strconv.Itoa(int(port)) + " [2001:db8:1::3]:34643\n")
}

// §13 test 15: no server. Plain NAT64 without delay, a notification per
// session; when handoffd appears the peer becomes CAPABLE and the live
// bindings are adopted.
func TestClientNoServer(t *testing.T) {
	tb := newTestbed(t, Config{Note: "handoff/1 test"})
	tb.blocked = true
	if _, c := tb.cli.Out(sAddr, client1, false); c != nat64.NotClaimed {
		t.Fatal("UNKNOWN claimed a flow")
	}
	tb.cli.SessionCreated(sAddr, client1, 1031)
	if p := tb.cli.Peers(); p[0].State != Probing {
		t.Fatalf("state %v", p[0].State)
	}
	for _, ms := range []int{200, 400, 800, 1600} {
		tb.advance(time.Duration(ms) * time.Millisecond)
	}
	if p := tb.cli.Peers(); p[0].State != NotCapable {
		t.Fatalf("state %v after the notification's transmissions ran out", p[0].State)
	}
	if tb.sent != 4 {
		t.Errorf("first notification sent %d times, want 4", tb.sent)
	}
	// Later notifications go once; the rate limit holds them to NotifyBurst.
	for i := 0; i < NotifyBurst+5; i++ {
		tb.cli.SessionCreated(sAddr, netip.AddrPortFrom(client2.Addr(), uint16(2000+i)), 1032)
	}
	// The bucket refilled while the first notification was out.
	if st := tb.cli.Stats(); st.Notifications != NotifyBurst+1 || st.NotifySuppressed != 5 {
		t.Errorf("notifications %d, suppressed %d", st.Notifications, st.NotifySuppressed)
	}
	tb.pump()
	// handoffd is up now.
	tb.blocked = false
	tb.live = []LocalBinding{{client1, 1031}, {client2, 1033}}
	tb.now = tb.now.Add(time.Second)
	tb.cli.SessionCreated(sAddr, client2, 1033)
	tb.pump()
	if p := tb.cli.Peers(); p[0].State != Capable {
		t.Fatalf("state %v", p[0].State)
	}
	for _, b := range tb.live {
		if p, _, local, ok := tb.cli.lookup(sAddr, b.Client); !ok || local || p != b.Port {
			t.Errorf("%v: cached %d local %v", b.Client, p, local)
		}
	}
	// The challenge also resent the one notification of the burst still in
	// flight (port 1032); then the live bindings were adopted.
	tb.expectLog(ts(5) + " Initialized 192.0.2.1\n" + ts(5) + " Created 192.0.2.1:1032 [2001:db8:1::3]:2000\n" +
		ts(5) + " Created 192.0.2.1:1033 [2001:db8:1::3]:34643\n" + ts(5) + " Created 192.0.2.1:1031 [2001:db8:1::2]:53186\n")
}

// §13 test 13: a server restarted without persistence. The NAT64 sees the
// new table_epoch and adopts its cache on unchanged ports.
func TestClientServerLostTable(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)
	tb.cli.Out(sAddr, client2, false)
	tb.pump()
	tb.rec.Take()
	tb.now = tb.now.Add(time.Second)
	tb.restartServer()
	// Traffic on both, then the activity report meets the new server.
	tb.cli.Out(sAddr, client1, false)
	tb.advance(RefreshInterval + RefreshInterval/4)
	if st := tb.cli.Stats(); st.EpochChanges != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, c := range []netip.AddrPort{client1, client2} {
		if _, _, local, ok := tb.cli.lookup(sAddr, c); !ok || local {
			t.Errorf("%v not re-adopted", c)
		}
	}
	log := tb.rec.Take()
	if !strings.Contains(log, "Initialized 192.0.2.1\n") || !strings.Contains(log, "Created 192.0.2.1:1028 [2001:db8:1::2]:53186") ||
		!strings.Contains(log, "Created 192.0.2.1:1029 [2001:db8:1::3]:34643") {
		t.Errorf("log %q", log)
	}
}

// §13 test 8, NAT64 side: replies with a wrong token, epoch or source
// port are ignored and leave the cache unchanged; an echo that does not
// match its MAP is dropped.
func TestClientSpoofedReplies(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)
	tb.pump()
	p := tb.cli.peers[sAddr]
	forged := func(mod func(*wire.Session)) []byte {
		s := wire.Session{Version: 1, Flags: wire.FlagServer, NAT64Epoch: tb.cli.epoch, TableEpoch: p.tableEpoch, Cookie: 1, Token: p.token}
		mod(&s)
		return (&wire.Datagram{Session: s, Messages: []wire.Message{&wire.Invalidate{Port: 1028, Generation: 1}}}).Append(nil)
	}
	tb.reply(forged(func(s *wire.Session) { s.Token++ }), sAddr, handoff.DefaultServerPort)
	tb.reply(forged(func(s *wire.Session) { s.NAT64Epoch++ }), sAddr, handoff.DefaultServerPort)
	tb.reply(forged(func(*wire.Session) {}), sAddr, 53)
	tb.reply(forged(func(*wire.Session) {}), netip.MustParseAddr("192.0.2.99"), handoff.DefaultServerPort)
	if st := tb.cli.Stats(); st.BadToken != 4 {
		t.Errorf("BadToken %d, want 4", st.BadToken)
	}
	if _, _, _, ok := tb.cli.lookup(sAddr, client1); !ok {
		t.Fatal("a forged INVALIDATE removed the entry")
	}
	// The genuine one does.
	tb.reply(forged(func(*wire.Session) {}), sAddr, handoff.DefaultServerPort)
	if _, _, _, ok := tb.cli.lookup(sAddr, client1); ok {
		t.Fatal("INVALIDATE ignored")
	}

	// Echoes: one that matches its MAP is delivered, others counted.
	tb.cli.Out(sAddr, client2, false)
	tb.toServer = nil
	other := netip.AddrPortFrom(client2.Addr(), 1)
	m := &wire.Map{Status: wire.StatusNew, Port: 1030, Generation: 9, Client: client2}
	r := (&wire.Datagram{Session: wire.Session{Version: 1, Flags: wire.FlagServer, NAT64Epoch: tb.cli.epoch, TableEpoch: p.tableEpoch, Cookie: 1, Token: p.token},
		Messages: []wire.Message{m, wire.Packet(handofftest.SYN(client2)), wire.Packet(handofftest.SYN(other))}}).Append(nil)
	tb.reply(r, sAddr, handoff.DefaultServerPort)
	if d := tb.takeDelivered(); len(d) != 1 || !bytes.Equal(d[0].pkt, handofftest.SYN(client2)) {
		t.Errorf("echoes delivered: %d", len(d))
	}
	if st := tb.cli.Stats(); st.EchoMismatch != 1 {
		t.Errorf("EchoMismatch %d", st.EchoMismatch)
	}
}

// §13 test 7: a MAP or INVALIDATE older than the cached generation is
// ignored.
func TestClientOrdering(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)
	tb.pump()
	p := tb.cli.peers[sAddr]
	send := func(msgs ...wire.Message) {
		tb.reply((&wire.Datagram{Session: wire.Session{Version: 1, Flags: wire.FlagServer, NAT64Epoch: tb.cli.epoch, TableEpoch: p.tableEpoch, Cookie: 1, Token: p.token},
			Messages: msgs}).Append(nil), sAddr, handoff.DefaultServerPort)
	}
	send(&wire.Map{Status: wire.StatusExisting, Port: 1028, Generation: 7, Client: client1})
	send(&wire.Map{Status: wire.StatusExisting, Port: 1028, Generation: 6, Client: client2}) // older: ignored
	if port, gen, _, _ := tb.cli.lookup(sAddr, client1); port != 1028 || gen != 7 {
		t.Fatalf("older MAP applied: %d %d", port, gen)
	}
	send(&wire.Invalidate{Port: 1028, Generation: 5}) // older: ignored
	if _, _, _, ok := tb.cli.lookup(sAddr, client1); !ok {
		t.Fatal("older INVALIDATE applied")
	}
	send(&wire.Invalidate{Port: 1028, Generation: 7})
	if _, _, _, ok := tb.cli.lookup(sAddr, client1); ok {
		t.Fatal("INVALIDATE of the current generation ignored")
	}
}

// REFUSED: the packets are dropped and the client is not asked for again
// before RefusedHoldDown.
func TestClientRefusedHoldDown(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, netip.MustParseAddrPort("[fe80::1]:1"), false) // link-local: REFUSED INVALID
	tb.cli.Park(handofftest.SYN(netip.MustParseAddrPort("[fe80::1]:1")), true)
	tb.pump()
	if len(tb.takeDelivered()) != 0 || tb.cli.Stats().Refused != 1 {
		t.Fatalf("stats %+v", tb.cli.Stats())
	}
	if _, c := tb.cli.Out(sAddr, netip.MustParseAddrPort("[fe80::1]:1"), false); c != nat64.Refused {
		t.Errorf("during hold-down: %v", c)
	}
	tb.now = tb.now.Add(RefusedHoldDown)
	if _, c := tb.cli.Out(sAddr, netip.MustParseAddrPort("[fe80::1]:1"), false); c != nat64.Await {
		t.Errorf("after hold-down: %v", c)
	}
}

// The cache forgets idle entries, and a full cache makes room.
func TestClientCacheBounds(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}, CacheMaxEntries: 3})
	for i := 0; i < 5; i++ {
		tb.now = tb.now.Add(time.Second)
		tb.cli.Out(sAddr, netip.AddrPortFrom(client1.Addr(), uint16(100+i)), false)
		tb.pump()
	}
	if n := tb.cli.Peers()[0].Entries; n != 3 || tb.cli.Stats().CacheEvicted != 2 {
		t.Errorf("entries %d, evicted %d", n, tb.cli.Stats().CacheEvicted)
	}
	tb.advance(CacheIdleTimeout + time.Second)
	if n := tb.cli.Peers()[0].Entries; n != 0 {
		t.Errorf("%d entries after the idle timeout", n)
	}
}

func TestClientConfigErrors(t *testing.T) {
	ok := Config{NAT64: n1, Send: func([]byte) {}, Deliver: func([]byte, bool) {}}
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.NAT64 = netip.MustParseAddr("2001:db8::1") }, "must be an IPv4 address"},
		{func(c *Config) { c.Send = nil }, "needs Send and Deliver"},
		{func(c *Config) { c.ControlPort = 1028 }, "control port 1028"},
		{func(c *Config) { c.SlotMin = 1000 }, "slot range"},
		{func(c *Config) { c.Destinations = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, "destinations[0]"},
		{func(c *Config) { c.Servers = []netip.Addr{netip.MustParseAddr("::1")} }, "server ::1"},
	} {
		cfg := ok
		c.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// checkCache verifies the cache's invariants: per server a bijection
// between clients and ports, slot-range ports only, LOCAL entries with
// generation 0, and the global count.
func checkCache(t *testing.T, c *Client) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for s, p := range c.peers {
		if len(p.byPort) != len(p.byClient) {
			t.Fatalf("%v: %d ports, %d clients", s, len(p.byPort), len(p.byClient))
		}
		for port, e := range p.byPort {
			if e.port != port || p.byClient[e.client] != e || !c.inSlots(port) || e.local && e.gen != 0 {
				t.Fatalf("%v: bad entry %+v on %d", s, e, port)
			}
		}
		for k, q := range p.pending {
			if q.key != k {
				t.Fatalf("%v: pending %+v under %+v", s, q.key, k)
			}
		}
		n += len(p.byPort)
	}
	if n != c.count {
		t.Fatalf("count %d, entries %d", c.count, n)
	}
}

// FuzzClientReceive feeds the client server datagrams that pass the token
// check, so that every message reaches apply, between packets and ticks:
// it never panics and the cache stays a bijection.
func FuzzClientReceive(f *testing.F) {
	seed := func(msgs ...wire.Message) []byte {
		var b []byte
		for _, m := range msgs {
			b = wire.AppendMessage(b, m)
		}
		return b
	}
	f.Add(seed(&wire.Map{Status: wire.StatusNew, Port: 1029, Generation: 2, Client: client2}, wire.Packet(handofftest.SYN(client2))), uint8(3))
	f.Add(seed(&wire.Invalidate{Port: 1028, Generation: 1}, &wire.Unmapped{Port: 1028}), uint8(0))
	f.Add(seed(&wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonRate, Client: client1}, &wire.Error{Code: wire.ErrMalformed, Subtype: 0x32}), uint8(1))
	f.Add(seed(&wire.Error{Code: wire.ErrTableLimit}), uint8(2))
	f.Fuzz(func(t *testing.T, msgs []byte, flags uint8) {
		tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}, CacheMaxEntries: 6})
		tb.cli.Out(sAddr, client1, false)
		tb.pump()
		tb.cli.Out(sAddr, client2, false)
		tb.cli.Park(handofftest.SYN(client2), true)
		tb.cli.In(sAddr, 1033, false)
		p := tb.cli.peers[sAddr]
		s := wire.Session{Version: 1, Flags: wire.FlagServer | flags&wire.FlagChallenge, NAT64Epoch: tb.cli.epoch, TableEpoch: p.tableEpoch ^ uint64(flags&1), Cookie: 5, Token: p.token}
		d := (&wire.Datagram{Session: s}).Append(nil)
		tb.reply(append(d, msgs...), sAddr, handoff.DefaultServerPort)
		checkCache(t, tb.cli)
		tb.advance(RTOInitial)
		tb.advance(3 * time.Second)
		tb.cli.Out(sAddr, netip.AddrPortFrom(client2.Addr(), uint16(flags)), false)
		tb.advance(UnreachableProbeInterval)
		checkCache(t, tb.cli)
	})
}

// The data path of a cached flow: one lock, two map lookups.
func BenchmarkClientHit(b *testing.B) {
	tb := newTestbed(&testing.T{}, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)
	tb.pump()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, c := tb.cli.Out(sAddr, client1, false); c != nat64.Claimed {
			b.Fatal("miss")
		}
	}
}
