package gateway

// DatapathStats are the counters of the datapath itself, beside the
// instances' own: what the TUN queues could not read, what no instance
// claimed, and what the AF_XDP queues did with their frames.
type DatapathStats struct {
	// TUNReadDropped is, per TUN queue, what the kernel handed over that
	// could not become packets (a superpacket with more segments than a
	// burst holds, a malformed virtio header).
	TUNReadDropped []uint64
	// Unclaimed counts packets routed to the gateway that no instance
	// claims, answered with Destination Unreachable where that is due.
	Unclaimed uint64
	// XDP is one entry per AF_XDP queue group; none without af-xdp.
	XDP []XDPQueueStats
}

// XDPQueueStats are one AF_XDP queue group's frames by what became of
// them.
type XDPQueueStats struct {
	Queue                       int
	Received, Transmitted       uint64
	Dropped, Punted, TXRingFull uint64 // Punted: handed to the kernel through the TUN device
	Sockets                     []XDPSocketStats
}

// XDPSocketStats are the kernel's counters of one AF_XDP socket
// (XDP_STATISTICS).
type XDPSocketStats struct {
	Ifindex                                         int
	RXDropped, RXRingFull, FillRingEmpty, TXInvalid uint64
}

// Stats reads the datapath's counters.
func (g *Gateway) Stats() DatapathStats {
	var s DatapathStats
	for _, rd := range g.readers {
		s.TUNReadDropped = append(s.TUNReadDropped, rd.Dropped.Load())
	}
	if g.noRoute != nil {
		s.Unclaimed = g.noRoute.answered.Load()
	}
	if g.xdp == nil {
		return s
	}
	for _, grp := range g.xdp.groups {
		q := XDPQueueStats{Queue: grp.queue, Received: grp.rx.Load(), Transmitted: grp.tx.Load(),
			Dropped: grp.dropped.Load(), Punted: grp.punted.Load(), TXRingFull: grp.txFull.Load()}
		for _, sock := range grp.socks {
			st, err := sock.Stats()
			if err != nil {
				continue
			}
			q.Sockets = append(q.Sockets, XDPSocketStats{Ifindex: sock.Ifindex, RXDropped: st.Rx_dropped, RXRingFull: st.Rx_ring_full,
				FillRingEmpty: st.Rx_fill_ring_empty_descs, TXInvalid: st.Tx_invalid_descs})
		}
		s.XDP = append(s.XDP, q)
	}
	return s
}
