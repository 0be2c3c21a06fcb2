// Package netns runs code in a named network namespace (as "ip netns"
// names them): a daemon's datapath in a data namespace while its
// management stays in the one it started in.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dir is where "ip netns add" keeps named network namespaces.
const Dir = "/run/netns"

// Do runs f on an OS thread moved into the named network namespace
// (as "ip netns" names them; "" is the namespace xlatgw runs in) and
// returns f's error. Sockets, devices and netlink handles f opens belong
// to that namespace for their whole life, wherever they are used later;
// goroutines f starts do not run in it. The thread is moved back after
// f; if that fails it is left locked, so that it ends with its goroutine
// instead of serving others in the wrong namespace.
func Do(name string, f func() error) error {
	if name == "" {
		return f()
	}
	target, err := open(name)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: this thread's namespace: %w", err)
			return
		}
		defer unix.Close(self)
		if err := enter(target, name); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := f()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// LockIn locks the calling goroutine to its thread and moves the
// thread into the named network namespace ("" leaves it where it is).
// The thread is never unlocked: it ends with the goroutine rather than
// serve another in the wrong namespace.
func LockIn(name string) error {
	runtime.LockOSThread()
	if name == "" {
		return nil
	}
	target, err := open(name)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	return enter(target, name)
}

// open opens the named network namespace, for enter.
func open(name string) (int, error) {
	fd, err := unix.Open(filepath.Join(Dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("netns: %q: no such network namespace (create it with \"ip netns add %s\")", name, name)
	}
	if err != nil {
		return -1, fmt.Errorf("netns: %q: %w", name, err)
	}
	return fd, nil
}

// enter moves the calling thread into the namespace open as fd,
// named name.
func enter(fd int, name string) error {
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: entering %q: %w", name, os.NewSyscallError("setns", err))
	}
	return nil
}
