// Package handoff implements the wire format of handoff/1, the protocol
// with which a NAT64 hands the connection tracking of its flows to the
// IPv4 server they reach (spec: handoff.md in the project's shared
// specifications).
//
// This package currently holds the pieces both ends share:
//
//   - the tunables of §11 (constants.go);
//   - the message codec of §4 and §5: Parse walks a whole datagram and
//     applies the framing rules (drop whole, skip unknown, ignore short
//     or excess payload), Datagram.Append encodes one (codec.go);
//   - the token and cookie of §6, first 8 octets of HMAC-SHA256 over a
//     label, an IPv4 address, a port and an epoch, never 0
//     (handshake.go).
//
// The golden vectors of §12 (E1-E8 and the short forms) are the tests.
// The server's table, the NAT64 client and cmd/handoffd build on this.
package handoff
