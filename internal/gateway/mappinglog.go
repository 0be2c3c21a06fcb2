package gateway

import (
	"bufio"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/v6xlat/xlat/nat64"
)

// mappingLog appends every NAT64 binding created or deleted to a file:
// who had which IPv4 address and port, and when, for abuse tracing. Events
// are queued and written by one goroutine, so the datapath never waits on
// the disk; if the queue overflows, events are counted as lost rather than
// slowing translation.
type mappingLog struct {
	ch   chan string
	lost atomic.Uint64
	done chan struct{}
}

func openMappingLog(path string) (*mappingLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	m := &mappingLog{ch: make(chan string, 8192), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		w := bufio.NewWriter(f)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case line, ok := <-m.ch:
				if !ok {
					if n := m.lost.Load(); n > 0 {
						fmt.Fprintf(w, "%s lost %d events\n", time.Now().UTC().Format(time.RFC3339Nano), n)
					}
					w.Flush()
					f.Close()
					return
				}
				w.WriteString(line)
			case <-tick.C:
				w.Flush()
			}
		}
	}()
	return m, nil
}

// hook returns the BIB hook for instance name.
func (m *mappingLog) hook(name string) func(nat64.BIBEvent) {
	return func(ev nat64.BIBEvent) {
		kind := "created"
		if ev.Kind == nat64.BIBDeleted {
			kind = "deleted"
		}
		line := fmt.Sprintf("%s instance=%s %s %v %v %v\n", ev.Time.UTC().Format(time.RFC3339Nano), name, kind, ev.Entry.Proto, ev.Entry.IPv6, ev.Entry.IPv4)
		select {
		case m.ch <- line:
		default:
			m.lost.Add(1)
		}
	}
}

func (m *mappingLog) close() {
	close(m.ch)
	<-m.done
}
