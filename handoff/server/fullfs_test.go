package server

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// onSmallDisk runs f on a thread of its own, in a private mount namespace
// with a tmpfs of size octets mounted on dir: a disk that fills up for
// real. The thread is never unlocked, so it ends with the goroutine and
// the mount with it.
func onSmallDisk(t *testing.T, size string, f func(dir string)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace and a tmpfs (CI runs it as root)")
	}
	dir := t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("making mounts private: %v", err)
			return
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
			t.Errorf("mounting a tmpfs: %v", err)
			return
		}
		f(dir)
	}()
	<-done
}

// fill writes a file of zeros until the disk says it is full, and
// returns its path. It runs on a goroutine of its own, so a failure is
// t.Error and an empty path.
func fill(t *testing.T, dir string) string {
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer f.Close()
	page := make([]byte, 4096)
	for {
		if _, err := f.Write(page); err != nil {
			return p
		}
	}
}

// The journal and snapshot tests' table: n1 with epoch 42, whole-range
// slots, events at one instant.
var (
	fullDiskCfg  = TableConfig{SlotMin: 1028, SlotMax: 65535}
	fullDiskTime = time.Unix(1700000000, 0)
)

// openWithTable opens and loads the store in dir and records the
// Initialized of that table; nil after a t.Error (it runs off the test's
// goroutine).
func openWithTable(t *testing.T, dir string) *Store {
	st, err := OpenStore(dir)
	if err == nil {
		_, _, err = st.Load(fullDiskCfg)
	}
	if err != nil {
		t.Error(err)
		return nil
	}
	st.Record(Event{Kind: Initialized, Time: fullDiskTime, NAT64: n1, Epoch: 42})
	return st
}

// The connection log on a disk that fills: no line is dropped or torn;
// the lines wait and reach the file, each once and in order, when space
// comes back.
func TestFaultConnLogFullDisk(t *testing.T) {
	onSmallDisk(t, "64k", func(dir string) {
		f, err := os.OpenFile(filepath.Join(dir, "handoff.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		filler := fill(t, dir)
		if filler == "" {
			return
		}
		os.Truncate(filler, 57344) // 8 KiB left for the log
		l := NewConnLog(f)
		var want []string
		at := time.Unix(1700000000, 0)
		failed := 0
		for i := 0; i < 400; i++ {
			e := Event{Kind: Created, Time: at.Add(time.Duration(i) * time.Millisecond), NAT64: netip.MustParseAddr("192.0.2.1"),
				Port: uint16(1028 + i), Client: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(i))}
			want = append(want, string(e.AppendLogLine(nil)))
			l.Add(e)
			if i%7 == 0 { // batches of lines, as handoffd flushes them
				if l.Flush() != nil {
					failed++
				}
			}
		}
		if failed == 0 || !l.Failing() {
			t.Errorf("the disk never filled (%d failed flushes)", failed)
			return
		}
		b, _ := os.ReadFile(f.Name())
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("the log ends in a torn line: %q", b[max(0, len(b)-40):])
		}
		if !strings.HasPrefix(strings.Join(want, ""), string(b)) {
			t.Error("the log on the full disk is not a prefix of the lines")
		}
		// Space returns: everything arrives, once, in order.
		os.Remove(filler)
		if err := l.Flush(); err != nil {
			t.Errorf("Flush after space came back: %v", err)
		}
		b, _ = os.ReadFile(f.Name())
		if string(b) != strings.Join(want, "") {
			t.Errorf("the log has %d octets, want the %d of the %d lines each once", len(b), len(strings.Join(want, "")), len(want))
		}
	})
}

// A journal batch that meets a full disk is cut off again, and written at
// the same offset when space returns: the restore sees every record once.
func TestFaultJournalFullDisk(t *testing.T) {
	onSmallDisk(t, "32k", func(dir string) {
		st := openWithTable(t, dir)
		if st == nil {
			return
		}
		cfg, at := fullDiskCfg, fullDiskTime
		if err := st.Sync(); err != nil {
			t.Error(err)
			return
		}
		filler := fill(t, dir)
		if filler == "" {
			return
		}
		os.Truncate(filler, 24576) // about 8 KiB left, less than the batch
		const batch = 300          // 15 KiB of records
		for i := 0; i < batch; i++ {
			st.Record(Event{Kind: Created, Time: at, NAT64: n1, Port: uint16(1028 + i), Generation: 1,
				Client: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(i))})
		}
		if err := st.Sync(); err == nil {
			t.Error("a batch larger than the space left was synced")
			return
		}
		if fi, _ := os.Stat(filepath.Join(dir, journalName)); fi.Size() != headerLen+recordLen {
			t.Errorf("after the failed write the journal has %d octets, want %d as before", fi.Size(), headerLen+recordLen)
		}
		os.Remove(filler)
		if err := st.Sync(); err != nil {
			t.Errorf("Sync after space came back: %v", err)
		}
		st.Close()
		st2, _ := OpenStore(dir)
		tables, report, err := st2.Load(cfg)
		if err != nil || len(tables) != 1 || tables[0].Len() != batch || report.TornRecords != 0 {
			t.Errorf("restored: %v, %d tables, %d torn; want %d bindings", err, len(tables), report.TornRecords, batch)
		} else if tables[0].Len() != batch {
			t.Errorf("%d bindings, want %d", tables[0].Len(), batch)
		}
		st2.Close()
	})
}

// A snapshot that does not fit on the disk fails and changes nothing: the
// old snapshot and the journal stay, and a restore sees every binding. A
// Close whose final write fails says so.
func TestFaultSnapshotFullDisk(t *testing.T) {
	onSmallDisk(t, "64k", func(dir string) {
		st := openWithTable(t, dir)
		if st == nil {
			return
		}
		cfg, at := fullDiskCfg, fullDiskTime
		tb := newTable(n1, 42, cfg)
		const bindings = 400 // an 11 KiB snapshot
		for i := 0; i < bindings; i++ {
			b := Binding{Port: uint16(1028 + i), Generation: uint32(i + 1), LastUse: 1700000000,
				Client: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(i))}
			tb.replayCreated(b)
			st.Record(Event{Kind: Created, Time: at, NAT64: n1, Port: b.Port, Generation: b.Generation, Client: b.Client, Epoch: 42})
		}
		if err := st.Sync(); err != nil {
			t.Error(err)
			return
		}
		filler := fill(t, dir)
		if filler == "" {
			return
		}
		if err := st.Snapshot([]*Table{tb}); err == nil {
			t.Error("a snapshot was written to a full disk")
		}
		if _, err := os.Stat(filepath.Join(dir, snapshotName)); err == nil {
			t.Error("a snapshot file is there after the failed write")
		}
		// More than the slack in the journal's last page: the write
		// fails whole.
		for i := 0; i < 100; i++ {
			st.Record(Event{Kind: Deleted, Time: at, NAT64: n1, Port: uint16(1028 + i), Generation: uint32(i + 1)})
		}
		if err := st.Close(); err == nil {
			t.Error("Close with records the full disk cannot take said nothing")
		}
		os.Remove(filler)
		st2, _ := OpenStore(dir)
		tables, _, err := st2.Load(cfg)
		if err != nil || len(tables) != 1 || tables[0].Len() != bindings {
			t.Errorf("restored: %v, %d tables; want one of %d bindings", err, len(tables), bindings)
		}
		st2.Close()
	})
}
