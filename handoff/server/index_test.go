package server

import (
	"math/rand"
	"testing"
)

// The index is as small as the comment on clientIndex says (it is what
// lets 1,000 full tables fit in 8 GiB): the least power of two that keeps
// it at most half full.
func TestClientIndexSize(t *testing.T) {
	for _, c := range []struct{ slots, cells int }{{1, 2}, {2, 4}, {3, 8}, {4, 8}, {5, 16}, {64508, 1 << 17}, {65536, 1 << 17}} {
		if got := len(newClientIndex(c.slots).cells); got != c.cells {
			t.Errorf("%d slots: %d cells, want %d", c.slots, got, c.cells)
		}
	}
}

// Puts and removes on small indexes, where probe runs wrap around the end
// of the cells all the time, agree with a map after every step: a remove
// that shifts back a cell whose home lies in the wrong part of the run
// loses a client that is still there.
func TestClientIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for round := 0; round < 400; round++ {
		n := 1 + rng.Intn(8)
		idx := newClientIndex(n) // a new seed each round
		slots := make([]slot, n)
		where := map[clientKey]int32{}
		key := func() clientKey {
			var k clientKey
			k.addr[15], k.port = byte(rng.Intn(24)), 1
			return k
		}
		for op := 0; op < 200; op++ {
			k := key()
			if i, ok := where[k]; ok {
				idx.remove(slots, k)
				delete(where, k)
				slots[i] = slot{}
			} else if len(where) < n {
				i := int32(0)
				for slots[i].used {
					i++
				}
				slots[i] = slot{client: k, used: true}
				idx.put(slots, i)
				where[k] = i
			}
			for i := range slots {
				if !slots[i].used {
					continue
				}
				if got, ok := idx.get(slots, slots[i].client); !ok || got != int32(i) {
					t.Fatalf("round %d op %d: client %v is in slot %d, index says %d %v", round, op, slots[i].client, i, got, ok)
				}
			}
			if _, ok := idx.get(slots, clientKey{port: 2}); ok {
				t.Fatalf("round %d op %d: found a client never put", round, op)
			}
		}
	}
}
