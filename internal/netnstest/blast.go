package netnstest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batcher is what x/net's PacketConns of either family offer: recvmmsg
// and sendmmsg (ipv4.Message and ipv6.Message are the same type).
type batcher interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func batchConn(c net.PacketConn, addr string) batcher {
	if network(addr) == "6" {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// The blast modes measure small-packet forwarding: a sender offering
// 16-byte UDP datagrams (64-byte IPv6 packets) as fast as it can and a
// receiver counting them. Both move 64 datagrams per system call
// (sendmmsg, recvmmsg) so that the load generator, which shares the CPUs
// with the gateway under test, costs as little per packet as it can;
// iperf3 sends and receives one datagram per call and runs out of CPU
// before a fast gateway does.
const (
	blastPort    = "9100"
	blastBatch   = 64
	blastPayload = 16
)

// blastServer counts datagrams on addr:9100 until none came for a second
// after the first, then prints "received N".
func blastServer(addr string) error {
	c, err := net.ListenPacket("udp"+network(addr), net.JoinHostPort(addr, blastPort))
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.UDPConn).SetReadBuffer(8 << 20)
	pc := batchConn(c, addr)
	msgs := make([]ipv4.Message, blastBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	fmt.Println("listening")
	received := 0
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			fmt.Println("received", received)
			return nil
		}
		received += n
		c.SetReadDeadline(time.Now().Add(time.Second))
	}
}

// blastClient sends datagrams to "addr,seconds" for that long and prints
// "sent N".
func blastClient(arg string) error {
	addr, secs, _ := strings.Cut(arg, ",")
	d, err := strconv.Atoi(secs)
	if err != nil {
		return fmt.Errorf("blast-client wants address,seconds: %v", err)
	}
	c, err := net.Dial("udp"+network(addr), net.JoinHostPort(addr, blastPort))
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.UDPConn).SetWriteBuffer(8 << 20)
	pc := batchConn(c.(*net.UDPConn), addr)
	msgs := make([]ipv4.Message, blastBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, blastPayload)}
	}
	sent := 0
	for end := time.Now().Add(time.Duration(d) * time.Second); time.Now().Before(end); {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			// ENOBUFS and the like when the path is saturated: the
			// datagrams were not offered, so they do not count.
			time.Sleep(50 * time.Microsecond)
			continue
		}
		sent += n
	}
	fmt.Println("sent", sent)
	return nil
}
