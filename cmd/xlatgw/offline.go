package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/v6xlat/xlat/header"
	"github.com/v6xlat/xlat/translate"
)

// translateFile is "xlatgw translate -config FILE -in IN.pcap -out
// OUT.pcap": the capture goes through the same instances as the gateway
// would send it through, offline and without root. Input may be Ethernet,
// Linux cooked or raw IP; the output is raw IP, one record per packet the
// gateway would send (fragments and ICMP replies included).
func translateFile(args []string, log io.Writer) error {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (required)")
	inPath := fs.String("in", "", "input pcap (required)")
	outPath := fs.String("out", "", "output pcap (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || *inPath == "" || *outPath == "" {
		return errors.New("translate: -config, -in and -out are required")
	}
	l, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	in, err := os.Open(*inPath)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", *inPath, err)
	}
	out, err := os.Create(*outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return err
	}
	var read, written, dropped int
	buf := make([]byte, translate.Headroom+65535+translate.Headroom)
	frags := make([][]byte, 64)
	for i := range frags {
		frags[i] = make([]byte, 65535)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", *inPath, err)
		}
		read++
		pkt := ipPayload(r.LinkType(), data)
		if pkt == nil || len(pkt) > 65535 {
			dropped++
			continue
		}
		inst := pick(l.insts, pkt)
		if inst == nil {
			dropped++
			continue
		}
		n := copy(buf[translate.Headroom:], pkt)
		res := inst.translate(buf, translate.Headroom, n)
		var pkts [][]byte
		switch res.Verdict {
		case translate.Drop:
			fmt.Fprintf(log, "packet %d: dropped: %v\n", read, res.Reason)
			dropped++
			continue
		case translate.Fragment:
			pkts = frags[:translate.Split(frags, res.Packet(buf), res.MTU)]
		default:
			pkts = [][]byte{res.Packet(buf)}
		}
		for _, p := range pkts {
			ci.CaptureLength, ci.Length = len(p), len(p)
			if err := w.WritePacket(ci, p); err != nil {
				return err
			}
			written++
		}
		for i := range frags {
			frags[i] = frags[i][:cap(frags[i])]
		}
	}
	fmt.Fprintf(log, "%d packets read, %d written, %d dropped\n", read, written, dropped)
	return nil
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
