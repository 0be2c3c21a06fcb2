package server

import (
	"errors"
	"io"
	"net/netip"
	"testing"
)

// shortWriter takes at most n octets a call and says nothing about the
// rest, as an io.Writer must not; err, when set, is its failure.
type shortWriter struct {
	n   int
	got []byte
	err error
}

func (w *shortWriter) Write(p []byte) (int, error) {
	k := min(len(p), w.n)
	w.got = append(w.got, p[:k]...)
	return k, w.err
}

// A write that takes part of the lines without an error is a failure
// (io.ErrShortWrite); one that fails reports its own error. Either way
// the rest waits, and nothing is written twice.
func TestConnLogShortWrite(t *testing.T) {
	e := Event{Kind: Created, Time: step(1), NAT64: n1, Port: 1028, Client: netip.MustParseAddrPort("[2001:db8::1]:1")}
	line := string(e.AppendLogLine(nil))
	w := &shortWriter{n: 10}
	l := NewConnLog(w)
	l.Add(e)
	if err := l.Flush(); !errors.Is(err, io.ErrShortWrite) || !l.Failing() {
		t.Errorf("short write: %v, failing %v", err, l.Failing())
	}
	w.n = 1 << 20
	if err := l.Flush(); err != nil || string(w.got) != line {
		t.Errorf("after the short write: %v, wrote %q", err, w.got)
	}
	full := errors.New("disk full")
	w = &shortWriter{n: 0, err: full}
	l = NewConnLog(w)
	l.Add(e)
	if err := l.Flush(); !errors.Is(err, full) {
		t.Errorf("failed write: %v, want the writer's error", err)
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{Initialized: "Initialized", Created: "Created", Deleted: "Deleted", 0: "EventKind(0)", 9: "EventKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}
