// Package pcapxlat translates packet captures offline, as a gateway
// would translate the packets in them: "xlatgw translate" is it, on the
// instances of a configuration file. Input may be Ethernet (one VLAN tag
// at most), Linux cooked or raw IP; the output is raw IP, one record per
// packet the gateway would send (fragments and ICMP replies included).
package pcapxlat

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// Translator translates a packet in place, buf[off:off+n] with
// translate.Headroom in front, or reports that it is not its to translate
// (gateway.Setup.Translate).
type Translator interface {
	Translate(buf []byte, off, n int) (r translate.Result, ok bool)
}

// Counts are what a capture's translation did: records read, packets
// written (fragments and ICMP replies each count) and records dropped.
type Counts struct{ Read, Written, Dropped int }

// Translate reads the capture in, has x translate each IP packet in it,
// and writes a raw-IP capture of what a gateway would send to out. A
// packet dropped by its translator is named in log with the reason.
func Translate(in io.Reader, out io.Writer, x Translator, log io.Writer) (Counts, error) {
	var c Counts
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return c, err
	}
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return c, err
	}
	buf := make([]byte, translate.Headroom+65535+translate.Headroom)
	frags := make([][]byte, 64)
	for i := range frags {
		frags[i] = make([]byte, 65535)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return c, err
		}
		c.Read++
		pkt := ipPayload(r.LinkType(), data)
		if pkt == nil || len(pkt) > 65535 {
			c.Dropped++
			continue
		}
		n := copy(buf[translate.Headroom:], pkt)
		res, ok := x.Translate(buf, translate.Headroom, n)
		var pkts [][]byte
		switch {
		case !ok:
			c.Dropped++
			continue
		case res.Verdict == translate.Drop:
			fmt.Fprintf(log, "packet %d: dropped: %v\n", c.Read, res.Reason)
			c.Dropped++
			continue
		case res.Verdict == translate.Fragment:
			pkts = frags[:translate.Split(frags, res.Packet(buf), res.MTU)]
		default:
			pkts = [][]byte{res.Packet(buf)}
		}
		for _, p := range pkts {
			ci.CaptureLength, ci.Length = len(p), len(p)
			if err := w.WritePacket(ci, p); err != nil {
				return c, err
			}
			c.Written++
		}
		for i := range frags {
			frags[i] = frags[i][:cap(frags[i])]
		}
	}
}

// ipPayload returns the IP packet inside a capture record, or nil.
func ipPayload(lt layers.LinkType, data []byte) []byte {
	var p []byte
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < header.EthernetSize {
			return nil
		}
		et, off := header.Ethernet(data).Type(), header.EthernetSize
		if et == header.EtherTypeVLAN && len(data) >= header.EthernetSize+4 { // one VLAN tag
			et, off = binary.BigEndian.Uint16(data[header.EthernetSize+2:]), header.EthernetSize+4
		}
		if et != header.EtherTypeIPv4 && et != header.EtherTypeIPv6 {
			return nil
		}
		p = data[off:]
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return nil
		}
		p = data[16:]
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12:
		p = data
	default:
		return nil
	}
	if len(p) < 20 || (p[0]>>4 != 4 && p[0]>>4 != 6) {
		return nil
	}
	return p
}
