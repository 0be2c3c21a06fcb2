package netnstest

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv6"
)

// flows-client and udp-sink measure small-packet forwarding: a sender
// offering 16-byte UDP datagrams (64-byte IPv6 packets) as fast as it can,
// 64 per sendmmsg so that the load generator, which shares the CPUs with
// the gateway under test, costs as little per packet as it can (iperf3
// sends one datagram per call and runs out of CPU before a fast gateway
// does), and a receiver the kernel counts for.
const (
	blastPort    = "9100"
	blastBatch   = 64
	blastPayload = 16
)

// flowsClient sends blastPayload-octet UDP datagrams to port 9100 of the
// IPv6 address in "addr,seconds,flows" for that long, the source port
// stepping through 10000..10000+flows-1 one packet at a time, and prints
// "sent N". With flows 1 it is one flow. It writes UDP headers itself on a
// raw socket (the kernel fills in the IPv6 header and, through
// IPV6_CHECKSUM, the UDP checksum) and hands the kernel 64 datagrams per
// sendmmsg, so that one generator serves both the single flow and the
// many flows of the comparison, at the same cost per packet.
func flowsClient(arg string) error {
	f := strings.Split(arg, ",")
	if len(f) != 3 {
		return fmt.Errorf("flows-client wants address,seconds,flows, not %q", arg)
	}
	dst := net.ParseIP(f[0])
	secs, err1 := strconv.Atoi(f[1])
	flows, err2 := strconv.Atoi(f[2])
	if dst == nil || dst.To4() != nil || err1 != nil || err2 != nil || flows < 1 || flows > 50000 {
		return fmt.Errorf("flows-client: bad argument %q", arg)
	}
	c, err := net.ListenPacket("ip6:17", "::")
	if err != nil {
		return err
	}
	defer c.Close()
	pc := ipv6.NewPacketConn(c)
	// RFC 8200 §8.1: a zero UDP checksum is not allowed over IPv6; the
	// kernel computes it at offset 6 of what we write.
	if err := pc.SetChecksum(true, 6); err != nil {
		return fmt.Errorf("IPV6_CHECKSUM: %w", err)
	}
	c.(*net.IPConn).SetWriteBuffer(8 << 20)
	to := &net.IPAddr{IP: dst}
	msgs := make([]ipv6.Message, blastBatch)
	for i := range msgs {
		b := make([]byte, 8+blastPayload)
		b[2], b[3] = 0x23, 0x8c // port 9100
		b[4], b[5] = 0, 8+blastPayload
		msgs[i].Buffers = [][]byte{b}
		msgs[i].Addr = to
	}
	sent, port := 0, 0
	for end := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(end); {
		for i := range msgs {
			sp := 10000 + port
			msgs[i].Buffers[0][0], msgs[i].Buffers[0][1] = byte(sp>>8), byte(sp)
			if port++; port == flows {
				port = 0
			}
		}
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		sent += n
	}
	fmt.Println("sent", sent)
	return nil
}

// udpSink binds addr:9100 and never reads, so that every datagram that
// reaches it shows in the namespace's UDP counters (/proc/net/snmp
// InDatagrams, or RcvbufErrors once its small buffer is full) without a
// receiver's system calls competing with the path under test. Bound to
// "::", it takes both families. It says
// "listening" and holds the socket until its standard input closes.
func udpSink(addr string) error {
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, blastPort))
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("listening")
	io.Copy(io.Discard, os.Stdin)
	return nil
}
