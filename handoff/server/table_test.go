package server

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff/wire"
)

func req(client string) *wire.MapRequest {
	return &wire.MapRequest{Proto: 6, Client: netip.MustParseAddrPort(client)}
}

func adopt(client string, port uint16) *wire.MapRequest {
	r := req(client)
	r.Flags, r.Port = wire.FlagAdopt, port
	return r
}

func newTestTable(min, max uint16, quota int) (*Table, *recorder) {
	rec := &recorder{}
	t := newTable(n1, 0x8e01f2a7c3b45d69, TableConfig{SlotMin: min, SlotMax: max, PrefixQuota: quota})
	t.onEvent = rec.Event
	return t, rec
}

func mapped(status wire.Status, port uint16, gen uint32, client string) *wire.Map {
	return &wire.Map{Status: status, Port: port, Generation: gen, Client: netip.MustParseAddrPort(client)}
}

func expect(t *testing.T, what string, got []wire.Message, want ...wire.Message) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtMsgs(got), fmtMsgs(want))
	}
}

func fmtMsgs(ms []wire.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%+v", m))
	}
	return strings.Join(s, " ")
}

// §13 test 4: exhaustion and eviction order, with the exact log.
func TestTableExhaustionLRU(t *testing.T) {
	tb, rec := newTestTable(1028, 1031, 0)
	rec.Event(Event{Kind: Initialized, Time: step(1), NAT64: n1})
	for k, c := range []string{"a", "b", "c", "d"} {
		client := "[2001:db8:" + c + "::1]:1000"
		expect(t, "step "+c, tb.request(step(k+1), req(client), nil), mapped(wire.StatusNew, uint16(1028+k), uint32(k+1), client))
	}
	if m, ok := tb.lookup(step(5), 1028); !ok || m.Client.String() != "[2001:db8:a::1]:1000" {
		t.Fatalf("LOOKUP 1028 = %+v, %v", m, ok)
	}
	expect(t, "step 6", tb.request(step(6), req("[2001:db8:e::1]:1000"), nil),
		&wire.Invalidate{Port: 1029, Generation: 2}, mapped(wire.StatusNew, 1029, 5, "[2001:db8:e::1]:1000"))
	if !tb.refresh(step(7), 1030, 3) {
		t.Fatal("REFRESH (1030, 3) did not match")
	}
	expect(t, "step 7", tb.request(step(7), req("[2001:db8:f::1]:1000"), nil),
		&wire.Invalidate{Port: 1031, Generation: 4}, mapped(wire.StatusNew, 1031, 6, "[2001:db8:f::1]:1000"))
	expect(t, "step 8", tb.request(step(8), req("[2001:db8:a::1]:1000"), nil),
		mapped(wire.StatusExisting, 1028, 1, "[2001:db8:a::1]:1000"))

	want := `2024-05-01 12:00:01.000000 Initialized 192.0.2.1
2024-05-01 12:00:01.000000 Created 192.0.2.1:1028 [2001:db8:a::1]:1000
2024-05-01 12:00:02.000000 Created 192.0.2.1:1029 [2001:db8:b::1]:1000
2024-05-01 12:00:03.000000 Created 192.0.2.1:1030 [2001:db8:c::1]:1000
2024-05-01 12:00:04.000000 Created 192.0.2.1:1031 [2001:db8:d::1]:1000
2024-05-01 12:00:06.000000 Deleted 192.0.2.1:1029 [2001:db8:b::1]:1000
2024-05-01 12:00:06.000000 Created 192.0.2.1:1029 [2001:db8:e::1]:1000
2024-05-01 12:00:07.000000 Deleted 192.0.2.1:1031 [2001:db8:d::1]:1000
2024-05-01 12:00:07.000000 Created 192.0.2.1:1031 [2001:db8:f::1]:1000
`
	if got := rec.Take(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	if tb.Len() != 4 {
		t.Errorf("Len = %d, want 4", tb.Len())
	}
	if lu, ok := tb.lastUse(1030); !ok || !lu.Equal(step(7)) {
		t.Errorf("LastUse(1030) = %v, %v; want the REFRESH at step 7", lu, ok)
	}
}

// §13 test 5: a prefix at its quota evicts its own LRU binding although
// other slots are free.
func TestTableQuota(t *testing.T) {
	tb, rec := newTestTable(1028, 1035, 2)
	for i, c := range []string{"[2001:db8:a::1]:1", "[2001:db8:a::2]:1", "[2001:db8:b::1]:1"} {
		expect(t, c, tb.request(step(i), req(c), nil), mapped(wire.StatusNew, uint16(1028+i), uint32(i+1), c))
	}
	rec.Take()
	expect(t, "a::3", tb.request(step(4), req("[2001:db8:a::3]:1"), nil),
		&wire.Invalidate{Port: 1028, Generation: 1}, mapped(wire.StatusNew, 1028, 4, "[2001:db8:a::3]:1"))
	want := "2024-05-01 12:00:04.000000 Deleted 192.0.2.1:1028 [2001:db8:a::1]:1\n" +
		"2024-05-01 12:00:04.000000 Created 192.0.2.1:1028 [2001:db8:a::3]:1\n"
	if got := rec.Take(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// A prefix at its quota evicts the binding it used least recently, not
// the one it created first: a LOOKUP, a REFRESH and a repeated request
// each make a binding its prefix's most recent (§7.3).
func TestTableQuotaLRU(t *testing.T) {
	for _, tc := range []struct {
		name  string
		touch func(tb *Table)
	}{
		{"lookup", func(tb *Table) { tb.lookup(step(3), 1028) }},
		{"refresh", func(tb *Table) { tb.refresh(step(3), 1028, 1) }},
		{"request again", func(tb *Table) { tb.request(step(3), req("[2001:db8:a::1]:1"), nil) }},
	} {
		tb, rec := newTestTable(1028, 1035, 2)
		for i, c := range []string{"[2001:db8:a::1]:1", "[2001:db8:a::2]:1"} {
			tb.request(step(i+1), req(c), nil)
		}
		tc.touch(tb) // a::1, the oldest, used again
		rec.Take()
		expect(t, tc.name+": a::3", tb.request(step(4), req("[2001:db8:a::3]:1"), nil),
			&wire.Invalidate{Port: 1029, Generation: 2}, mapped(wire.StatusNew, 1029, 3, "[2001:db8:a::3]:1"))
		want := "2024-05-01 12:00:04.000000 Deleted 192.0.2.1:1029 [2001:db8:a::2]:1\n" +
			"2024-05-01 12:00:04.000000 Created 192.0.2.1:1029 [2001:db8:a::3]:1\n"
		if got := rec.Take(); got != want {
			t.Errorf("%s: log:\n%s\nwant:\n%s", tc.name, got, want)
		}
	}
}

// §13 test 6: an adoption displacing two bindings.
func TestTableAdoptionConflict(t *testing.T) {
	tb, rec := newTestTable(1028, 1035, 0)
	tb.request(step(1), req("[2001:db8:a::1]:1"), nil)
	tb.request(step(2), req("[2001:db8:b::1]:1"), nil)
	rec.Take()
	expect(t, "adopt", tb.request(step(3), adopt("[2001:db8:b::1]:1", 1028), nil),
		&wire.Invalidate{Port: 1028, Generation: 1}, &wire.Invalidate{Port: 1029, Generation: 2},
		mapped(wire.StatusAdopted, 1028, 3, "[2001:db8:b::1]:1"))
	want := "2024-05-01 12:00:03.000000 Deleted 192.0.2.1:1028 [2001:db8:a::1]:1\n" +
		"2024-05-01 12:00:03.000000 Deleted 192.0.2.1:1029 [2001:db8:b::1]:1\n" +
		"2024-05-01 12:00:03.000000 Created 192.0.2.1:1028 [2001:db8:b::1]:1\n"
	if got := rec.Take(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	expect(t, "adopt again", tb.request(step(4), adopt("[2001:db8:b::1]:1", 1028), nil),
		mapped(wire.StatusExisting, 1028, 3, "[2001:db8:b::1]:1"))
	if got := rec.Take(); got != "" {
		t.Errorf("repeat logged %q", got)
	}
	if tb.Len() != 1 {
		t.Errorf("Len = %d, want 1", tb.Len())
	}
}

// §13 test 7 (table part): duplicates get identical answers and no lines;
// a stale REFRESH is reported for an INVALIDATE.
func TestTableIdempotent(t *testing.T) {
	tb, rec := newTestTable(1028, 1035, 0)
	first := tb.request(step(1), req("[2001:db8:a::1]:1"), nil)
	rec.Take()
	again := tb.request(step(2), req("[2001:db8:a::1]:1"), nil)
	first[0].(*wire.Map).Status = wire.StatusExisting
	expect(t, "duplicate", again, first...)
	if rec.Take() != "" {
		t.Error("duplicate logged a line")
	}
	if tb.refresh(step(3), 1028, 7) {
		t.Error("REFRESH with a stale generation matched")
	}
	if _, ok := tb.lookup(step(3), 1029); ok {
		t.Error("LOOKUP of a free port hit")
	}
}

func TestTableRefused(t *testing.T) {
	tb, _ := newTestTable(1028, 1035, 0)
	for _, c := range []string{"[::]:1", "[::1]:1", "[ff02::1]:1", "[fe80::1]:1", "[::ffff:192.0.2.1]:1", "[::192.0.2.1]:1"} {
		expect(t, c, tb.request(step(1), req(c), nil), &wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonInvalid, Client: netip.MustParseAddrPort(c)})
	}
	c := "[2001:db8::1]:1"
	expect(t, "adopt outside range", tb.request(step(1), adopt(c, 1027), nil),
		&wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonInvalid, Client: netip.MustParseAddrPort(c)})

	// The creation bucket: a burst of 2 at 1/s refuses the third at once
	// and takes one a second later.
	tb = newTable(n1, 1, TableConfig{SlotMin: 1028, SlotMax: 1035, CreateRate: 1, CreateBurst: 2})
	tb.request(step(0), req("[2001:db8::1]:1"), nil)
	tb.request(step(0), req("[2001:db8::2]:1"), nil)
	expect(t, "rate", tb.request(step(0), req("[2001:db8::3]:1"), nil),
		&wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonRate, Client: netip.MustParseAddrPort("[2001:db8::3]:1")})
	if m := tb.request(step(1), req("[2001:db8::3]:1"), nil); m[0].(*wire.Map).Status != wire.StatusNew {
		t.Errorf("after a second: %+v", m[0])
	}
}

func TestTableGenerationWrap(t *testing.T) {
	tb, _ := newTestTable(1028, 1029, 0)
	tb.gen = ^uint32(0)
	got := tb.request(step(1), req("[2001:db8::1]:1"), nil)
	if g := got[0].(*wire.Map).Generation; g != 1 {
		t.Errorf("generation after wrap = %d, want 1 (0 is skipped)", g)
	}
}

// A random table stays a bijection with consistent LRU lists.
func TestTableInvariants(t *testing.T) {
	seed := uint64(1)
	rnd := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	tb := newTable(n1, 1, TableConfig{SlotMin: 1028, SlotMax: 1091, PrefixQuota: 5, CreateBurst: 1e9, Rand: rnd})
	for i := 0; i < 20000; i++ {
		now := step(0).Add(time.Duration(i) * time.Millisecond)
		c := netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(rnd(30)), 15: byte(rnd(8))}), uint16(rnd(3)))
		switch rnd(4) {
		case 0:
			tb.request(now, &wire.MapRequest{Flags: wire.FlagAdopt, Port: uint16(1028 + rnd(64)), Client: c}, nil)
		case 1:
			tb.lookup(now, uint16(1028+rnd(64)))
		default:
			tb.request(now, &wire.MapRequest{Client: c}, nil)
		}
	}
	checkTable(t, tb)
}

