package handoff

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
)

func benchClient(i int) netip.AddrPort {
	// Spread clients over many /64s so the quota never binds.
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(i >> 16), 5: byte(i >> 8), 6: byte(i), 15: 1}), uint16(i))
}

func fullTable(tb testing.TB) *Table {
	r := rand.New(rand.NewPCG(1, 2))
	t := NewTable(n1, 1, TableConfig{CreateBurst: 1e12, Rand: r.IntN})
	now := step(0)
	for i := 0; i < TableSlots; i++ {
		t.Request(now, &MapRequest{Client: benchClient(i)}, nil)
	}
	if t.Len() != TableSlots {
		tb.Fatalf("Len = %d", t.Len())
	}
	return t
}

// New clients on a full table: each request evicts the LRU binding and
// creates one, the most expensive MAP_REQUEST path.
func BenchmarkTableRequestEvict(b *testing.B) {
	t := fullTable(b)
	out := make([]Message, 0, 4)
	now := step(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = t.Request(now, &MapRequest{Client: benchClient(TableSlots + i)}, out[:0])
	}
}

// Known clients: MAP EXISTING and a touch.
func BenchmarkTableRequestExisting(b *testing.B) {
	t := fullTable(b)
	out := make([]Message, 0, 4)
	now := step(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = t.Request(now, &MapRequest{Client: benchClient(i % TableSlots)}, out[:0])
	}
}

// Heap per full table, reported per binding and per table.
// XLAT_HANDOFF_TABLES=1000 measures the 1,000 full tables
// (about 7.5 GiB and a minute); the default is 8.
func BenchmarkTableMemory(b *testing.B) {
	n := 8
	if v, err := strconv.Atoi(os.Getenv("XLAT_HANDOFF_TABLES")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tables := make([]*Table, n)
		for j := range tables {
			tables[j] = fullTable(b)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		b.ReportMetric(per/TableSlots, "B/binding")
		b.ReportMetric(per/(1<<20), "MiB/table")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<30), "GiB")
		runtime.KeepAlive(tables)
	}
}
