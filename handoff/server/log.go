package server

import (
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/v6xlat/xlat/handoff"
)

// EventKind is one of the three kinds of connection-log line (§9).
type EventKind uint8

// The kinds of line (§9).
const (
	Initialized EventKind = iota + 1
	Created
	Deleted
)

// String returns the kind as the log writes it.
func (k EventKind) String() string {
	switch k {
	case Initialized:
		return "Initialized"
	case Created:
		return "Created"
	case Deleted:
		return "Deleted"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change to a server table: what the connection log records.
type Event struct {
	Kind       EventKind
	Time       time.Time
	NAT64      netip.Addr
	Port       uint16 // not for Initialized
	Client     netip.AddrPort
	Generation uint32
	Epoch      uint64 // table_epoch, for Initialized (the journal needs it)
}

// AppendLogLine appends e as one §9 line, LF included: UTC, microseconds
// truncated, RFC 5952 client text.
func (e Event) AppendLogLine(b []byte) []byte {
	b = e.Time.UTC().Truncate(time.Microsecond).AppendFormat(b, handoff.LogTimeLayout)
	b = append(b, ' ')
	b = append(b, e.Kind.String()...)
	b = append(b, ' ')
	b = e.NAT64.AppendTo(b)
	if e.Kind != Initialized {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(e.Port), 10)
		b = append(b, ' ')
		b = e.Client.AppendTo(b)
	}
	return append(b, '\n')
}

// ConnLog writes the connection log of §9: one line per event, buffered
// until Flush, with timestamps that never decrease in file order (if the
// clock steps back, the last value is repeated). A line is never dropped
// or torn: when a write fails (a full disk), what of it reached a file is
// cut off again and every buffered line stays for the next Flush.
type ConnLog struct {
	w       io.Writer
	last    time.Time
	buf     []byte
	failing bool
}

// NewConnLog returns a log writing to w. When w is a file (it has Seek
// and Truncate), a write that fails part way is undone.
func NewConnLog(w io.Writer) *ConnLog { return &ConnLog{w: w} }

// Add queues the line of e.
func (l *ConnLog) Add(e Event) {
	if e.Time.Before(l.last) {
		e.Time = l.last
	}
	l.last = e.Time
	l.buf = e.AppendLogLine(l.buf)
}

// undoer is what a file offers to take back a write that failed part way.
type undoer interface {
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
}

// Flush writes the queued lines. On an error they stay queued, and the
// file is as it was before (Failing reports true until a Flush succeeds).
func (l *ConnLog) Flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	u, undo := l.w.(undoer)
	var end int64
	if undo {
		var err error
		if end, err = u.Seek(0, io.SeekEnd); err != nil {
			undo = false
		}
	}
	n, err := l.w.Write(l.buf)
	if err == nil && n < len(l.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if undo {
			u.Truncate(end)
		} else {
			l.buf = l.buf[n:] // what was written stays written
		}
		l.failing = true
		return err
	}
	l.buf = l.buf[:0]
	l.failing = false
	return nil
}

// Failing reports whether the last Flush failed: lines are waiting.
func (l *ConnLog) Failing() bool { return l.failing }

// Discard drops the queued lines: for lines whose bindings never reached
// stable storage (a journal that could not be synced), which must not be
// logged.
func (l *ConnLog) Discard() { l.buf = l.buf[:0] }

// SetOutput redirects later lines (a log file reopened on SIGHUP), after
// flushing what is queued to the old one.
func (l *ConnLog) SetOutput(w io.Writer) error {
	err := l.Flush()
	l.w = w
	return err
}
