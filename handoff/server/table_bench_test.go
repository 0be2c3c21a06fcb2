package server

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/v6xlat/xlat/handoff"

	"github.com/v6xlat/xlat/handoff/internal/vectors"

	"github.com/v6xlat/xlat/handoff/wire"
)

func benchClient(i int) netip.AddrPort {
	// Spread clients over many /64s so the quota never binds.
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(i >> 16), 5: byte(i >> 8), 6: byte(i), 15: 1}), uint16(i))
}

func fullTable(tb testing.TB) *Table {
	r := rand.New(rand.NewPCG(1, 2))
	t := newTable(n1, 1, TableConfig{CreateBurst: 1e12, Rand: r.IntN})
	now := step(0)
	for i := 0; i < TableSlots; i++ {
		t.request(now, &wire.MapRequest{Client: benchClient(i)}, nil)
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
	out := make([]wire.Message, 0, 4)
	now := step(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = t.request(now, &wire.MapRequest{Client: benchClient(TableSlots + i)}, out[:0])
	}
}

// Known clients: MAP EXISTING and a touch.
func BenchmarkTableRequestExisting(b *testing.B) {
	t := fullTable(b)
	out := make([]wire.Message, 0, 4)
	now := step(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = t.request(now, &wire.MapRequest{Client: benchClient(i % TableSlots)}, out[:0])
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

// The server's whole path per MAP_REQUEST, one request per datagram (the
// worst case: every request pays parsing, the cookie's HMAC and a reply):
// Handle on a full table, as requests per second on one core. "new"
// evicts and creates; "journaled" also writes the journal records and
// syncs them every 64 datagrams, as handoffd batches them.
func BenchmarkServerHandle(b *testing.B) {
	for _, mode := range []string{"existing", "new", "new-journaled"} {
		b.Run(mode, func(b *testing.B) {
			var st *Store
			cfg := Config{Addr: sAddr, Rand: seqRand(), Table: TableConfig{CreateBurst: 1e12, CreateRate: 1e12}}
			if mode == "new-journaled" {
				var err error
				if st, err = OpenStore(b.TempDir()); err != nil {
					b.Fatal(err)
				}
				if _, _, err = st.Load(cfg.Table); err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				cfg.OnEvent = st.Record
			}
			s, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			var ks [32]byte
			for i := range ks {
				ks[i] = byte(0x20 + i)
			}
			hdr := wire.Session{Version: 1, NAT64Epoch: vectors.Epoch1, Token: 7, Cookie: handoff.Cookie(ks, nCP.Addr(), nCP.Port(), vectors.Epoch1)}
			const distinct = 1 << 17
			dgrams := make([][]byte, distinct)
			for i := range dgrams {
				dgrams[i] = (&wire.Datagram{Session: hdr, Messages: []wire.Message{&wire.MapRequest{Proto: 6, Client: benchClient(i)}}}).Append(nil)
			}
			now := step(1)
			for i := 0; i < TableSlots; i++ { // fill the table
				s.Handle(now, nCP, dgrams[i], nil)
			}
			if st != nil {
				st.Sync()
			}
			replies := make([][]byte, 0, 4)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % TableSlots
				if mode != "existing" {
					j = TableSlots + i%(distinct-TableSlots)
				}
				replies = s.Handle(now, nCP, dgrams[j], replies[:0])
				if st != nil && i%64 == 63 {
					if err := st.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
