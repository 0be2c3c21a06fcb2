//go:build amd64 && !purego

package checksum

// useAVX2 is decided once at start-up: the vector loop needs both the CPU
// feature and an OS that saves the YMM registers.
var useAVX2 = detectAVX2()

// avx2Min is the length below which the scalar loop wins; the vector loop's
// set-up and horizontal reduction cost about as much as summing 128 bytes.
const avx2Min = 128

// avx2Chunk bounds one call of the vector loop so that its 32-bit lanes
// cannot overflow: each lane adds at most one 16-bit word per 32 bytes.
const avx2Chunk = 1 << 20

func sum(b []byte) uint64 {
	if len(b) < avx2Min || !useAVX2 {
		return sumGeneric(b)
	}
	return sumLarge(b)
}

func sumLarge(b []byte) uint64 {
	var acc uint64
	for len(b) >= 64 {
		n := len(b) &^ 63
		if n > avx2Chunk {
			n = avx2Chunk
		}
		acc = add64(acc, sumAVX2(b[:n]))
		b = b[n:]
	}
	return add64(acc, sumGeneric(b))
}

// add64 adds with end-around carry.
func add64(a, b uint64) uint64 {
	s := a + b
	if s < a {
		s++
	}
	return s
}

func detectAVX2() bool {
	const (
		osxsave = 1 << 27 // CPUID.1:ECX
		avx     = 1 << 28 // CPUID.1:ECX
		avx2    = 1 << 5  // CPUID.(7,0):EBX
	)
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	if ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	// XCR0 bits 1 (SSE) and 2 (AVX): the OS saves XMM and YMM state.
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&avx2 != 0
}

// sumAVX2 sums len(b) bytes, a non-zero multiple of 64 no larger than
// avx2Chunk, as little-endian words; the result is compatible with
// sumGeneric's.
//
//go:noescape
func sumAVX2(b []byte) uint64

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax, edx uint32)
