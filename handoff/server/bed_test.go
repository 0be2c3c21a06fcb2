package server

import "github.com/v6xlat/xlat/handoff/internal/handofftest"

// The shared test bed under the short names these tests use.
var (
	n1, sAddr, nCP   = handofftest.N, handofftest.S, handofftest.NCP
	client1, client2 = handofftest.Client1, handofftest.Client2
	step, seqRand    = handofftest.Step, handofftest.SeqRand
)

type recorder = handofftest.Recorder[Event]