// checkTable verifies a table's structures agree: LRU list, client index,
// prefix lists (within quota) and free array.
func checkTable(t *testing.T, tb *Table) {
	t.Helper()
	n := 0
	for i := tb.lru.head; i != none; i = tb.slots[i].lru.next {
		if j, ok := tb.byClient.get(tb.slots, tb.slots[i].client); !tb.slots[i].used || !ok || j != i {
			t.Fatalf("slot %d on the LRU list is not a bound slot", i)
		}
		n++
	}
	cells := 0
	for _, i := range tb.byClient.cells {
		if i != none {
			cells++
		}
	}
	if cells != n {
		t.Fatalf("index holds %d clients, LRU %d", cells, n)
	}
	perPrefix := 0
	for _, pl := range tb.prefixes {
		if int(pl.count) > tb.cfg.PrefixQuota {
			t.Fatalf("prefix holds %d > quota", pl.count)
		}
		perPrefix += int(pl.count)
	}
	if n != tb.Len() || perPrefix != n || n+len(tb.free) != len(tb.slots) {
		t.Fatalf("LRU %d, Len %d, prefixes %d, free %d", n, tb.Len(), perPrefix, len(tb.free))
	}
}

func TestLogLine(t *testing.T) {
	e := Event{Kind: Created, Time: time.Date(2019, 3, 18, 10, 6, 28, 491727999, time.FixedZone("x", 3600)),
		NAT64: netip.MustParseAddr("192.0.2.7"), Port: 3719, Client: netip.MustParseAddrPort("[2001:db8::17]:53186")}
	if got, want := string(e.AppendLogLine(nil)), "2019-03-18 09:06:28.491727 Created 192.0.2.7:3719 [2001:db8::17]:53186\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// §9, §13 test 16: the log never goes back in time, and a NOTE with a
// newline and "Created" never reaches it.
func TestConnLogMonotonic(t *testing.T) {
	var out strings.Builder
	l := NewConnLog(&out)
	c := netip.MustParseAddrPort("[2001:db8::1]:5")
	l.Add(Event{Kind: Created, Time: step(5), NAT64: n1, Port: 1028, Client: c})
	l.Add(Event{Kind: Deleted, Time: step(3), NAT64: n1, Port: 1028, Client: c}) // the clock stepped back
	if out.Len() != 0 {
		t.Fatal("written before Flush")
	}
	l.Flush()
	want := "2024-05-01 12:00:05.000000 Created 192.0.2.1:1028 [2001:db8::1]:5\n" +
		"2024-05-01 12:00:05.000000 Deleted 192.0.2.1:1028 [2001:db8::1]:5\n"
	if out.String() != want {
		t.Errorf("log = %q", out.String())
	}
}

// §7.2 with A: an adoption by a prefix at its quota evicts that prefix's
// least recently used binding, as a creation does.
func TestTableAdoptAtQuota(t *testing.T) {
	tb, rec := newTestTable(1028, 1035, 2)
	tb.request(step(1), req("[2001:db8:a::1]:1"), nil)
	tb.request(step(2), req("[2001:db8:a::2]:1"), nil)
	rec.Take()
	expect(t, "adopt a::3", tb.request(step(3), adopt("[2001:db8:a::3]:1", 1033), nil),
		&wire.Invalidate{Port: 1028, Generation: 1}, mapped(wire.StatusAdopted, 1033, 3, "[2001:db8:a::3]:1"))
	checkTable(t, tb)
}

// The quota's prefix need not end on an octet: under /60, clients whose
// addresses differ only in bits 60-63 share a quota, and one bit higher
// they do not.
func TestTableQuotaPrefixLen(t *testing.T) {
	tb := newTable(n1, 1, TableConfig{SlotMin: 1028, SlotMax: 1035, PrefixQuota: 1, QuotaPrefixLen: 60})
	tb.request(step(1), req("[2001:db8:0:10::1]:1"), nil)
	expect(t, "same /60", tb.request(step(2), req("[2001:db8:0:1f::1]:1"), nil),
		&wire.Invalidate{Port: 1028, Generation: 1}, mapped(wire.StatusNew, 1028, 2, "[2001:db8:0:1f::1]:1"))
	expect(t, "next /60", tb.request(step(3), req("[2001:db8:0:20::1]:1"), nil),
		mapped(wire.StatusNew, 1029, 3, "[2001:db8:0:20::1]:1"))
}

// CreateRate and CreateBurst as configured: a burst of three, then two
// a second.
func TestTableCreateRate(t *testing.T) {
	tb := newTable(n1, 1, TableConfig{SlotMin: 1028, SlotMax: 1100, CreateRate: 2, CreateBurst: 3})
	refused := func(at time.Time, k int) bool {
		out := tb.request(at, req(fmt.Sprintf("[2001:db8:%x::1]:1", k)), nil)
		return out[len(out)-1].(*wire.Map).Status == wire.StatusRefused
	}
	at := step(1)
	for k := 1; k <= 3; k++ {
		if refused(at, k) {
			t.Fatalf("creation %d of a burst of 3 refused", k)
		}
	}
	if !refused(at, 4) {
		t.Fatal("a fourth creation at once was not refused")
	}
	at = at.Add(500 * time.Millisecond)
	if refused(at, 5) || !refused(at, 6) {
		t.Error("half a second at 2/s did not allow exactly one more")
	}
}
