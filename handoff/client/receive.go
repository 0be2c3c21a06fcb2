package client

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/v6xlat/xlat/handoff"
	"github.com/v6xlat/xlat/handoff/wire"

	"github.com/v6xlat/xlat/checksum"
	"github.com/v6xlat/xlat/header"
)

const udpIPv4Header = header.IPv4MinSize + header.UDPSize

// encodeUDP4 writes the IPv4 and UDP headers of a control datagram into
// pkt[:28]; the payload follows. DF stays clear (§3).
func encodeUDP4(pkt []byte, src, dst netip.AddrPort) {
	header.IPv4(pkt).Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64,
		Protocol: header.ProtoUDP, Src: src.Addr().As4(), Dst: dst.Addr().As4()})
	u := header.UDP(pkt[header.IPv4MinSize:])
	u.SetSrcPort(src.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(uint16(len(u)))
	u.SetChecksum(0)
	sum := checksum.Checksum(u, checksum.PseudoHeader4(src.Addr(), dst.Addr(), header.ProtoUDP, uint16(len(u))))
	u.SetChecksum(checksum.UDPField(^sum))
}

// clientFlow is what a data packet says about its binding.
type clientFlow struct {
	server netip.Addr
	client netip.AddrPort // IPv6 packets
	port   uint16         // IPv4 packets: the destination port on N
	dst4   netip.Addr     // IPv4 packets: N
}

// flowOf reads the binding a data packet belongs to: the IPv6 source and
// its port (or echo identifier) and the server it is for, or the IPv4
// server, N and the port on N.
func (c *Client) flowOf(pkt []byte, six bool) (clientFlow, bool) {
	var f clientFlow
	if six {
		h := header.IPv6(pkt)
		if len(pkt) < header.IPv6Size || h.Version() != 6 {
			return f, false
		}
		off, proto, ok := h.UpperLayer()
		if !ok {
			return f, false
		}
		var port uint16
		switch {
		case (proto == header.ProtoTCP || proto == header.ProtoUDP) && off+4 <= len(pkt):
			port = binary.BigEndian.Uint16(pkt[off:])
		case proto == header.ProtoICMPv6 && off+8 <= len(pkt) && (pkt[off] == header.ICMPv6EchoRequest || pkt[off] == header.ICMPv6EchoReply):
			port = binary.BigEndian.Uint16(pkt[off+4:])
		default:
			return f, false
		}
		s, ok := c.cfg.Pool6.Extract(h.Dst())
		if !ok {
			return f, false
		}
		f.server, f.client = s, netip.AddrPortFrom(h.Src(), port)
		return f, true
	}
	h := header.IPv4(pkt)
	if len(pkt) < header.IPv4MinSize || h.Version() != 4 || h.HeaderLen() < header.IPv4MinSize || h.FragOffset() != 0 {
		return f, false
	}
	off := h.HeaderLen()
	switch p := h.Protocol(); {
	case (p == header.ProtoTCP || p == header.ProtoUDP) && off+4 <= len(pkt):
		f.port = binary.BigEndian.Uint16(pkt[off+2:])
	case p == header.ProtoICMPv4 && off+8 <= len(pkt) && (pkt[off] == header.ICMPv4EchoRequest || pkt[off] == header.ICMPv4EchoReply):
		f.port = binary.BigEndian.Uint16(pkt[off+4:])
	default:
		return f, false
	}
	f.server, f.dst4 = h.Src(), h.Dst()
	return f, true
}

// isControl reports whether the IPv4 packet pkt is addressed to the
// client's control endpoint N:CP, so that the gateway passes it to Receive
// rather than translating it.
func (c *Client) isControl(pkt []byte) bool {
	h := header.IPv4(pkt)
	if len(pkt) < udpIPv4Header || h.Version() != 4 || h.Protocol() != header.ProtoUDP || h.IsFragment() {
		return false
	}
	off := h.HeaderLen()
	return off+header.UDPSize <= len(pkt) && h.Dst() == c.cfg.NAT64 && header.UDP(pkt[off:]).DstPort() == c.cfg.ControlPort
}

// Receive handles an IPv4 packet for which IsControl holds: a server's
// datagram (§6 NAT64 acceptance, §8.6). It returns false if pkt is not a
// control packet.
func (c *Client) Receive(pkt []byte) bool {
	if !c.isControl(pkt) {
		return false
	}
	now := c.cfg.Now()
	c.mu.Lock()
	c.receive(now, pkt)
	c.unlockAndFlush()
	return true
}

