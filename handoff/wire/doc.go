// Package wire is the handoff/1 wire format (docs/handoff-protocol.md §5):
// the SESSION header every datagram starts with, the control messages, and
// carried packets, with Parse and Datagram.Append between them and octets.
// It holds no state and does no I/O; packages handoff/server and
// handoff/client build the two ends on it, and a tool that only reads or writes
// datagrams (a dissector, a fuzzer, a test peer) needs only this package.
package wire
