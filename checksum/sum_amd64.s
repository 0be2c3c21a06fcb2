//go:build amd64 && !purego

#include "textflag.h"

// Each 32-byte load is split into the low and high 16-bit halves of its
// dwords (VPAND with 0x0000ffff, VPSRLD by 16) and both are added to 32-bit
// lanes. No shuffles, so the loop runs on the vector ALUs alone; four
// accumulators hide the add latency.

DATA lowmask<>+0(SB)/8, $0x0000ffff0000ffff
DATA lowmask<>+8(SB)/8, $0x0000ffff0000ffff
DATA lowmask<>+16(SB)/8, $0x0000ffff0000ffff
DATA lowmask<>+24(SB)/8, $0x0000ffff0000ffff
GLOBL lowmask<>(SB), RODATA|NOPTR, $32

// func sumAVX2(b []byte) uint64
TEXT ·sumAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	SHRQ $6, CX
	VMOVDQU lowmask<>(SB), Y15
	VPXOR   Y0, Y0, Y0
	VPXOR   Y1, Y1, Y1
	VPXOR   Y2, Y2, Y2
	VPXOR   Y3, Y3, Y3

loop:
	VMOVDQU 0(SI), Y4
	VMOVDQU 32(SI), Y5
	VPSRLD  $16, Y4, Y6
	VPSRLD  $16, Y5, Y7
	VPAND   Y15, Y4, Y4
	VPAND   Y15, Y5, Y5
	VPADDD  Y4, Y0, Y0
	VPADDD  Y6, Y1, Y1
	VPADDD  Y5, Y2, Y2
	VPADDD  Y7, Y3, Y3
	ADDQ    $64, SI
	DECQ    CX
	JNZ     loop

	// Widen the 32 dword lanes to qwords and add them up.
	VEXTRACTI128 $1, Y0, X4
	VPMOVZXDQ    X0, Y8
	VPMOVZXDQ    X4, Y9
	VPADDQ       Y8, Y9, Y10
	VEXTRACTI128 $1, Y1, X4
	VPMOVZXDQ    X1, Y8
	VPMOVZXDQ    X4, Y9
	VPADDQ       Y8, Y10, Y10
	VPADDQ       Y9, Y10, Y10
	VEXTRACTI128 $1, Y2, X4
	VPMOVZXDQ    X2, Y8
	VPMOVZXDQ    X4, Y9
	VPADDQ       Y8, Y10, Y10
	VPADDQ       Y9, Y10, Y10
	VEXTRACTI128 $1, Y3, X4
	VPMOVZXDQ    X3, Y8
	VPMOVZXDQ    X4, Y9
	VPADDQ       Y8, Y10, Y10
	VPADDQ       Y9, Y10, Y10
	VEXTRACTI128 $1, Y10, X11
	VPADDQ       X10, X11, X11
	VPSHUFD      $0x4e, X11, X12
	VPADDQ       X11, X12, X11
	VMOVQ        X11, AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