func (c *Client) receive(now time.Time, pkt []byte) {
	h := header.IPv4(pkt)
	off := h.HeaderLen()
	if int(h.TotalLen()) > len(pkt) || int(h.TotalLen()) < off+header.UDPSize {
		c.stats.MalformedDatagrams++
		return
	}
	pkt = pkt[:h.TotalLen()]
	u := header.UDP(pkt[off:])
	if int(u.Length()) != len(u) || u.Checksum() != 0 &&
		!checksum.Verify(u, checksum.PseudoHeader4(h.Src(), h.Dst(), header.ProtoUDP, uint16(len(u)))) {
		c.stats.MalformedDatagrams++
		return
	}
	p := c.peers[h.Src()]
	if p == nil || u.SrcPort() != c.cfg.ServerPort {
		c.stats.BadToken++ // not from S:HP of a known peer
		return
	}
	d, err := wire.Parse(u[header.UDPSize:])
	if err != nil {
		c.stats.MalformedDatagrams++
		return
	}
	s := d.Session
	if s.Flags&wire.FlagServer == 0 || s.Version != wire.ProtocolVersion || s.NAT64Epoch != c.epoch || s.Token != p.token {
		c.stats.BadToken++
		return
	}
	c.stats.Count(d)
	p.cookie = s.Cookie
	if s.Flags&wire.FlagChallenge != 0 {
		c.challenged(p, now)
		return
	}
	p.challenges = 0
	p.lastActivity, p.confirmed = now, now
	p.lastRefresh = nil

	for _, m := range d.Messages {
		if e, ok := m.(*wire.Error); ok && (e.Code == wire.ErrUnsupportedVersion || e.Code == wire.ErrTableLimit) {
			c.stats.ServerErrors++
			c.logf("handoff: server %v: ERROR %d %q: treating it as NOT_CAPABLE", p.addr, e.Code, e.Text)
			c.setNotCapable(p)
			return
		}
	}
	// §6: a changed table_epoch, before the other messages.
	if s.TableEpoch != 0 && p.tableEpoch != 0 && s.TableEpoch != p.tableEpoch {
		c.stats.EpochChanges++
		c.epochChanged(p, now)
	}
	if s.TableEpoch != 0 {
		p.tableEpoch = s.TableEpoch
	}
	if p.state != Capable {
		c.becomeCapable(p, now)
	}
	c.apply(p, d.Messages, now)
}

// apply carries out a reply's messages in order (§8.6).
func (c *Client) apply(p *peer, msgs []wire.Message, now time.Time) {
	var echoFor *wire.Map // the MAP the following packets belong to
	for _, m := range msgs {
		if pk, ok := m.(wire.Packet); ok {
			if echoFor == nil {
				c.stats.UnexpectedMessages++
			} else {
				c.echo(p, echoFor, pk)
			}
			continue
		}
		echoFor = nil
		switch m := m.(type) {
		case *wire.Map:
			if c.applyMap(p, m, now) {
				echoFor = m
			}
		case *wire.Unmapped:
			if e := p.byPort[m.Port]; e != nil && !e.local {
				c.remove(p, e)
			}
			c.complete(p, pendKey{port: m.Port}, false)
		case *wire.Invalidate:
			if e := p.byPort[m.Port]; e != nil && !e.local && !handoff.GenerationNewer(e.gen, m.Generation) {
				c.remove(p, e)
			}
		case *wire.Error:
			c.logf("handoff: server %v: ERROR code %d subtype %#x %q", p.addr, m.Code, m.Subtype, m.Text)
		case *wire.Note:
		default:
			c.stats.UnexpectedMessages++
		}
	}
}

// applyMap applies a MAP and reports whether echoes may follow it.
func (c *Client) applyMap(p *peer, m *wire.Map, now time.Time) bool {
	q := c.answered(p, m)
	if m.Status == wire.StatusRefused {
		c.stats.Refused++
		if q == nil {
			return false
		}
		if r, ok := q.msg.(*wire.MapRequest); ok && r.Flags&wire.FlagAdopt != 0 {
			if e := p.byPort[r.Port]; e != nil && e.local && m.Reason == wire.ReasonRate {
				// §8.3: an ADOPT refused for RATE stays queued.
				c.complete(p, q.key, true)
				e.adopting = false
				c.queueAdopt(p, e, now)
				return false
			}
		} else {
			p.holdDown[m.Client] = now.Add(RefusedHoldDown)
		}
		c.complete(p, q.key, false)
		return false
	}
	if m.Status > wire.StatusRefused || !c.inSlots(m.Port) {
		c.stats.UnexpectedMessages++
		return false
	}
	if e := p.byPort[m.Port]; e != nil && !e.local && handoff.GenerationNewer(e.gen, m.Generation) {
		// Older than what we hold (§8.6): ignored.
		if q != nil {
			c.complete(p, q.key, true)
		}
		return false
	}
	e := c.install(p, m.Client, m.Port, m.Generation, false, now)
	e.used = true
	if q != nil {
		c.complete(p, q.key, true)
	}
	return true
}

