package server

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/handoff"

	"github.com/v6xlat/xlat/handoff/internal/bucket"
	"github.com/v6xlat/xlat/handoff/wire"
)

// TableConfig holds what a server table may be tuned with; the zero value
// of a field means its §11 default.
type TableConfig struct {
	SlotMin, SlotMax uint16 // default 1028-65535; tests use a sub-range
	PrefixQuota      int    // slots per client prefix
	QuotaPrefixLen   int    // bits of the client address that make its prefix
	CreateRate       float64
	CreateBurst      float64
	// Rand returns a uniform integer in [0, n) to choose a free slot
	// (§7.2 3b). Nil takes the lowest free port, the test mode.
	Rand func(n int) int
}

func (c *TableConfig) setDefaults() {
	if c.SlotMin == 0 {
		c.SlotMin = handoff.SlotPortMin
	}
	if c.SlotMax == 0 {
		c.SlotMax = handoff.SlotPortMax
	}
	if c.PrefixQuota == 0 {
		c.PrefixQuota = PrefixQuota
	}
	if c.QuotaPrefixLen == 0 {
		c.QuotaPrefixLen = QuotaPrefixLen
	}
	if c.CreateRate == 0 {
		c.CreateRate = CreateRate
	}
	if c.CreateBurst == 0 {
		c.CreateBurst = CreateBurst
	}
}

// check refuses what setDefaults left out of range, naming the field.
func (c *TableConfig) check() error {
	switch {
	case c.SlotMin < handoff.SlotPortMin || c.SlotMin > c.SlotMax:
		return fmt.Errorf("handoff: slot range %d-%d: must lie within %d-%d", c.SlotMin, c.SlotMax, handoff.SlotPortMin, handoff.SlotPortMax)
	case c.PrefixQuota < 1:
		return fmt.Errorf("handoff: PrefixQuota %d: must be at least 1", c.PrefixQuota)
	case c.QuotaPrefixLen < 1 || c.QuotaPrefixLen > 128:
		return fmt.Errorf("handoff: QuotaPrefixLen %d: must be 1-128", c.QuotaPrefixLen)
	case !(c.CreateRate > 0) || math.IsInf(c.CreateRate, 0):
		return fmt.Errorf("handoff: CreateRate %v: must be a positive number", c.CreateRate)
	case !(c.CreateBurst >= 1) || math.IsInf(c.CreateBurst, 0):
		return fmt.Errorf("handoff: CreateBurst %v: must be a number of at least 1", c.CreateBurst)
	}
	return nil
}

// clientKey is a client as a compact comparable map key.
type clientKey struct {
	addr [16]byte
	port uint16
}

func keyOf(c netip.AddrPort) clientKey { return clientKey{c.Addr().As16(), c.Port()} }

func (k clientKey) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.addr), k.port)
}

const none = -1

// slot is one port of a table. Used slots sit on two intrusive LRU lists,
// the table's and their prefix's; a free slot keeps its index in the free
// array in lru.next instead.
type slot struct {
	client  clientKey
	used    bool
	gen     uint32
	lastUse uint32 // unix seconds: enough for an LRU without timeouts
	lru     links  // on the table's list (head = most recent)
	plru    links  // on its prefix's list
}

type prefixKey [16]byte

type links struct{ prev, next int32 }

// list is an intrusive doubly linked list of slots, most recent first.
type list struct{ head, tail, count int32 }

var emptyList = list{head: none, tail: none}

func tableLinks(s *slot) *links  { return &s.lru }
func prefixLinks(s *slot) *links { return &s.plru }

// Table is the server's table for one NAT64 address N (§7.1): a bijection
// between clients and the ports SlotMin-SlotMax, ordered by last use, with
// no timeouts. It is not safe for concurrent use; the server serialises
// access per table.
type Table struct {
	nat64 netip.Addr
	epoch uint64 // table_epoch, non-zero

	cfg      TableConfig
	slots    []slot
	byClient clientIndex
	prefixes map[prefixKey]list
	free     []int32
	lru      list
	gen      uint32

	creations bucket.Bucket // §7.1 creation rate

	// onEvent, if set, receives every Created and Deleted in order: the
	// connection log and the journal hang off it, so only the server sets
	// it.
	onEvent func(Event)
}

