package client

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff/wire"
)

// An entry idle for exactly CacheIdleTimeout stays; a moment longer and it
// goes.
func TestClientIdleBoundary(t *testing.T) {
	tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
	tb.cli.Out(sAddr, client1, false)
	tb.pump()
	tb.cli.Out(sAddr, client1, false)
	used := tb.now
	tb.now = used.Add(CacheIdleTimeout)
	tb.cli.Tick()
	if _, _, _, ok := tb.cli.lookup(sAddr, client1); !ok {
		t.Fatal("gone after exactly the idle timeout")
	}
	tb.now = tb.now.Add(time.Nanosecond)
	tb.cli.Tick()
	if _, _, _, ok := tb.cli.lookup(sAddr, client1); ok {
		t.Fatal("kept past the idle timeout")
	}
}

// A server the client learnt of is forgotten after PeerIdleTimeout without
// activity, unless it is configured or still has entries, requests or
// ADOPTs.
func TestClientPeerExpiry(t *testing.T) {
	other := netip.MustParseAddr("192.0.2.3")
	for _, c := range []struct {
		name string
		s    netip.Addr
		mod  func(c *Client, p *peer)
		kept bool
	}{
		{"idle", other, func(*Client, *peer) {}, false},
		{"configured", sAddr, func(*Client, *peer) {}, true},
		{"with an entry", other, func(c *Client, p *peer) { c.install(p, client1, 1030, 1, false, p.lastActivity.Add(PeerIdleTimeout)) }, true},
		{"with a request", other, func(c *Client, p *peer) { p.pending[pendKey{port: 1030}] = &pending{key: pendKey{port: 1030}} }, true},
		{"with an ADOPT", other, func(c *Client, p *peer) { p.adopts = []*entry{{client: client1, port: 1030}} }, true},
	} {
		for _, idle := range []time.Duration{PeerIdleTimeout, PeerIdleTimeout + time.Second} {
			tb := newTestbed(t, Config{Servers: []netip.Addr{sAddr}})
			tb.cli.mu.Lock()
			p := tb.cli.peer(c.s, tb.now)
			p.state = NotCapable
			c.mod(tb.cli, p)
			tb.cli.mu.Unlock()
			tb.now = tb.now.Add(idle)
			tb.cli.Tick()
			_, kept := tb.cli.peers[c.s]
			if want := c.kept || idle == PeerIdleTimeout; kept != want {
				t.Errorf("%s, idle %v: kept %v", c.name, idle, kept)
			}
		}
	}
}

// The activity report lists the SERVER entries used since the last one,
// MaxRefreshEntries a datagram, and counts each datagram (§8.4).
func TestClientRefreshReports(t *testing.T) {
	var sent [][]byte
	c, err := New(Config{NAT64: n1, Pool6: pref64, Send: func(b []byte) { sent = append(sent, b) }, Deliver: func([]byte, bool) {},
		Servers: []netip.Addr{sAddr}, Now: func() time.Time { return step(1) }})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	p := c.peers[sAddr]
	for i := 0; i < MaxRefreshEntries+1; i++ {
		c.install(p, netip.AddrPortFrom(client1.Addr(), uint16(i+1)), uint16(2000+i), 1, false, step(1)).used = true
	}
	c.install(p, client2, 3000, 0, true, step(1)).used = true                    // LOCAL: not reported
	c.install(p, netip.AddrPortFrom(client2.Addr(), 1), 3001, 1, false, step(1)) // unused
	c.mu.Unlock()
	c.Tick()
	var reported []int
	for _, pkt := range sent {
		d, err := wire.Parse(pkt[udpIPv4Header:])
		if err != nil {
			t.Fatal(err)
		}
		reported = append(reported, len(d.Messages[0].(*wire.Refresh).Entries))
	}
	if fmt.Sprint(reported) != fmt.Sprint([]int{MaxRefreshEntries, 1}) || c.Stats().Refreshes != 2 {
		t.Errorf("reports of %v entries, %d counted; want [%d 1], 2", reported, c.Stats().Refreshes, MaxRefreshEntries)
	}
}

