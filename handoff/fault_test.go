package handoff

import (
	"testing"
)

// Hardening: answers never larger than what asked for them, except the
// mapping answers the protocol exists for. An authenticated 1,472-octet
// request of small broken messages drew 4,416 octets of ERRORs.
func TestFaultErrorsNoAmplification(t *testing.T) {
	s, _ := newTestServer(t, ServerConfig{})
	head := unhex(t, hexE4)[:38] // SESSION with the cookie of nCP
	// Broken messages of every kind that can be broken, two octets each
	// (type, length 0), filling a 1,472-octet datagram.
	kinds := []uint8{TypeMapRequest, TypeMap, TypeLookup, TypeUnmapped, TypeRefresh, TypeInvalidate, TypeError}
	req := append([]byte(nil), head...)
	for i := 0; len(req)+2 <= 1472; i++ {
		req = append(req, kinds[i%len(kinds)], 0)
	}
	replies := s.Handle(step(1), nCP, req, nil)
	total := 0
	for _, r := range replies {
		total += len(r)
	}
	if total > len(req) {
		t.Errorf("%d octets of broken messages drew %d octets of answers", len(req), total)
	}
	d, err := Parse(one(t, replies))
	if err != nil || len(d.Messages) == 0 || len(d.Messages) > len(kinds) {
		t.Errorf("answer %+v %v: want at most one ERROR per kind of broken message", d, err)
	}
	// A request with few octets of broken messages gets fewer ERRORs
	// than it has kinds of them, the rest counted.
	small := append(append([]byte(nil), head...), TypeMapRequest, 0, TypeLookup, 0, TypeRefresh, 0)
	r := one(t, s.Handle(step(1), nCP, small, nil))
	if len(r) > len(small) || s.Stats().ErrorsSuppressed == 0 {
		t.Errorf("%d-octet request: %d-octet answer, %d suppressed", len(small), len(r), s.Stats().ErrorsSuppressed)
	}
}
