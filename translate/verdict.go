package translate

import (
	"sync"
	"sync/atomic"
)

// Verdict says what to do with the result of a translation.
type Verdict uint8

const (
	// Drop: discard the packet; Result.Reason says why.
	Drop Verdict = iota
	// Forward: send Result's packet out of the other family's side.
	Forward
	// Fragment: the translated packet in Result is larger than the path
	// allows and may be fragmented; split it with SplitIPv6 or SplitIPv4
	// into pieces of at most Result.MTU bytes and forward them.
	Fragment
	// Reply: Result's packet is an ICMP error the translator itself
	// generated; send it back out of the side the input came from.
	// Result.Reason says why the input was refused.
	Reply
)

// String returns the verdict's name.
func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case Forward:
		return "forward"
	case Fragment:
		return "fragment"
	case Reply:
		return "reply"
	}
	return "verdict?"
}

// Outcome is a verdict and the reason for it.
type Outcome struct {
	Verdict Verdict
	Reason  Reason
}

// Result is the outcome of translating one packet. The output packet, when
// there is one, is buf[Start:End] of the buffer the caller passed.
//
// Result has four fields (Outcome embedded, so r.Verdict and r.Reason read
// as usual) because Go keeps structs of at most four fields and 32 bytes in
// registers; a fifth field would send every return through memory.
type Result struct {
	Outcome
	Start, End int
	// MTU is the largest packet size allowed on the way out, for Fragment.
	MTU int
}

// drop is the result of refusing a packet silently.
func drop(r Reason) Result { return Result{Outcome: Outcome{Reason: r}} }

// Packet returns the output packet within buf.
func (r Result) Packet(buf []byte) []byte { return buf[r.Start:r.End] }

// Reason names why a packet was dropped or refused. Reasons are counted in
// Stats.
type Reason uint8

// The reasons, each counted in Stats and named by String as in the
// metrics.
const (
	ReasonNone               Reason = iota // forwarded, or a reply without a refusal
	ReasonTruncated                        // shorter than its headers or length fields say
	ReasonMalformed                        // a header field is invalid (version, IHL, lengths)
	ReasonBadChecksum                      // IPv4 header or ICMP error checksum does not verify
	ReasonHopLimit                         // TTL / Hop Limit exhausted (Time Exceeded sent)
	ReasonSourceRoute                      // unexpired IPv4 source route option (RFC 7915 §4.1)
	ReasonRoutingHeader                    // IPv6 Routing header with Segments Left != 0 (§5.1)
	ReasonExtAfterFragment                 // extension header after the Fragment header (§5.1.1)
	ReasonFragmentedICMP                   // fragmented ICMP is not translated (§1.2)
	ReasonICMPType                         // ICMP type or code with no translation (§4.2, §5.2)
	ReasonICMPPointer                      // Parameter Problem pointer with no translation
	ReasonNestedICMPError                  // ICMP error inside an ICMP error (§4.3, §5.3)
	ReasonUDPChecksumZero                  // IPv4 UDP with checksum 0 that cannot be amended (§4.5)
	ReasonPacketTooBig                     // exceeds the next-hop MTU with DF set
	ReasonNoHeadroom                       // the caller's buffer has no room for the growth
	ReasonUntranslatableSrc                // the policy has no mapping for the source
	ReasonUntranslatableDst                // the policy has no mapping for the destination
	ReasonPolicyProhibited                 // the policy refused the packet (filtering, denylist)
	ReasonPolicyNoResources                // the policy is out of ports, sessions or memory
	ReasonIllegalSource                    // a source in a class a router must not forward (addrclass.go)
	ReasonICMPErrorRateLimit               // an ICMP error was due but the rate limit held it
	ReasonNoBinding                        // no BIB entry or session for an inbound packet (RFC 6146 §3.5)
	ReasonHeld                             // kept by the policy (an unsolicited SYN held for simultaneous open)
	ReasonLimit                            // a session limit (overall, per source, per /64) was reached
	ReasonUnsupported                      // a transport the policy does not handle (RFC 6146 §3.4)
	ReasonIllegalDestination               // a destination in a class a router must not forward, or none to translate to (addrclass.go)
	ReasonOwnAddress                       // addressed to the translator itself (an echo request is answered), or translated onto its own address
)