// NAT64 is the address of the NAT64 the table is for.
func (t *Table) NAT64() netip.Addr { return t.nat64 }

// Epoch is the table's table_epoch (§7.1), never zero.
func (t *Table) Epoch() uint64 { return t.epoch }

// newTable returns an empty table for nat64 with the given table_epoch.
func newTable(nat64 netip.Addr, epoch uint64, cfg TableConfig) *Table {
	cfg.setDefaults()
	n := int(cfg.SlotMax) - int(cfg.SlotMin) + 1
	t := &Table{
		nat64: nat64, epoch: epoch, cfg: cfg,
		slots:     make([]slot, n),
		byClient:  newClientIndex(n),
		prefixes:  make(map[prefixKey]list),
		free:      make([]int32, n),
		lru:       emptyList,
		creations: bucket.New(cfg.CreateRate, cfg.CreateBurst),
	}
	for i := range t.slots {
		t.free[i] = int32(i)
		t.slots[i].lru.next = int32(i)
	}
	return t
}

// Len is the number of bindings.
func (t *Table) Len() int { return int(t.lru.count) }

// generation is the generation of the last binding created.
func (t *Table) generation() uint32 { return t.gen }

// lookup returns the binding on port, touching it (§7.3).
func (t *Table) lookup(now time.Time, port uint16) (*wire.Map, bool) {
	i, ok := t.index(port)
	if !ok || !t.slots[i].used {
		return nil, false
	}
	t.touch(i, now)
	return t.mapOf(wire.StatusExisting, i), true
}

// refresh touches the binding on port if it holds generation gen, and
// reports false when it does not, for an INVALIDATE (§7.3).
func (t *Table) refresh(now time.Time, port uint16, gen uint32) bool {
	i, ok := t.index(port)
	if !ok || !t.slots[i].used || t.slots[i].gen != gen {
		return false
	}
	t.touch(i, now)
	return true
}

// request answers a MAP_REQUEST (§7.2): it appends to out the
// INVALIDATEs for the bindings it displaced, in deletion order, then the
// MAP.
func (t *Table) request(now time.Time, r *wire.MapRequest, out []wire.Message) []wire.Message {
	c := r.Client
	adopt := r.Flags&wire.FlagAdopt != 0
	q, inRange := t.index(r.Port)
	if !validClient(c.Addr()) || adopt && !inRange {
		return append(out, &wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonInvalid, Client: c})
	}
	k := keyOf(c)
	own, has := t.byClient.get(t.slots, k)
	if has && (!adopt || own == q) {
		t.touch(own, now)
		return append(out, t.mapOf(wire.StatusExisting, own))
	}
	if !t.creations.Take(now) {
		return append(out, &wire.Map{Status: wire.StatusRefused, Reason: wire.ReasonRate, Client: c})
	}
	pk := t.prefixOf(k)
	var p int32
	if adopt {
		p = q
		// §7.2 with A, step 3, in this order.
		if t.slots[q].used {
			out = t.evict(now, q, out)
		}
		if has {
			out = t.evict(now, own, out)
		} else if pl := t.prefixes[pk]; int(pl.count) >= t.cfg.PrefixQuota {
			out = t.evict(now, pl.tail, out)
		}
	} else {
		switch pl := t.prefixes[pk]; {
		case int(pl.count) >= t.cfg.PrefixQuota:
			p = pl.tail
			out = t.evict(now, p, out)
		case len(t.free) > 0:
			p = t.pickFree()
		default:
			p = t.lru.tail
			out = t.evict(now, p, out)
		}
	}
	t.create(now, p, k, pk)
	status := wire.StatusNew
	if adopt {
		status = wire.StatusAdopted
	}
	return append(out, t.mapOf(status, p))
}

