package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where "ip netns add" keeps named network namespaces.
const netnsDir = "/run/netns"

// inNetns runs f on an OS thread moved into the named network namespace
// (as "ip netns" names them; "" is the namespace xlatgw runs in) and
// returns f's error. Sockets, devices and netlink handles f opens belong
// to that namespace for their whole life, wherever they are used later;
// goroutines f starts do not run in it. The thread is moved back after
// f; if that fails it is left locked, so that it ends with its goroutine
// instead of serving others in the wrong namespace.
func inNetns(name string, f func() error) error {
	if name == "" {
		return f()
	}
	target, err := openNetns(name)
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
			errc <- fmt.Errorf("data-netns: this thread's namespace: %w", err)
			return
		}
		defer unix.Close(self)
		if err := enterNetns(target, name); err != nil {
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

// lockInNetns locks the calling goroutine to its thread and moves the
// thread into the named network namespace ("" leaves it where it is).
// The thread is never unlocked: it ends with the goroutine rather than
// serve another in the wrong namespace.
func lockInNetns(name string) error {
	runtime.LockOSThread()
	if name == "" {
		return nil
	}
	target, err := openNetns(name)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	return enterNetns(target, name)
}

// openNetns opens the named network namespace, for enterNetns.
func openNetns(name string) (int, error) {
	fd, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("data-netns: %q: no such network namespace (create it with \"ip netns add %s\")", name, name)
	}
	if err != nil {
		return -1, fmt.Errorf("data-netns: %q: %w", name, err)
	}
	return fd, nil
}

// enterNetns moves the calling thread into the namespace open as fd,
// named name.
func enterNetns(fd int, name string) error {
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("data-netns: entering %q: %w", name, os.NewSyscallError("setns", err))
	}
	return nil
}
