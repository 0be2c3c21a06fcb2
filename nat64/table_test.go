package nat64

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/translate"
)

// The open-addressing index against a map, with hashes chosen to collide
// and to wrap around the end of the table: after every add and every
// backward-shift deletion each record is found under its hash and a
// deleted one is not, and the table doubles at three quarters full.
func TestIndexModel(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		ix := newIndex(0)
		hashes := map[uint32]uint64{} // record -> hash, the live ones
		hashOf := func(r uint32) uint64 { return hashes[r] }
		// Hashes in a narrow band near the table's end, most of them
		// colliding; the tag bits (the top octet) vary too.
		hash := func() uint64 { return uint64(rng.IntN(4))<<56 | uint64(12+rng.IntN(8)) }
		next := uint32(1)
		for op := 0; op < 300; op++ {
			if len(hashes) == 0 || rng.IntN(3) > 0 {
				before := len(ix.slots)
				h := hash()
				hashes[next] = h
				ix.add(next, h, hashOf)
				if want := before; (len(hashes))*4 > before*3 {
					want = before * 2
					if len(ix.slots) != want {
						t.Fatalf("seed %d: %d records in %d slots", seed, len(hashes), len(ix.slots))
					}
				} else if len(ix.slots) != want {
					t.Fatalf("seed %d: grew to %d slots with %d records", seed, len(ix.slots), len(hashes))
				}
				next++
			} else {
				var r uint32
				for k := range hashes {
					if r == 0 || k < r || rng.IntN(2) == 0 {
						r = k
					}
				}
				ix.del(r, hashOf)
				h := hashes[r]
				delete(hashes, r)
				if got := ix.find(h, func(q uint32) bool { return q == r }); got != 0 {
					t.Fatalf("seed %d: deleted record %d still found", seed, r)
				}
			}
			if ix.n != len(hashes) {
				t.Fatalf("seed %d: index counts %d, holds %d", seed, ix.n, len(hashes))
			}
			for r, h := range hashes {
				if got := ix.find(h, func(q uint32) bool { return q == r }); got != r {
					t.Fatalf("seed %d op %d: record %d (hash %#x) not found", seed, op, r, h)
				}
			}
		}
		// Deleting what is not there changes nothing.
		ix.del(next+1, func(uint32) uint64 { return 13 })
		if ix.n != len(hashes) {
			t.Fatalf("seed %d: deleting an absent record changed the count", seed)
		}
	}
}

// A slab is full at its limit of records, unless a freed record can be
// reused.
func TestSlabLimits(t *testing.T) {
	sh := newShard(0, 1)
	if sh.limit != recMask {
		t.Fatalf("shard limit %d, want %d", sh.limit, recMask)
	}
	sh.limit = 2
	a := sh.insert(session{t4: 1, tp: 1, proto: 17})
	if sh.full() {
		t.Fatal("full with one of two records")
	}
	sh.insert(session{t4: 1, tp: 2, proto: 17})
	if !sh.full() {
		t.Fatal("not full with two of two records")
	}
	sh.remove(a)
	if sh.full() {
		t.Fatal("full with a record free")
	}
	b := newBIB(0, 1)
	if b.limit != recMask {
		t.Fatalf("BIB limit %d, want %d", b.limit, recMask)
	}
	b.limit = 2
	e := b.insert(bibEntry{xhi: 1, xp: 1, t4: 1, tp: 1, proto: 17})
	if b.full() {
		t.Fatal("BIB full with one of two entries")
	}
	b.insert(bibEntry{xhi: 1, xp: 2, t4: 1, tp: 2, proto: 17})
	if !b.full() {
		t.Fatal("BIB not full with two of two entries")
	}
	b.remove(e)
	if b.full() {
		t.Fatal("BIB full with an entry free")
	}
}

