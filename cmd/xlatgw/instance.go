package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/siit"
	"github.com/v6xlat/xlat/translate"
)

// instance is one translator of the gateway.
type instance struct {
	name     string
	siit     *siit.Translator
	nat64    *nat64.Translator
	siitCfg  siit.Config // what it was built from, for reloads
	nat64Cfg nat64.Config

	handoff    *client.Client // nil without handoff
	handoffCfg *HandoffConfig
	sink       atomic.Pointer[handoffSink]

	syncSetup *syncSetup      // nil without sync
	sync      *nat64.SyncConn // running, once serve started it
	log       *slog.Logger

	// Packets and bytes by the family they arrived in (rx) and left in
	// (tx); what does not leave is in the engine's per-reason stats.
	rx6, rx4, tx6, tx4     atomic.Uint64
	rx6B, rx4B, tx6B, tx4B atomic.Uint64
}

func (i *instance) logf(format string, args ...any) {
	if i.log != nil {
		i.log.Warn(fmt.Sprintf(format, args...), "instance", i.name)
	}
}

func (i *instance) stats() *translate.Stats {
	if i.nat64 != nil {
		return i.nat64.Stats()
	}
	return i.siit.Stats()
}

// translate runs the packet buf[off:off+n] through the instance in the
// direction its version says, and counts it in and, unless dropped, out.
func (i *instance) translate(buf []byte, off, n int) translate.Result {
	if buf[off]>>4 == 6 {
		i.rx6.Add(1)
		i.rx6B.Add(uint64(n))
	} else {
		i.rx4.Add(1)
		i.rx4B.Add(uint64(n))
	}
	r := i.translator().Translate(buf, off, n)
	if r.Verdict != translate.Drop {
		if k := r.End - r.Start; buf[r.Start]>>4 == 6 {
			i.tx6.Add(1)
			i.tx6B.Add(uint64(k))
		} else {
			i.tx4.Add(1)
			i.tx4B.Add(uint64(k))
		}
	}
	return r
}

// translator is what a siit and a nat64 instance have in common: one
// entry point that takes either family.
type translator interface {
	Translate(buf []byte, off, n int) translate.Result
}

func (i *instance) translator() translator {
	if i.nat64 != nil {
		return i.nat64
	}
	return i.siit
}

// member is an instance as one configuration routes to it; a reload makes
// new members around the same instances.
type member struct {
	*instance
	prefixes []netip.Prefix // remote IPv4 sides it serves; none = all
}

func (i *member) serves(remote netip.Addr) bool {
	if len(i.prefixes) == 0 {
		return true
	}
	for _, p := range i.prefixes {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

// claim6 reports whether the instance translates an IPv6 packet to dst:
// dst must be an address it represents IPv4 with, and that IPv4 address
// (the remote side) one its rules give it.
func (i *member) claim6(dst netip.Addr) bool {
	if i.nat64 != nil {
		v4, ok := i.nat64.Pool6().Extract(dst)
		return ok && i.serves(v4)
	}
	if v4, ok := i.siit.EAMT().To4(dst); ok {
		return i.serves(v4)
	}
	p := i.siit.Config().Pool6
	v4, ok := p.Extract(dst)
	return p.IsValid() && ok && i.serves(v4)
}

// claim4 reports whether the instance translates an IPv4 packet from src
// to dst: a NAT64 when dst is in its pool4, a SIIT for any destination
// (the routes decide what reaches it), if src is on its side.
func (i *member) claim4(src, dst netip.Addr) bool {
	if i.nat64 != nil {
		return i.nat64.Owns4(dst) && i.serves(src)
	}
	return i.serves(src)
}

// pick chooses the instance for a packet, or nil.
func pick(insts []*member, pkt []byte) *member {
	if len(pkt) >= header.IPv6Size && pkt[0]>>4 == header.IPv6Version {
		dst := header.IPv6(pkt).Dst()
		for _, in := range insts {
			if in.claim6(dst) {
				return in
			}
		}
		return nil
	}
	if len(pkt) >= header.IPv4MinSize && pkt[0]>>4 == header.IPv4Version {
		ip := header.IPv4(pkt)
		src, dst := ip.Src(), ip.Dst()
		for _, in := range insts {
			if in.nat64 != nil && in.claim4(src, dst) {
				return in
			}
		}
		for _, in := range insts {
			if in.siit != nil && in.claim4(src, dst) {
				return in
			}
		}
	}
	return nil
}