func (t *Table) index(port uint16) (int32, bool) {
	if port < t.cfg.SlotMin || port > t.cfg.SlotMax {
		return 0, false
	}
	return int32(port - t.cfg.SlotMin), true
}

func (t *Table) mapOf(status wire.Status, i int32) *wire.Map {
	s := &t.slots[i]
	return &wire.Map{Status: status, Port: t.cfg.SlotMin + uint16(i), Generation: s.gen, Client: s.client.addrPort()}
}

// validClient applies §7.2: addresses whose meaning or text form is
// ambiguous are refused.
func validClient(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return false
	}
	b := a.As16()
	for _, x := range b[:12] {
		if x != 0 {
			return true
		}
	}
	return false // ::/96, IPv4-compatible
}

func (t *Table) prefixOf(k clientKey) prefixKey {
	var p prefixKey
	bits := t.cfg.QuotaPrefixLen
	for i := 0; i < 16 && bits > 0; i, bits = i+1, bits-8 {
		if bits >= 8 {
			p[i] = k.addr[i]
		} else {
			p[i] = k.addr[i] & ^byte(0xff>>bits)
		}
	}
	return p
}

func (t *Table) pickFree() int32 {
	j := 0
	if t.cfg.Rand != nil {
		j = t.cfg.Rand(len(t.free))
	} else {
		for k, i := range t.free {
			if i < t.free[j] {
				j = k
			}
		}
	}
	return t.free[j]
}

func (t *Table) nextGen() uint32 {
	t.gen++
	if t.gen == 0 { // §7.1: 0 is skipped on wrap
		t.gen = 1
	}
	return t.gen
}

func (t *Table) create(now time.Time, i int32, k clientKey, pk prefixKey) {
	t.bind(i, k, pk, t.nextGen(), unixSeconds(now))
	t.emit(Created, now, i)
}

// bind puts client k on free slot i at the most recent end, without an
// event: creation and restore (§7.4) share it.
func (t *Table) bind(i int32, k clientKey, pk prefixKey, gen, lastUse uint32) {
	s := &t.slots[i]
	// Leave the free array: swap the last entry into this one's place.
	pos := s.lru.next
	last := t.free[len(t.free)-1]
	t.free[pos] = last
	t.slots[last].lru.next = pos
	t.free = t.free[:len(t.free)-1]

	*s = slot{client: k, used: true, gen: gen, lastUse: lastUse,
		lru: links{none, none}, plru: links{none, none}}
	t.byClient.put(t.slots, i)
	t.pushFront(&t.lru, i, tableLinks)
	pl, ok := t.prefixes[pk]
	if !ok {
		pl = emptyList
	}
	t.pushFront(&pl, i, prefixLinks)
	t.prefixes[pk] = pl
}

// evict deletes the binding on slot i and appends its INVALIDATE.
func (t *Table) evict(now time.Time, i int32, out []wire.Message) []wire.Message {
	t.emit(Deleted, now, i)
	out = append(out, &wire.Invalidate{Port: t.cfg.SlotMin + uint16(i), Generation: t.slots[i].gen})
	t.unbind(i)
	return out
}

// unbind frees slot i without an event.
func (t *Table) unbind(i int32) {
	s := &t.slots[i]
	t.unlink(&t.lru, i, tableLinks)
	pk := t.prefixOf(s.client)
	pl := t.prefixes[pk]
	t.unlink(&pl, i, prefixLinks)
	if pl.count == 0 {
		delete(t.prefixes, pk)
	} else {
		t.prefixes[pk] = pl
	}
	t.byClient.remove(t.slots, s.client)
	*s = slot{lru: links{next: int32(len(t.free))}}
	t.free = append(t.free, i)
}

func (t *Table) emit(kind EventKind, now time.Time, i int32) {
	if t.onEvent == nil {
		return
	}
	s := &t.slots[i]
	t.onEvent(Event{Kind: kind, Time: now, NAT64: t.nat64, Port: t.cfg.SlotMin + uint16(i),
		Client: s.client.addrPort(), Generation: s.gen})
}

