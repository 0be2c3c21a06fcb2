package gateway

import (
	"context"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/tunbatch"
	"github.com/v6xlat/xlat/translate"
)

// tunOffset is the room wireguard's TUN wants in front of a packet; reads
// leave translate.Headroom more so that 4->6 growth fits in place.
const (
	tunOffset  = 16
	readOffset = tunOffset + translate.Headroom
)

// A queue is one receive queue of a datapath, served by a goroutine of
// its own: it reads a burst, has the gateway translate each packet in
// place (translatePacket), and writes what comes out. The instances do not
// know which datapath a packet came from: a TUN queue and an AF_XDP queue
// group (xdp.go) are both queues.
//
// A queue's loop says when it works and when it waits (loopwatch), so that
// the watchdog and "xlatgw health" tell a stalled datapath from an idle one.
type queue interface {
	serve(ctx context.Context, g *Gateway) error
	loop() *loopwatch.Loop
}

// tunQueue is one queue of the TUN device.
type tunQueue struct {
	dev   tun.Device
	rd    *tunbatch.Reader
	watch loopwatch.Loop
}

func (q *tunQueue) loop() *loopwatch.Loop { return &q.watch }

// serve reads bursts from the TUN queue, translates each packet in place
// and writes the burst back.
func (q *tunQueue) serve(ctx context.Context, g *Gateway) error {
	out := make([][]byte, 0, 2*len(q.rd.Bufs))
	var rs results
	return q.rd.Serve(ctx, &q.watch, func(n int) [][]byte {
		out = g.translateBurst(q.rd.Bufs[:n], q.rd.Sizes, out[:0], &rs)
		return out
	}, func(out [][]byte) {
		if q.dev == g.dev {
			g.wmu.Lock() // the timers write to queue 0 too
		}
		_, err := q.dev.Write(out, tunOffset)
		if q.dev == g.dev {
			g.wmu.Unlock()
		}
		if err != nil && ctx.Err() == nil {
			g.log.Warn("writing to the TUN device", "err", err)
		}
	})
}

// translateBurst translates the packets bufs[i][readOffset:][:sizes[i]]
// in place, each by the instance that claims it, and appends what is to be
// written to out; control datagrams for the handoff clients are taken
// aside. Nothing is allocated per packet (TestBurstAllocs).
func (g *Gateway) translateBurst(bufs [][]byte, sizes []int, out [][]byte, rs *results) [][]byte {
	rs.used = 0
	s := g.cur.Load()
	for i, buf := range bufs {
		if r, ok := g.translatePacket(s, buf, readOffset, sizes[i]); ok {
			out = rs.add(out, buf, r)
		}
	}
	return out
}

// results turns translation results into packets to write, each with
// tunOffset bytes of room in front for the TUN's virtio header; fragments
// go into buffers of its own, reused batch after batch.
type results struct {
	frags [][]byte
	used  int
}

func (rs *results) add(out [][]byte, buf []byte, r translate.Result) [][]byte {
	switch r.Verdict {
	case translate.Forward, translate.Reply:
		if r.Start < tunOffset {
			return out // cannot happen with readOffset's headroom
		}
		return append(out, buf[r.Start-tunOffset:r.End])
	case translate.Fragment:
		if rs.frags == nil {
			rs.frags = make([][]byte, 64)
			for i := range rs.frags {
				rs.frags[i] = make([]byte, tunOffset+65535)
			}
		}
		p := buf[r.Start:r.End]
		dst := make([][]byte, len(rs.frags)-rs.used)
		for j := range dst {
			dst[j] = rs.frags[rs.used+j][tunOffset:]
		}
		k := translate.Split(dst, p, r.MTU)
		for j := 0; j < k; j++ {
			out = append(out, rs.frags[rs.used+j][:tunOffset+len(dst[j])])
		}
		rs.used += k
	}
	return out
}

// writePacket sends a packet the gateway makes itself (control datagrams,
// timers' ICMP errors) out of the TUN device.
func (g *Gateway) writePacket(p []byte) {
	buf := make([]byte, tunOffset+len(p))
	copy(buf[tunOffset:], p)
	g.wmu.Lock()
	g.dev.Write([][]byte{buf}, tunOffset)
	g.wmu.Unlock()
}

// writePackets sends packets with tunOffset octets of room in front out
// of the TUN device, into the kernel's routing: what the AF_XDP datapath
// hands over.
func (g *Gateway) writePackets(bufs [][]byte) {
	g.wmu.Lock()
	g.dev.Write(bufs, tunOffset)
	g.wmu.Unlock()
}

// inject translates a packet the handoff client released (held until its
// port was known, or echoed by the server) and sends it.
func (g *Gateway) inject(in *Instance, pkt []byte) {
	buf := make([]byte, readOffset+len(pkt)+translate.Headroom)
	copy(buf[readOffset:], pkt)
	var rs results
	if out := rs.add(nil, buf, in.translate(buf, readOffset, len(pkt))); len(out) > 0 {
		g.wmu.Lock()
		g.dev.Write(out, tunOffset)
		g.wmu.Unlock()
	}
}
