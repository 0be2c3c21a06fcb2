package gateway

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// openQueues creates a multi-queue TUN device with n queues and returns one
// wireguard-go Device per queue (offloads on, as CreateTUN does), so that
// one goroutine per queue can translate in parallel: the kernel spreads
// flows over the queues by their hash.
func openQueues(name string, mtu, n int) ([]tun.Device, error) {
	var devs []tun.Device
	fail := func(err error) ([]tun.Device, error) {
		for _, d := range devs {
			d.Close()
		}
		return nil, err
	}
	for i := 0; i < n; i++ {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return fail(err)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_MULTI_QUEUE)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fail(fmt.Errorf("queue %d: %w", i, err))
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return fail(err)
		}
		d, err := tun.CreateTUNFromFile(os.NewFile(uintptr(fd), "/dev/net/tun"), mtu)
		if err != nil {
			return fail(fmt.Errorf("queue %d: %w", i, err))
		}
		devs = append(devs, d)
	}
	return devs, nil
}
