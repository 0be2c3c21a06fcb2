package nat64

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/internal/ipword"
	"github.com/v6xlat/xlat/translate"
)

// refresh applies a packet to session r: the TCP state machine for TCP,
// a new lifetime for UDP and ICMP (RFC 6146 §3.5). The shard is locked.
func (x *Translator) refresh(st *settings, sh *shard, r uint32, from6 bool, flags uint8) {
	s := sh.rec(r)
	now := x.now32()
	switch s.proto {
	case header.ProtoTCP:
		next, class, keep := tcpStep(s.state, from6, flags)
		if next != s.state {
			if s.state == tcpV4Init {
				// The IPv6 SYN came in time: the held one is dropped
				// silently (RFC 5382 REQ-4).
				x.takeHeld(s.key4())
			}
			s.state = next
			x.emitSession(SessionChanged, sh, r)
		}
		if !keep {
			sh.touch(r, class, now+st.timeouts[class])
		}
	case header.ProtoUDP:
		sh.touch(r, classUDP, now+st.timeouts[classUDP])
	default:
		sh.touch(r, classICMP, now+st.timeouts[classICMP])
	}
}

// limited reports whether a new session for IPv6 source (hi, lo) would pass
// a limit. The BIB is locked.
func (x *Translator) limited(st *settings, hi, lo uint64) bool {
	if st.MaxSessions > 0 && x.sessions.Load() >= int64(st.MaxSessions) {
		return true
	}
	if x.bib.full() {
		return true
	}
	if st.MaxSessionsPerSource > 0 && x.bib.perSource[[2]uint64{hi, lo}] >= uint32(st.MaxSessionsPerSource) {
		return true
	}
	return st.MaxSessionsPer64 > 0 && x.bib.perPrefix[hi] >= uint32(st.MaxSessionsPer64)
}

func (x *Translator) countSource(hi, lo uint64, delta int) {
	k := [2]uint64{hi, lo}
	if v := int(x.bib.perSource[k]) + delta; v > 0 {
		x.bib.perSource[k] = uint32(v)
	} else {
		delete(x.bib.perSource, k)
	}
	if v := int(x.bib.perPrefix[hi]) + delta; v > 0 {
		x.bib.perPrefix[hi] = uint32(v)
	} else {
		delete(x.bib.perPrefix, hi)
	}
}

