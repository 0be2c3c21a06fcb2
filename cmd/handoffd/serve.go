package main

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/ipv4"

	"github.com/v6xlat/xlat/handoff/server"
	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/sdnotify"
	"github.com/v6xlat/xlat/internal/ticker"
)

// batchSize is how many datagrams one read takes (recvmmsg): their
// journal records share one fsync before any of their replies leaves
// (§7.4 "one flush may serve several datagrams").
const batchSize = 64

// daemon is the server with its files. mu serialises the Server, the
// Store and the log between the datagram loop, the snapshot timer,
// signals and metrics scrapes.
type daemon struct {
	o   *options
	log *slog.Logger
	// watch says when the datagram loop works and when it waits.
	watch loopwatch.Loop

	mu      sync.Mutex
	srv     *server.Server
	store   *server.Store // nil without persistence
	clog    *server.ConnLog
	logFile *os.File // nil for stdout

	// While the connection log cannot be written (a full disk) no
	// datagram is answered, so that no binding goes unlogged: logStalled
	// counts them; journalFailed says the last batch never became
	// durable, and its lines must not be logged.
	logStalled    uint64
	logWarned     time.Time
	journalFailed bool
	replies       [][]byte
}

func run(ctx context.Context, o *options, log *slog.Logger) error {
	d := &daemon{o: o, log: log}
	var tables []*server.Table
	if o.persist {
		var err error
		if tables, err = d.openStore(); err != nil {
			return err
		}
		defer d.store.Close()
	}
	if err := d.openLog(); err != nil {
		return err
	}
	// §7.2 3b: a uniformly random free slot, so that ports are not
	// predictable; ChaCha8 seeded from the system's randomness.
	var seed [32]byte
	if _, err := cryptorand.Read(seed[:]); err != nil {
		return fmt.Errorf("seeding the slot choice: %w", err)
	}
	o.table.Rand = rand.New(rand.NewChaCha8(seed)).IntN
	srv, err := server.New(server.Config{
		Addr: o.listen.Addr(), MaxTables: o.maxTables, Persistent: o.persist, Table: o.table,
		OnEvent: d.event, Admit: o.admit,
	})
	if err != nil {
		return err
	}
	if err := srv.Restore(tables); err != nil {
		return err
	}
	d.srv = srv
	ntables, bindings := d.size()
	log.Info("handoffd starting", "listen", o.listen, "persist", o.persist, "tables", ntables, "bindings", bindings)

	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(o.listen))
	if err != nil {
		return fmt.Errorf("-listen %v: %w", o.listen, err)
	}
	if o.metrics != "" {
		if err := d.serveMetrics(ctx); err != nil {
			conn.Close()
			return err
		}
	}
	go d.signals(ctx)
	go d.retryLog(ctx)
	if o.persist {
		go d.snapshots(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- d.serve(conn) }()
	// Up: the state is loaded and the socket bound. The watchdog pings
	// while no batch is stuck, the journal's fsync included.
	sd := sdnotify.FromEnv()
	sd.Ready(fmt.Sprintf("serving %d tables", ntables))
	go sd.Watch(ctx, func() bool { return d.watch.Age() < stallAfter }, func(stalled bool) {
		if stalled {
			log.Error("stalled: a batch has taken too long; withholding the watchdog", "age", d.watch.Age())
		}
	})
	select {
	case <-ctx.Done():
		sd.Stopping()
		conn.Close()
		<-done
	case err = <-done:
		conn.Close()
	}
	err = d.shutdown(err)
	log.Info("handoffd stopped", "stats", fmt.Sprintf("%+v", d.srv.Stats()))
	return err
}