// A full session slab or BIB refuses new sessions, from traffic (with the
// session-limit reason) and from a peer (ErrApplyLimit), and keeps those
// it has.
func TestFullTables(t *testing.T) {
	src := netip.AddrPortFrom(h1, 4000)
	for _, which := range []string{"sessions", "bib"} {
		clock := newClock()
		x := newTest(t, testConfig(clock))
		if _, r := xl(x, udp6(h1, 4000, h2, 53)); r.Verdict == translate.Drop {
			t.Fatalf("%s: %v", which, r)
		}
		if which == "sessions" {
			for _, sh := range x.shards {
				sh.limit = len(sh.slab)
			}
		} else {
			x.bib.limit = len(x.bib.slab)
		}
		if _, r := xl(x, udp6(h1, 4001, h2, 53)); r.Reason != translate.ReasonLimit {
			t.Errorf("%s full: a new session %v", which, r)
		}
		if _, r := xl(x, udp6(h1, 4000, h2, 53)); r.Verdict == translate.Drop {
			t.Errorf("%s full: the existing session %v", which, r)
		}
		s := sessionOf(t, x, UDP, src)
		s.IPv6Src = netip.AddrPortFrom(h1, 4002)
		s.IPv4Src = netip.AddrPortFrom(pool, s.IPv4Src.Port()+1)
		if err := x.Apply(SessionEvent{Kind: SessionCreated, Session: s}); !errors.Is(err, ErrApplyLimit) {
			t.Errorf("%s full: a peer's session: %v", which, err)
		}
		if x.Sessions() != 1 {
			t.Errorf("%s full: %d sessions", which, x.Sessions())
		}
	}
}

// Sessions and bindings that end leave nothing in the indexes: after many
// come and go, every index is empty again (a record left behind would
// lengthen every later probe).
func TestIndexesEmptyAfterExpiry(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	for round := 0; round < 3; round++ {
		for i := 0; i < 200; i++ {
			xl(x, udp6(h1, uint16(10000+i), h2, 53))
		}
		xl(x, tcp4(h2, 5000, pool, 7000, header.TCPFlagSYN)) // a held SYN: unbound, in by4 only
		clock.advance(DefaultUDPTimeout + time.Second)
		clock.tick(x)
		n := x.bib.by6.n + x.bib.by4.n
		for _, sh := range x.shards {
			n += sh.by6.n + sh.by4.n
		}
		if x.Sessions() != 0 || n != 0 {
			t.Fatalf("round %d: %d sessions, %d index entries left", round, x.Sessions(), n)
		}
	}
}

// A session whose class lengthens (V6 INIT's transitory lifetime to
// ESTABLISHED's) moves to its new class's expiry list: left in the
// transitory list with its long expiry it would hold back the transitory
// sessions queued behind it (each list is in expiry order).
func TestClassChangeMovesLists(t *testing.T) {
	clock := newClock()
	x := newTest(t, testConfig(clock))
	clock.tick(x)
	out, _ := xl(x, tcp6(h1, 4000, h2, 80, header.TCPFlagSYN))
	t4, _ := ports4(out)
	xl(x, tcp4(h2, 80, pool, t4, header.TCPFlagSYN|header.TCPFlagACK)) // ESTABLISHED
	clock.advance(DefaultTCPTransTimeout + time.Second)
	clock.tick(x)
	// The second session in the first's shard, where the lists are.
	hi, lo := ipword.Words(h1)
	sport := uint16(4001)
	for uint64(x.home(hi, lo, sport, header.ProtoTCP)) != uint64(t4>>1)&x.shardMask {
		sport++
	}
	out, _ = xl(x, tcp6(h1, sport, h2, 80, header.TCPFlagSYN)) // V6 INIT, transitory
	if p, _ := ports4(out); x.shard4(p) != x.shard4(t4) {
		t.Fatalf("ports %d and %d in different shards", t4, p)
	}
	clock.advance(DefaultTCPTransTimeout + time.Second)
	clock.tick(x)
	if x.Sessions() != 1 {
		t.Errorf("%d sessions; the unanswered SYN's should have expired", x.Sessions())
	}
	if s := sessionOf(t, x, TCP, netip.AddrPortFrom(h1, 4000)); s.State != "ESTABLISHED" {
		t.Errorf("the established session is %s", s.State)
	}
}