// create6 creates the session for a new outbound flow k from src,
// finding or creating its binding (§3.5.1, §3.5.2.2 V6 SYN, §3.5.3).
func (x *Translator) create6(st *settings, k key6, src netip.Addr) (uint32, uint16, translate.Reason) {
	b := x.bib
	b.mu.Lock()
	defer b.mu.Unlock()
	if x.limited(st, k.xhi, k.xlo) {
		return 0, 0, translate.ReasonLimit
	}
	var held key4
	simOpen := false
	r := b.find6(bibKey6{k.xhi, k.xlo, k.xp, k.proto})
	if r == 0 {
		// Simultaneous open: an unsolicited SYN from (Z,z) to (T,x) is
		// held; bind to it (§3.5.2.2 V4 INIT, graybox so.success).
		if k.proto == header.ProtoTCP {
			held, simOpen = x.heldFor(k)
			if simOpen && b.find4(bibKey4{held.t4, held.tp, held.proto}) != 0 {
				simOpen = false
			}
		}
		var t netip.AddrPort
		if simOpen {
			t = netip.AddrPortFrom(ipword.From4(held.t4), held.tp)
		} else {
			inUse := func(a netip.AddrPort) bool {
				return b.find4(bibKey4{v4u(a.Addr()), a.Port(), k.proto}) != 0
			}
			ok := false
			if pa, isPool := x.alloc.(*pool4Allocator); isPool {
				// Aim the port at the endpoint's home shard (see shard4).
				t, ok = pa.allocate(Protocol(k.proto), netip.AddrPortFrom(src, k.xp), inUse, x.home(k.xhi, k.xlo, k.xp, k.proto), uint16(x.shardMask))
			}
			if !ok {
				t, ok = x.alloc.Allocate(Protocol(k.proto), netip.AddrPortFrom(src, k.xp), inUse)
			}
			if !ok {
				return 0, 0, translate.ReasonPolicyNoResources
			}
		}
		r = b.insert(bibEntry{xhi: k.xhi, xlo: k.xlo, xp: k.xp, t4: v4u(t.Addr()), tp: t.Port(), proto: k.proto})
		x.emitBIB(BIBCreated, b.rec(r))
	}
	e := b.rec(r)
	now := x.now32()
	sh := x.shard4(e.tp)
	sh.mu.Lock()
	if q := sh.find6(k); q != 0 { // another goroutine created it meanwhile
		x.refresh(st, sh, q, true, header.TCPFlagSYN)
		sh.mu.Unlock()
		return e.t4, e.tp, translate.ReasonNone
	}
	var q uint32
	if simOpen {
		if q = sh.find4(held); q != 0 && sh.rec(q).flags&sessionUnbound != 0 {
			sh.bind(q, k.xhi, k.xlo, k.xp)
			x.takeHeld(held)
			s := sh.rec(q)
			s.state = tcpEstablished
			sh.touch(q, classTCPEst, now+st.timeouts[classTCPEst])
			x.emitSession(SessionChanged, sh, q)
			sh.mu.Unlock()
			e.sessions++
			x.countSource(k.xhi, k.xlo, 1)
			return e.t4, e.tp, translate.ReasonNone
		}
	}
	if sh.full() {
		sh.mu.Unlock()
		return 0, 0, translate.ReasonLimit
	}
	s := session{xhi: k.xhi, xlo: k.xlo, xp: k.xp, t4: e.t4, tp: e.tp, z4: k.z4, zp: k.zp, proto: k.proto}
	class := classICMP
	switch k.proto {
	case header.ProtoTCP:
		s.state, class = tcpV6Init, classTCPTrans
	case header.ProtoUDP:
		class = classUDP
	}
	q = sh.insert(s)
	sh.touch(q, class, now+st.timeouts[class])
	x.emitSession(SessionCreated, sh, q)
	sh.mu.Unlock()
	e.sessions++
	x.countSource(k.xhi, k.xlo, 1)
	x.sessions.Add(1)
	return e.t4, e.tp, translate.ReasonNone
}

// heldFor finds a held unsolicited SYN that an outbound SYN k answers:
// from k's destination, to port x on a pool4 address.
func (x *Translator) heldFor(k key6) (key4, bool) {
	x.heldMu.Lock()
	defer x.heldMu.Unlock()
	for h := range x.held {
		if h.z4 == k.z4 && h.zp == k.zp && h.tp == k.xp && h.proto == k.proto {
			return h, true
		}
	}
	return key4{}, false
}