// shutdown writes the last snapshot and log lines after the loop ended
// with err.
func (d *daemon) shutdown(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store != nil && err == nil {
		if serr := d.store.Snapshot(d.srv.Tables()); serr != nil {
			err = serr
		}
	}
	if d.journalFailed {
		// The last batch's bindings are gone with this process: a line
		// is written only for a binding that is durable.
		d.clog.Discard()
	} else if ferr := d.clog.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (d *daemon) openStore() ([]*server.Table, error) {
	st, err := server.OpenStore(d.o.stateDir)
	if err != nil {
		return nil, err
	}
	st.Repair = d.o.repairState
	tables, report, err := st.Load(d.o.table)
	if err == nil && report.TornRecords > 0 {
		d.log.Warn("cut off the journal's torn tail (a crash while writing a batch)", "records", report.TornRecords)
	}
	if err == nil && report.DroppedRecords > 0 {
		d.log.Warn("-repair-state: kept the snapshot and the intact journal records before the damage, dropped the rest", "records", report.DroppedRecords)
	}
	if errors.Is(err, server.ErrDamaged) && d.o.discardState {
		d.log.Warn("discarding damaged state (-discard-state)", "err", err)
		if err = st.Discard(); err == nil {
			tables, _, err = st.Load(d.o.table)
		}
	}
	if err != nil {
		if errors.Is(err, server.ErrDamaged) {
			return nil, fmt.Errorf("%w (start with -repair-state to keep what is intact, or -discard-state to begin with empty tables)", err)
		}
		return nil, err
	}
	d.store = st
	return tables, nil
}

// openLog opens (or reopens, on SIGHUP) the connection log.
func (d *daemon) openLog() error {
	if d.o.logDir == "-" {
		if d.clog == nil {
			d.clog = server.NewConnLog(os.Stdout)
		}
		return nil
	}
	if err := os.MkdirAll(d.o.logDir, 0o750); err != nil {
		return fmt.Errorf("-log-dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(d.o.logDir, "handoff.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("-log-dir: %w", err)
	}
	if d.clog == nil {
		d.clog = server.NewConnLog(f)
	} else if err := d.clog.SetOutput(f); err != nil {
		d.log.Error("flushing the connection log before reopening", "err", err)
	}
	if d.logFile != nil {
		d.logFile.Close()
	}
	d.logFile = f
	return nil
}

// event journals and logs a table change, in order (§9).
func (d *daemon) event(e server.Event) {
	if d.store != nil {
		d.store.Record(e)
	}
	d.clog.Add(e)
}

// stallAfter is how long one batch may take, its journal's fsync
// included, before handoffd counts as stalled.
const stallAfter = 5 * time.Second

// serve answers datagrams until conn is closed. A batch's journal records
// reach stable storage before any of its replies is sent.
func (d *daemon) serve(conn *net.UDPConn) error {
	pc := ipv4.NewPacketConn(conn)
	in := make([]ipv4.Message, batchSize)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, server.MaxDatagram+1)}
	}
	var out []ipv4.Message
	for {
		d.watch.Waiting()
		n, err := pc.ReadBatch(in, 0)
		d.watch.Working()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading: %w", err)
		}
		if out, err = d.batch(time.Now(), in[:n], out[:0]); err != nil {
			return err
		}
		for len(out) > 0 {
			k, err := pc.WriteBatch(out, 0)
			if err != nil {
				d.log.Warn("sending a reply", "err", err)
				k = max(k, 1) // skip the datagram that failed
			}
			out = out[k:]
		}
	}
}

// batch answers the datagrams of one read, their journal records synced
// before any reply is returned, and their log lines written after that;
// while the log cannot be written it answers nothing.
func (d *daemon) batch(now time.Time, in, out []ipv4.Message) ([]ipv4.Message, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.logWritable(now) {
		// Silent until the lines waiting reach the log: a binding
		// created now could not be logged.
		d.logStalled += uint64(len(in))
		return out, nil
	}
	for _, m := range in {
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		d.replies = d.srv.Handle(now, ua.AddrPort(), m.Buffers[0][:m.N], d.replies[:0])
		for _, r := range d.replies {
			out = append(out, ipv4.Message{Buffers: [][]byte{r}, Addr: ua})
		}
	}
	if d.store != nil {
		if err := d.store.Sync(); err != nil {
			// Replies must not report what is not on disk, nor the log
			// name it; stop, and let the restart restore what is.
			d.journalFailed = true
			return out[:0], err
		}
	}
	if err := d.clog.Flush(); err != nil {
		d.log.Error("writing the connection log: no datagram is answered until it can be written; the lines wait", "err", err)
		d.logWarned = now
	}
	return out, nil
}

// logWritable retries the lines waiting for a log that could not be
// written, and reports whether none wait (mu held). While they do it says
// so on stderr every ten seconds.
func (d *daemon) logWritable(now time.Time) bool {
	if !d.clog.Failing() {
		return true
	}
	if err := d.clog.Flush(); err != nil {
		if now.Sub(d.logWarned) >= 10*time.Second {
			d.log.Error("the connection log still cannot be written; not answering", "err", err, "datagrams-unanswered", d.logStalled)
			d.logWarned = now
		}
		return false
	}
	d.log.Info("the connection log is written again; answering", "datagrams-unanswered", d.logStalled)
	return true
}