// answered finds the request a MAP answers: a MAP_REQUEST for its client,
// an ADOPT of its client (on its port unless refused), or a LOOKUP of its
// port.
func (c *Client) answered(p *peer, m *wire.Map) *pending {
	for _, q := range p.inflight {
		switch r := q.msg.(type) {
		case *wire.MapRequest:
			if r.Client == m.Client && (r.Flags&wire.FlagAdopt == 0 || m.Status == wire.StatusRefused || r.Port == m.Port) {
				return q
			}
		case *wire.Lookup:
			if m.Status != wire.StatusRefused && r.Port == m.Port {
				return q
			}
		}
	}
	return nil
}

// echo checks an echoed packet against its MAP (§5.5) and delivers it.
func (c *Client) echo(p *peer, m *wire.Map, pk wire.Packet) {
	six := len(pk) > 0 && pk[0]>>4 == 6
	f, ok := c.flowOf(pk, six)
	switch {
	case !ok:
	case six && f.client == m.Client && f.server == p.addr,
		!six && f.server == p.addr && f.dst4 == c.cfg.NAT64 && f.port == m.Port:
		c.deliver([][]byte{append([]byte(nil), pk...)}, six)
		return
	}
	c.stats.EchoMismatch++
}

// challenged resends the challenged requests at once with the new cookie;
// this is not a retransmission (§6 step 3).
func (c *Client) challenged(p *peer, now time.Time) {
	c.stats.Challenges++
	p.challenges++
	if p.challenges > MaxChallengesInRow {
		p.challenges = 0
		c.failAll(p, now)
		return
	}
	// Resend what went out under another cookie: the requests, and the
	// activity report.
	var msgs []wire.Message
	for _, q := range p.inflight {
		if q.cookie != p.cookie {
			q.cookie = p.cookie
			if msgs = append(msgs, q.msg); len(msgs) == handoff.MaxRequestsPerDatagram {
				c.sendDatagram(p, msgs)
				msgs = nil
			}
		}
	}
	if len(msgs) > 0 {
		c.sendDatagram(p, msgs)
	}
	if len(p.lastRefresh) > 0 && p.refreshCookie != p.cookie {
		p.refreshCookie = p.cookie
		c.sendDatagram(p, []wire.Message{&wire.Refresh{Entries: p.lastRefresh}})
	}
}

// becomeCapable: the first valid reply (§8.1); ADOPTs queued while
// UNREACHABLE go out as ordinary requests, and live bindings of the
// NAT64's own BIB towards the server are adopted (§8.4).
func (c *Client) becomeCapable(p *peer, now time.Time) {
	was := p.state
	p.state = Capable
	p.refreshAt = now.Add(c.refreshInterval())
	for _, e := range p.adopts {
		if p.byPort[e.port] == e && e.local {
			e.adopting = false
			c.queueAdopt(p, e, now)
		}
	}
	p.adopts = nil
	if was != Unreachable && c.cfg.LiveBindings != nil {
		for _, b := range c.cfg.LiveBindings(p.addr) {
			if !c.inSlots(b.Port) || p.byPort[b.Port] != nil || p.byClient[b.Client] != nil {
				continue
			}
			c.queueAdopt(p, c.install(p, b.Client, b.Port, 0, true, now), now)
		}
	}
	c.saveState(now)
}

// epochChanged: the server lost N's table (§8.6). Every entry becomes
// LOCAL and is adopted again.
func (c *Client) epochChanged(p *peer, now time.Time) {
	for _, e := range p.byPort {
		e.local, e.gen, e.adopting = true, 0, false
	}
	for _, e := range p.byPort {
		c.queueAdopt(p, e, now)
	}
}

func (c *Client) setNotCapable(p *peer) {
	p.state = NotCapable
	for _, q := range p.inflight {
		// Held outbound packets take the RFC 6146 path; inbound ones are
		// dropped.
		delete(p.pending, q.key)
		if q.to4 {
			c.deliver(q.packets, true)
		} else {
			c.stats.HeldDropped += uint64(len(q.packets))
		}
	}
	p.inflight, p.unsent = nil, nil
	c.saveState(time.Time{})
}

func (c *Client) logf(format string, args ...any) {
	if c.cfg.Errorf != nil {
		c.cfg.Errorf(format, args...)
	}
}