// create4 handles an inbound packet with no session (§3.5.1 IPv4->IPv6,
// §3.5.2.2 V4 SYN, §3.5.3).
func (x *Translator) create4(st *settings, sh *shard, k key4, flags uint8) (uint64, uint64, uint16, translate.Reason) {
	b := x.bib
	b.mu.Lock()
	defer b.mu.Unlock()
	syn := k.proto == header.ProtoTCP && flags&header.TCPFlagSYN != 0
	r := b.find4(bibKey4{k.t4, k.tp, k.proto})
	now := x.now32()
	if r == 0 {
		if !syn || st.DropExternallyInitiatedTCP {
			return 0, 0, 0, translate.ReasonNoBinding
		}
		// An unsolicited SYN: keep it for TCP_INCOMING_SYN in case the
		// IPv6 side opens too (§3.5.2.2, RFC 5382 REQ-4).
		if x.heldCount() >= st.maxOpens || st.MaxSessions > 0 && x.sessions.Load() >= int64(st.MaxSessions) {
			return 0, 0, 0, translate.ReasonLimit
		}
		sh.mu.Lock()
		if sh.find4(k) == 0 && !sh.full() {
			q := sh.insert(session{t4: k.t4, tp: k.tp, z4: k.z4, zp: k.zp, proto: k.proto, state: tcpV4Init, flags: sessionUnbound})
			sh.touch(q, classTCPIncomingSYN, now+st.timeouts[classTCPIncomingSYN])
			x.sessions.Add(1)
		}
		sh.mu.Unlock()
		return 0, 0, 0, translate.ReasonHeld
	}
	e := b.rec(r)
	if st.AddressDependentFiltering && !x.hasSessionTo(e, k.z4) {
		// §3.5.1 step 2: only hosts the IPv6 node has talked to.
		return 0, 0, 0, translate.ReasonPolicyProhibited
	}
	if k.proto == header.ProtoTCP && !syn {
		// CLOSED, not a SYN: translated through the binding, no state.
		return e.xhi, e.xlo, e.xp, translate.ReasonNone
	}
	if x.limited(st, e.xhi, e.xlo) {
		return 0, 0, 0, translate.ReasonLimit
	}
	s := session{xhi: e.xhi, xlo: e.xlo, xp: e.xp, t4: k.t4, tp: k.tp, z4: k.z4, zp: k.zp, proto: k.proto}
	class := classICMP
	reason := translate.ReasonNone
	switch k.proto {
	case header.ProtoTCP:
		s.state, class = tcpV4Init, classTCPTrans
		if st.AddressDependentFiltering {
			class, reason = classTCPIncomingSYN, translate.ReasonHeld
		}
	case header.ProtoUDP:
		class = classUDP
	}
	sh.mu.Lock()
	if q := sh.find4(k); q != 0 {
		sh.mu.Unlock()
		return e.xhi, e.xlo, e.xp, translate.ReasonNone
	}
	if sh.full() {
		sh.mu.Unlock()
		return 0, 0, 0, translate.ReasonLimit
	}
	q := sh.insert(s)
	sh.touch(q, class, now+st.timeouts[class])
	x.emitSession(SessionCreated, sh, q)
	sh.mu.Unlock()
	e.sessions++
	x.countSource(e.xhi, e.xlo, 1)
	x.sessions.Add(1)
	return e.xhi, e.xlo, e.xp, reason
}

// hasSessionTo reports whether binding e has a session to IPv4 address z4
// (address-dependent filtering). It looks in every shard, which is the
// price of the option; the default, endpoint-independent filtering, never
// calls it.
func (x *Translator) hasSessionTo(e *bibEntry, z4 uint32) bool {
	for _, sh := range x.shards {
		sh.mu.Lock()
		for i := range sh.slab {
			s := &sh.slab[i]
			if s.flags&sessionUsed != 0 && s.proto == e.proto && s.t4 == e.t4 && s.tp == e.tp && s.z4 == z4 {
				sh.mu.Unlock()
				return true
			}
		}
		sh.mu.Unlock()
	}
	return false
}

// AddStaticBIB adds a manual binding (RFC 6146 §3.1), which lives until it
// is removed.
func (x *Translator) AddStaticBIB(s StaticBIB) error {
	return x.addStaticBIBs([]StaticBIB{s})
}

// checkStaticBIBs is addStaticBIBs without the adding.
func (x *Translator) checkStaticBIBs(list []StaticBIB) error {
	return x.staticBIBs(list, false)
}

// addStaticBIBs adds the static bindings all or none: each is checked
// against the BIB and the others before any goes in, under one hold of
// its lock.
func (x *Translator) addStaticBIBs(list []StaticBIB) error {
	return x.staticBIBs(list, true)
}