// retryLog writes waiting lines every second even when no datagram comes.
func (d *daemon) retryLog(ctx context.Context) {
	ticker.Every(ctx, time.Second, func() {
		d.mu.Lock()
		d.logWritable(time.Now())
		d.mu.Unlock()
	})
}

// snapshots writes the state every SnapshotInterval (§7.4).
func (d *daemon) snapshots(ctx context.Context) {
	ticker.Every(ctx, server.SnapshotInterval, func() {
		d.mu.Lock()
		err := d.store.Snapshot(d.srv.Tables())
		d.mu.Unlock()
		if err != nil {
			d.log.Error("snapshot", "err", err)
		}
	})
}

// signals: SIGHUP reopens the connection log (log rotation), SIGUSR1
// prints the counters.
func (d *daemon) signals(ctx context.Context) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			d.mu.Lock()
			if s == syscall.SIGHUP {
				if err := d.openLog(); err != nil {
					d.log.Error("reopening the connection log", "err", err)
				}
			} else {
				tables, bindings := d.size()
				fmt.Fprintf(os.Stderr, "handoffd stats: %+v tables=%d bindings=%d\n", d.srv.Stats(), tables, bindings)
			}
			d.mu.Unlock()
		}
	}
}

// size counts the tables and their bindings.
func (d *daemon) size() (tables, bindings int) {
	ts := d.srv.Tables()
	for _, t := range ts {
		bindings += t.Len()
	}
	return len(ts), bindings
}

var (
	descCounter  = prometheus.NewDesc("handoffd_events_total", "The counters of handoff/1 §11, by name.", []string{"counter"}, nil)
	descTables   = prometheus.NewDesc("handoffd_tables", "NAT64 tables held.", nil, nil)
	descBindings = prometheus.NewDesc("handoffd_bindings", "Bindings in all tables.", nil, nil)
	descLogFail  = prometheus.NewDesc("handoffd_connection_log_failing", "1 while the connection log cannot be written (lines waiting, datagrams not answered).", nil, nil)
	descStalled  = prometheus.NewDesc("handoffd_unanswered_log_full_total", "Datagrams not answered because the connection log could not be written.", nil, nil)
)

type collector struct{ d *daemon }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCounter
	ch <- descTables
	ch <- descBindings
	ch <- descLogFail
	ch <- descStalled
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.d.mu.Lock()
	s := c.d.srv.Stats()
	tables, bindings := c.d.size()
	failing, stalled := 0.0, c.d.logStalled
	if c.d.clog.Failing() {
		failing = 1
	}
	c.d.mu.Unlock()
	for _, kv := range []struct {
		name string
		v    uint64
	}{
		{"MalformedDatagrams", s.MalformedDatagrams}, {"MalformedMessages", s.MalformedMessages},
		{"UnknownMessages", s.UnknownMessages}, {"UnexpectedMessages", s.UnexpectedMessages},
		{"BadSource", s.BadSource}, {"ChallengesSent", s.ChallengesSent},
		{"ChallengesSuppressed", s.ChallengesSuppressed}, {"BadToken", s.BadToken},
		{"EchoDropped", s.EchoDropped}, {"EchoMismatch", s.EchoMismatch},
		{"TablesRefused", s.TablesRefused}, {"RefusedRate", s.RefusedRate},
		{"Created", s.Created}, {"Deleted", s.Deleted},
	} {
		ch <- prometheus.MustNewConstMetric(descCounter, prometheus.CounterValue, float64(kv.v), kv.name)
	}
	ch <- prometheus.MustNewConstMetric(descTables, prometheus.GaugeValue, float64(tables))
	ch <- prometheus.MustNewConstMetric(descBindings, prometheus.GaugeValue, float64(bindings))
	ch <- prometheus.MustNewConstMetric(descLogFail, prometheus.GaugeValue, failing)
	ch <- prometheus.MustNewConstMetric(descStalled, prometheus.CounterValue, float64(stalled))
}

func (d *daemon) serveMetrics(ctx context.Context) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d})
	ln, err := net.Listen("tcp", d.o.metrics)
	if err != nil {
		return fmt.Errorf("-metrics %s: %w", d.o.metrics, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	go func() { <-ctx.Done(); hs.Close() }()
	return nil
}