func (t *Table) touch(i int32, now time.Time) {
	t.slots[i].lastUse = unixSeconds(now)
	t.unlink(&t.lru, i, tableLinks)
	t.pushFront(&t.lru, i, tableLinks)
	pk := t.prefixOf(t.slots[i].client)
	if pl := t.prefixes[pk]; pl.head != i { // already the most recent: no write
		t.unlink(&pl, i, prefixLinks)
		t.pushFront(&pl, i, prefixLinks)
		t.prefixes[pk] = pl
	}
}

// pushFront puts slot i at the most recent end of l, through the links
// that at selects.
func (t *Table) pushFront(l *list, i int32, at func(*slot) *links) {
	n := at(&t.slots[i])
	n.prev, n.next = none, l.head
	if l.head != none {
		at(&t.slots[l.head]).prev = i
	} else {
		l.tail = i
	}
	l.head = i
	l.count++
}

func (t *Table) unlink(l *list, i int32, at func(*slot) *links) {
	n := at(&t.slots[i])
	if n.prev != none {
		at(&t.slots[n.prev]).next = n.next
	} else {
		l.head = n.next
	}
	if n.next != none {
		at(&t.slots[n.next]).prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = none, none
	l.count--
}

func unixSeconds(t time.Time) uint32 { return uint32(t.Unix()) }

// lastUse returns when the binding on port was last touched.
func (t *Table) lastUse(port uint16) (time.Time, bool) {
	i, ok := t.index(port)
	if !ok || !t.slots[i].used {
		return time.Time{}, false
	}
	return time.Unix(int64(t.slots[i].lastUse), 0).UTC(), true
}

// Binding is one entry of a table as persisted (§7.4).
type Binding struct {
	Port       uint16
	Client     netip.AddrPort
	Generation uint32
	LastUse    uint32 // unix seconds
}

// Bindings calls fn for every binding, least recently used first, until
// fn returns false: the order a snapshot keeps.
func (t *Table) Bindings(fn func(Binding) bool) {
	for i := t.lru.tail; i != none; i = t.slots[i].lru.prev {
		s := &t.slots[i]
		if !fn(Binding{Port: t.cfg.SlotMin + uint16(i), Client: s.client.addrPort(), Generation: s.gen, LastUse: s.lastUse}) {
			return
		}
	}
}

// replayCreated applies a restored or journaled creation (§7.4): it goes to
// the most recent end unless the slot, or the client elsewhere, already
// holds this generation or a newer one, which makes replay idempotent.
// Older bindings in the way are removed without events.
func (t *Table) replayCreated(b Binding) error {
	i, ok := t.index(b.Port)
	if !ok {
		return fmt.Errorf("port %d outside the slot range %d-%d", b.Port, t.cfg.SlotMin, t.cfg.SlotMax)
	}
	if !validClient(b.Client.Addr()) || b.Generation == 0 {
		return fmt.Errorf("port %d: invalid binding %v generation %d", b.Port, b.Client, b.Generation)
	}
	if s := &t.slots[i]; s.used {
		if !handoff.GenerationNewer(b.Generation, s.gen) {
			return nil
		}
		t.unbind(i)
	}
	k := keyOf(b.Client)
	if j, has := t.byClient.get(t.slots, k); has {
		if !handoff.GenerationNewer(b.Generation, t.slots[j].gen) {
			return nil
		}
		t.unbind(j)
	}
	t.bind(i, k, t.prefixOf(k), b.Generation, b.LastUse)
	if t.gen == 0 || handoff.GenerationNewer(b.Generation, t.gen) {
		t.gen = b.Generation
	}
	return nil
}

// replayDeleted applies a journaled deletion: only if the slot still holds
// that generation.
func (t *Table) replayDeleted(port uint16, gen uint32) {
	if i, ok := t.index(port); ok && t.slots[i].used && t.slots[i].gen == gen {
		t.unbind(i)
	}
}