func (x *Translator) staticBIBs(list []StaticBIB, add bool) error {
	b := x.bib
	b.mu.Lock()
	defer b.mu.Unlock()
	seen4, seen6 := map[bibKey4]StaticBIB{}, map[bibKey6]StaticBIB{}
	for _, s := range list {
		if err := x.staticConflict(s); err != nil {
			return err
		}
		hi, lo := ipword.Words(s.IPv6.Addr())
		k6 := bibKey6{hi, lo, s.IPv6.Port(), uint8(s.Protocol)}
		k4 := bibKey4{v4u(s.IPv4.Addr()), s.IPv4.Port(), uint8(s.Protocol)}
		if o, ok := seen4[k4]; ok && o != s {
			return fmt.Errorf("bib: %v %v is listed twice, with %v and %v", s.Protocol, s.IPv4, o.IPv6, s.IPv6)
		}
		if o, ok := seen6[k6]; ok && o != s {
			return fmt.Errorf("bib: %v %v is listed twice, with %v and %v", s.Protocol, s.IPv6, o.IPv4, s.IPv4)
		}
		seen4[k4], seen6[k6] = s, s
	}
	if !add {
		return nil
	}
	for _, s := range list {
		hi, lo := ipword.Words(s.IPv6.Addr())
		proto := uint8(s.Protocol)
		k6 := bibKey6{hi, lo, s.IPv6.Port(), proto}
		if r := b.find6(k6); r != 0 {
			b.rec(r).static = true // already bound the same way
			continue
		}
		r := b.insert(bibEntry{xhi: hi, xlo: lo, xp: s.IPv6.Port(), t4: v4u(s.IPv4.Addr()), tp: s.IPv4.Port(), proto: proto, static: true})
		x.emitBIB(BIBCreated, b.rec(r))
	}
	return nil
}

// staticConflict says why s cannot be added to the BIB (b.mu held): either
// side bound to something else.
func (x *Translator) staticConflict(s StaticBIB) error {
	b := x.bib
	hi, lo := ipword.Words(s.IPv6.Addr())
	proto := uint8(s.Protocol)
	k6 := bibKey6{hi, lo, s.IPv6.Port(), proto}
	k4 := bibKey4{v4u(s.IPv4.Addr()), s.IPv4.Port(), proto}
	if r := b.find6(k6); r != 0 {
		if b.rec(r).key4() == k4 {
			return nil
		}
		return fmt.Errorf("bib: %v %v is already bound to %v", s.Protocol, s.IPv6, b.rec(r).public().IPv4)
	}
	if r := b.find4(k4); r != 0 {
		return fmt.Errorf("bib: %v %v is already bound to %v", s.Protocol, s.IPv4, b.rec(r).public().IPv6)
	}
	return nil
}

// RemoveStaticBIB makes a manual binding dynamic again: it goes when its
// last session does.
func (x *Translator) RemoveStaticBIB(s StaticBIB) bool {
	b := x.bib
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.find4(bibKey4{v4u(s.IPv4.Addr()), s.IPv4.Port(), uint8(s.Protocol)})
	if r == 0 || !b.rec(r).static {
		return false
	}
	e := b.rec(r)
	e.static = false
	if e.sessions == 0 {
		x.emitBIB(BIBDeleted, e)
		b.remove(r)
	}
	return true
}