// reasonNames are the built-in reasons' names, then those policies
// registered with NewReason, up to 256 in all.
var reasonNames = []string{
	ReasonNone:               "none",
	ReasonTruncated:          "truncated",
	ReasonMalformed:          "malformed",
	ReasonBadChecksum:        "bad-checksum",
	ReasonHopLimit:           "hop-limit-exceeded",
	ReasonSourceRoute:        "source-route",
	ReasonRoutingHeader:      "routing-header",
	ReasonExtAfterFragment:   "extension-after-fragment",
	ReasonFragmentedICMP:     "fragmented-icmp",
	ReasonICMPType:           "untranslatable-icmp",
	ReasonICMPPointer:        "untranslatable-icmp-pointer",
	ReasonNestedICMPError:    "nested-icmp-error",
	ReasonUDPChecksumZero:    "udp-checksum-zero",
	ReasonPacketTooBig:       "packet-too-big",
	ReasonNoHeadroom:         "no-headroom",
	ReasonUntranslatableSrc:  "untranslatable-source",
	ReasonUntranslatableDst:  "untranslatable-destination",
	ReasonPolicyProhibited:   "prohibited",
	ReasonPolicyNoResources:  "no-resources",
	ReasonIllegalSource:      "illegal-source",
	ReasonICMPErrorRateLimit: "icmp-error-rate-limited",
	ReasonNoBinding:          "no-binding",
	ReasonHeld:               "held",
	ReasonLimit:              "session-limit",
	ReasonUnsupported:        "unsupported-protocol",
	ReasonIllegalDestination: "illegal-destination",
	ReasonOwnAddress:         "own-address",
}

// String returns the reason's name, as metrics label it.
func (r Reason) String() string {
	reasonMu.Lock()
	defer reasonMu.Unlock()
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason?"
}

var reasonMu sync.Mutex

// NewReason registers a refusal reason of a policy's own, named as metrics
// will label it, and returns it: the engine needs to know nothing of it. A
// policy that returns it has the packet dropped and counted under it in
// Stats. Register at package initialisation
// (var ReasonX = translate.NewReason("x")); a name registered twice gives
// the same Reason, and there are at most 256 reasons in all (it panics
// beyond, at initialisation).
func NewReason(name string) Reason {
	reasonMu.Lock()
	defer reasonMu.Unlock()
	for i, n := range reasonNames {
		if n == name {
			return Reason(i)
		}
	}
	if len(reasonNames) == 256 {
		panic("translate: more than 256 reasons")
	}
	reasonNames = append(reasonNames, name)
	return Reason(len(reasonNames) - 1)
}

// Reasons returns every reason, built-in and registered, for exporting
// counters.
func Reasons() []Reason {
	reasonMu.Lock()
	defer reasonMu.Unlock()
	rs := make([]Reason, 0, len(reasonNames)-1)
	for r := 1; r < len(reasonNames); r++ {
		rs = append(rs, Reason(r))
	}
	return rs
}

// Stats counts packets that were not simply forwarded, per verdict and per
// reason. All fields are read and
// written atomically, so a metrics exporter can read them without locks
// while packets flow.
type Stats struct {
	verdicts [4]atomic.Uint64
	reasons  [256]atomic.Uint64 // every Reason, built-in or registered
}

// Verdicts returns how many packets got verdict v. Forward is not counted
// here: an atomic add per forwarded packet would cost a tenth of its
// translation, and whoever moves the packets counts them anyway.
func (s *Stats) Verdicts(v Verdict) uint64 { return s.verdicts[v&3].Load() }

// Reason returns how many packets were dropped or refused for r.
func (s *Stats) Reason(r Reason) uint64 {
	return s.reasons[r].Load()
}

// count records a result. Forwarded packets are not counted here: an
// atomic add per packet costs as much as a tenth of a translation, and the
// caller that moves the packet counts packets and bytes anyway.
func (s *Stats) count(r Result) {
	if r.Verdict == Forward {
		return
	}
	s.verdicts[r.Verdict&3].Add(1)
	if r.Reason != ReasonNone {
		s.reasons[r.Reason].Add(1)
	}
}
