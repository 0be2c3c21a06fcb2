package client

import (
	"github.com/v6xlat/xlat/handoff/internal/handofftest"
	"github.com/v6xlat/xlat/handoff/server"
)

// The shared test bed under the short names these tests use.
var (
	n1, sAddr        = handofftest.N, handofftest.S
	client1, client2 = handofftest.Client1, handofftest.Client2
	step             = handofftest.Step
)

type recorder = handofftest.Recorder[server.Event]