// Tick advances the tables' clock and expires what is due (RFC 6146 §4):
// sessions are deleted, bindings with no session left go, an ESTABLISHED
// TCP session that idles out becomes TRANS for a last TCP_TRANS, and a held
// SYN that nobody answered gets its ICMP error (RFC 5382 REQ-4) handed to
// emit. Call it about once a second; expiry costs work proportional to what
// expires, never a scan of the table.
func (x *Translator) Tick(emit func(pkt []byte)) {
	now := uint32(x.clock().Sub(x.epoch) / time.Second)
	if now < x.now.Load() {
		now = x.now.Load()
	}
	x.now.Store(now)
	x.expireFragments(now)
	st := x.st.Load()
	var gone, probes []session
	for _, sh := range x.shards {
		sh.mu.Lock()
		for c := timerClass(0); c < numTimerClasses; c++ {
			for r := sh.lists[c].head; r != 0; r = sh.lists[c].head {
				s := sh.rec(r)
				if int32(s.queued-now) > 0 {
					break
				}
				if int32(s.expires-now) > 0 {
					// Refreshed since it was queued: back in line.
					sh.unlink(r)
					sh.link(r)
					continue
				}
				if s.proto == header.ProtoTCP && s.state == tcpEstablished {
					// §3.5.2.2: an idle established connection gets
					// TCP_TRANS, and a probe to its IPv6 end, whose answer
					// (an ACK) brings it back to ESTABLISHED.
					s.state = tcpTrans
					sh.touch(r, classTCPTrans, now+st.timeouts[classTCPTrans])
					probes = append(probes, *s)
					continue
				}
				x.emitSession(SessionDeleted, sh, r)
				gone = append(gone, *s)
				sh.remove(r)
			}
		}
		sh.mu.Unlock()
	}
	if emit != nil {
		for i := range probes {
			emit(x.probe(st, &probes[i]))
		}
	}
	if len(gone) == 0 {
		return
	}
	x.sessions.Add(-int64(len(gone)))
	x.release(gone)
	for i := range gone {
		s := &gone[i]
		if s.state != tcpV4Init {
			continue
		}
		h, ok := x.takeHeld(s.key4())
		if !ok || emit == nil {
			continue
		}
		buf := make([]byte, translate.Headroom+len(h.pkt)+translate.Headroom)
		copy(buf[translate.Headroom:], h.pkt)
		var r translate.Result
		if h.six {
			r = x.engine.Reply6(buf, translate.Headroom, len(h.pkt), header.ICMPv6DstUnreachable, header.ICMPv6CodePortUnreach, 0)
		} else {
			r = x.engine.Reply4(buf, translate.Headroom, len(h.pkt), header.ICMPv4DstUnreachable, header.ICMPv4CodePortUnreach, 0)
		}
		if r.Verdict == translate.Reply {
			emit(r.Packet(buf))
		}
	}
}

// release drops the sessions' references to their bindings.
func (x *Translator) release(gone []session) {
	x.bib.mu.Lock()
	defer x.bib.mu.Unlock()
	x.releaseLocked(gone)
}

func (x *Translator) releaseLocked(gone []session) {
	b := x.bib
	for i := range gone {
		s := &gone[i]
		if s.flags&sessionUnbound != 0 {
			continue
		}
		x.countSource(s.xhi, s.xlo, -1)
		r := b.find6(bibKey6{s.xhi, s.xlo, s.xp, s.proto})
		if r == 0 {
			continue
		}
		e := b.rec(r)
		if e.sessions > 0 {
			e.sessions--
		}
		if e.sessions == 0 && !e.static {
			x.emitBIB(BIBDeleted, e)
			x.alloc.Release(Protocol(e.proto), netip.AddrPortFrom(ipword.From4(e.t4), e.tp))
			b.remove(r)
		}
	}
}

// probe builds the RFC 6146 §3.5.2.2 keep-alive for an idle established
// session: a TCP segment from (Pool6+Z, z) to (X', x) with no data,
// sequence and acknowledgement numbers 0 and only ACK set. A live host
// answers with an ACK, which refreshes the session.
func (x *Translator) probe(st *settings, s *session) []byte {
	const size = header.IPv6Size + header.TCPMinSize
	p := make([]byte, size)
	ip := header.IPv6(p)
	ip.SetVersionClassFlow(0, 0)
	ip.SetPayloadLen(header.TCPMinSize)
	ip.SetNextHeader(header.ProtoTCP)
	ip.SetHopLimit(64)
	ip.SetSrc(st.Pool6.Embed(ipword.From4(s.z4)))
	ip.SetDst(ipword.From6(s.xhi, s.xlo))
	tcp := header.TCP(p[header.IPv6Size:])
	tcp.SetSrcPort(s.zp)
	tcp.SetDstPort(s.xp)
	tcp[12] = 5 << 4
	tcp[13] = header.TCPFlagACK
	tcp.SetChecksum(^checksum.Checksum(tcp, ip.PseudoHeaderSum(header.ProtoTCP, header.TCPMinSize)))
	return p
}
