package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/v6xlat/xlat/handoff/server"
	"golang.org/x/net/ipv4"
)

// flakyWriter fails while fail is set, as a full disk does.
type flakyWriter struct {
	fail bool
	bytes.Buffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	if w.fail {
		return 0, errors.New("no space left on device")
	}
	return w.Buffer.Write(p)
}

func testDaemon(t *testing.T, w io.Writer) *daemon {
	t.Helper()
	srv, err := server.New(server.Config{Addr: netip.MustParseAddr("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	return &daemon{o: &options{}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), srv: srv, clog: server.NewConnLog(w)}
}

func line(port uint16) server.Event {
	return server.Event{Kind: server.Created, Time: time.Unix(1700000000, 0), NAT64: netip.MustParseAddr("192.0.2.1"),
		Port: port, Client: netip.MustParseAddrPort("[2001:db8::1]:40000")}
}

// While the connection log cannot be written, handoffd answers nothing,
// so that no binding is created that the log would not name; the lines
// waiting are retried, and once they are written it answers again.
func TestFaultLogStallsAnswers(t *testing.T) {
	w := &flakyWriter{fail: true}
	d := testDaemon(t, w)
	d.clog.Add(line(1028))
	if d.clog.Flush() == nil {
		t.Fatal("the flaky writer took the line")
	}
	// A datagram the server would count (its source cannot be a NAT64).
	msg := ipv4.Message{Buffers: [][]byte{make([]byte, 64)}, N: 64, Addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1024}}
	out, err := d.batch(time.Now(), []ipv4.Message{msg}, nil)
	if err != nil || len(out) != 0 || d.srv.Stats().BadSource != 0 || d.logStalled != 1 {
		t.Errorf("with the log failing: %v, %d replies, handled %d, unanswered %d; want the datagram left alone", err, len(out), d.srv.Stats().BadSource, d.logStalled)
	}
	w.fail = false
	if _, err := d.batch(time.Now(), []ipv4.Message{msg}, nil); err != nil || d.srv.Stats().BadSource != 1 {
		t.Errorf("with the log back: %v, handled %d", err, d.srv.Stats().BadSource)
	}
	if !strings.Contains(w.String(), "Created 192.0.2.1:1028 [2001:db8::1]:40000") {
		t.Errorf("the waiting line did not reach the log: %q", w.String())
	}
}

// A binding whose journal record could not be synced is not logged: the
// log names only bindings that a restart will find.
func TestFaultJournalFailedNoLine(t *testing.T) {
	var log bytes.Buffer
	d := testDaemon(t, &log)
	st, err := server.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Load(server.TableConfig{}); err != nil {
		t.Fatal(err)
	}
	d.store = st
	st.Close() // the journal can no longer be written
	d.event(line(1029))
	if _, err = d.batch(time.Now(), nil, nil); err == nil || !d.journalFailed {
		t.Fatalf("batch with an unwritable journal: %v", err)
	}
	d.shutdown(err)
	if log.Len() != 0 {
		t.Errorf("the log names a binding that never reached the disk: %q", log.String())
	}
}
