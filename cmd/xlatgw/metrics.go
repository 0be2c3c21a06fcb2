package main

import (
	"net"
	"net/http"
	"reflect"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/v6xlat/xlat/handoff/client"
	"github.com/v6xlat/xlat/nat64"
	"github.com/v6xlat/xlat/translate"
)

// collector reads the gateway's counters at scrape time: the datapath pays
// nothing for metrics beyond the atomics it keeps anyway.
type collector struct{ g source }

var (
	descPackets  = prometheus.NewDesc("xlatgw_packets_total", "Packets by instance, direction (rx: arrived, tx: sent) and IP family.", []string{"instance", "direction", "family"}, nil)
	descBytes    = prometheus.NewDesc("xlatgw_bytes_total", "Bytes by instance, direction and IP family.", []string{"instance", "direction", "family"}, nil)
	descRefused  = prometheus.NewDesc("xlatgw_refused_total", "Packets not simply forwarded, by instance and reason (drops, ICMP errors sent, rate limits).", []string{"instance", "reason"}, nil)
	descSessions = prometheus.NewDesc("xlatgw_nat64_sessions", "NAT64 sessions.", []string{"instance"}, nil)
	descBIB      = prometheus.NewDesc("xlatgw_nat64_bindings", "NAT64 BIB entries.", []string{"instance"}, nil)
	descPool4    = prometheus.NewDesc("xlatgw_nat64_pool4_ports", "Ports (or identifiers) pool4 lends, by protocol.", []string{"instance", "protocol"}, nil)
	descEAMT     = prometheus.NewDesc("xlatgw_siit_eamt_entries", "EAMT entries.", []string{"instance"}, nil)
	descHandoff  = prometheus.NewDesc("xlatgw_handoff_events_total", "handoff/1 client counters by name (client.Stats).", []string{"instance", "counter"}, nil)
	descPeers    = prometheus.NewDesc("xlatgw_handoff_peers", "handoff/1 servers by state.", []string{"instance", "state"}, nil)
	descSync     = prometheus.NewDesc("xlatgw_sync_events_total", "Session sync counters by name (nat64.SyncStats: datagrams and sessions sent and received, coalesced, refreshes, unauthenticated, replayed, losses, resyncs).", []string{"instance", "counter"}, nil)
	descReadDrop = prometheus.NewDesc("xlatgw_tun_read_dropped_total", "What a TUN queue handed over that could not become packets (a superpacket with more segments than a burst holds, a malformed virtio header), by queue.", []string{"queue"}, nil)
	descXDP      = prometheus.NewDesc("xlatgw_xdp_packets_total", "AF_XDP datapath frames by queue and what became of them: received, transmitted, dropped, punted (handed to the kernel through the TUN device), tx_ring_full (dropped for want of room to send).", []string{"queue", "event"}, nil)
	descXDPSock  = prometheus.NewDesc("xlatgw_xdp_socket_events_total", "The kernel's AF_XDP socket counters (XDP_STATISTICS) by queue and interface: rx_dropped, rx_ring_full, fill_ring_empty, tx_invalid.", []string{"queue", "interface", "event"}, nil)
	descNoRoute  = prometheus.NewDesc("xlatgw_unclaimed_packets_total", "Packets routed to the gateway that no instance claims, answered with ICMP Destination Unreachable (no route) where an answer is due.", nil, nil)
	descCache    = prometheus.NewDesc("xlatgw_handoff_cache_entries", "handoff/1 cache entries, all servers.", []string{"instance"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descBytes, descRefused, descSessions, descBIB, descPool4, descEAMT, descHandoff, descPeers, descCache, descSync, descReadDrop, descXDP, descXDPSock, descNoRoute} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	ds := c.g.Stats()
	for i, n := range ds.TUNReadDropped {
		counter(descReadDrop, n, strconv.Itoa(i))
	}
	counter(descNoRoute, ds.Unclaimed)
	for _, x := range ds.XDP {
		q := strconv.Itoa(x.Queue)
		counter(descXDP, x.Received, q, "received")
		counter(descXDP, x.Transmitted, q, "transmitted")
		counter(descXDP, x.Dropped, q, "dropped")
		counter(descXDP, x.Punted, q, "punted")
		counter(descXDP, x.TXRingFull, q, "tx_ring_full")
		for _, st := range x.Sockets {
			name := strconv.Itoa(st.Ifindex)
			if l, err := net.InterfaceByIndex(st.Ifindex); err == nil {
				name = l.Name
			}
			counter(descXDPSock, st.RXDropped, q, name, "rx_dropped")
			counter(descXDPSock, st.RXRingFull, q, name, "rx_ring_full")
			counter(descXDPSock, st.FillRingEmpty, q, name, "fill_ring_empty")
			counter(descXDPSock, st.TXInvalid, q, name, "tx_invalid")
		}
	}
	for _, in := range c.g.Current().Instances() {
		n, pc := in.Name(), in.Counters()
		counter(descPackets, pc.RX6.Load(), n, "rx", "ipv6")
		counter(descPackets, pc.RX4.Load(), n, "rx", "ipv4")
		counter(descPackets, pc.TX6.Load(), n, "tx", "ipv6")
		counter(descPackets, pc.TX4.Load(), n, "tx", "ipv4")
		counter(descBytes, pc.RX6Bytes.Load(), n, "rx", "ipv6")
		counter(descBytes, pc.RX4Bytes.Load(), n, "rx", "ipv4")
		counter(descBytes, pc.TX6Bytes.Load(), n, "tx", "ipv6")
		counter(descBytes, pc.TX4Bytes.Load(), n, "tx", "ipv4")
		stats := in.Stats()
		for _, r := range translate.Reasons() {
			counter(descRefused, stats.Reason(r), n, r.String())
		}
		if x := in.NAT64(); x != nil {
			gauge(descSessions, x.Sessions(), n)
			gauge(descBIB, x.Bindings(), n)
			for _, p := range []nat64.Protocol{nat64.TCP, nat64.UDP, nat64.ICMP} {
				gauge(descPool4, x.PoolSize(p), n, p.String())
			}
		}
		if x := in.SIIT(); x != nil {
			gauge(descEAMT, x.EAMT().Len(), n)
		}
		if s := in.Sync(); s != nil {
			eachCounter(reflect.ValueOf(s.Stats()), func(name string, v uint64) { counter(descSync, v, n, name) })
		}
		if h := in.Handoff(); h != nil {
			eachCounter(reflect.ValueOf(h.Stats()), func(name string, v uint64) { counter(descHandoff, v, n, name) })
			states := map[client.PeerState]int{}
			entries := 0
			for _, p := range h.Peers() {
				states[p.State]++
				entries += p.Entries
			}
			for s := client.Unknown; s <= client.NotCapable; s++ {
				gauge(descPeers, states[s], n, s.String())
			}
			gauge(descCache, entries, n)
		}
	}
}

// serveMetrics starts the Prometheus endpoint; it returns the listener so
// that the caller can close it.
func serveMetrics(g source, addr string) (net.Listener, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{g})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go newHTTPServer(mux).Serve(l)
	return l, nil
}

// eachCounter calls f with the name and value of every counter of the
// stats struct v, those of embedded structs (wire.ParseStats) included.
func eachCounter(v reflect.Value, f func(name string, v uint64)) {
	for i := 0; i < v.NumField(); i++ {
		switch fv := v.Field(i); {
		case v.Type().Field(i).Anonymous && fv.Kind() == reflect.Struct:
			eachCounter(fv, f)
		case fv.CanUint():
			f(v.Type().Field(i).Name, fv.Uint())
		}
	}
}