// The refresh interval is RefreshInterval ± RefreshJitter, both ends
// reachable.
func TestClientRefreshJitter(t *testing.T) {
	c, err := New(Config{NAT64: n1, Send: func([]byte) {}, Deliver: func([]byte, bool) {}})
	if err != nil {
		t.Fatal(err)
	}
	span := uint64(2*RefreshInterval/5) + 1 // 48 s to 72 s, in nanoseconds
	for _, v := range []struct {
		draw uint64
		want time.Duration
	}{
		{0, 48 * time.Second},
		{span - 1, 72 * time.Second},
		{span, 48 * time.Second},
		{span + 12e9, 60 * time.Second},
	} {
		c.cfg.Rand = &script{v.draw}
		if got := c.refreshInterval(); got != v.want {
			t.Errorf("draw %d: %v, want %v", v.draw, got, v.want)
		}
	}
}

// §8.5: the state file's lines are "S HP unix-seconds"; a bad line is
// reported by number and skipped; a record CapableRecordTTL old still
// counts, an older one or one for another HP does not.
func TestClientStateFileLoad(t *testing.T) {
	now := step(1)
	at := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	file := filepath.Join(t.TempDir(), "capable")
	body := fmt.Sprintf("# comment\n\n192.0.2.3 64646\n192.0.2.4 64646 %d\n192.0.2.5 64646 %d\n192.0.2.6 53 %d\n2001:db8::1 64646 %d\n",
		at(CapableRecordTTL), at(CapableRecordTTL+time.Second), at(0), at(0))
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var logged []string
	c, err := New(Config{NAT64: n1, Send: func([]byte) {}, Deliver: func([]byte, bool) {}, StateFile: file,
		Now: func() time.Time { return now }, Errorf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	var capable []string
	for _, p := range c.Peers() {
		capable = append(capable, p.Server.String())
	}
	if len(capable) != 1 || capable[0] != "192.0.2.4" {
		t.Errorf("CAPABLE from the file: %v, want [192.0.2.4]", capable)
	}
	if len(logged) != 2 || !strings.Contains(logged[0], "line 3:") || !strings.Contains(logged[1], "line 7:") {
		t.Errorf("logged %q, want lines 3 and 7", logged)
	}
}

// §8.5: the state file lists the servers that answered (CAPABLE or
// UNREACHABLE) with their last confirmation; a file that cannot be written
// is reported, one that can is not.
func TestClientStateFileSave(t *testing.T) {
	var logged []string
	file := filepath.Join(t.TempDir(), "capable")
	c, err := New(Config{NAT64: n1, Send: func([]byte) {}, Deliver: func([]byte, bool) {}, StateFile: file,
		Now: func() time.Time { return step(1) }, Errorf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	for i, s := range []PeerState{Unknown, Probing, Capable, Unreachable, NotCapable} {
		p := c.peer(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), step(1))
		p.state = s
		if s == Unreachable {
			p.confirmed = step(0)
		}
	}
	c.saveState(step(2))
	c.mu.Unlock()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
	want := []string{fmt.Sprintf("192.0.2.12 64646 %d", step(2).Unix()), fmt.Sprintf("192.0.2.13 64646 %d", step(0).Unix())}
	if fmt.Sprint(slices.Sorted(slices.Values(lines))) != fmt.Sprint(want) || len(logged) != 0 {
		t.Errorf("state file %q, logged %q; want %q", lines, logged, want)
	}
	c.cfg.StateFile = filepath.Join(t.TempDir(), "missing", "capable")
	c.mu.Lock()
	c.saveState(step(2))
	c.mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "capability state file") {
		t.Errorf("an unwritable state file: logged %q", logged)
	}
}
