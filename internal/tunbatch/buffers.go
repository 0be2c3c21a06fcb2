package tunbatch

// cacheLine is the size of a cache line on the CPUs a gateway runs on,
// and lineSpan how many lines a 4 KiB page holds: the span over which a
// level-1 data cache's set index repeats (32 KiB, 8 ways, 64 sets).
const (
	cacheLine = 64
	lineSpan  = 4096 / cacheLine
)

// Buffers returns n buffers of size octets each, for a burst of packets.
//
// Each starts a different number of cache lines past a page boundary.
// Buffers of a TUN read's size (64 KiB and more) are each allocated on
// their own pages, so without this the first bytes of every buffer, where
// the headers a translator reads and writes are, would share one set of
// the L1 cache; with its eight ways, a burst of more than eight packets
// would evict its own headers. Spread over all 64 offsets, a burst's
// headers fall in as many sets. It costs at most 4 KiB a buffer.
func Buffers(n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		// 7 is odd, so i*7 mod 64 takes all 64 values in turn, and
		// neighbours land seven lines apart rather than in adjacent ones.
		skew := (i * 7 % lineSpan) * cacheLine
		bufs[i] = make([]byte, skew+size)[skew:]
	}
	return bufs
}
