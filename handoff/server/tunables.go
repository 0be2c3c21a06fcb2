package server

import (
	"time"

	"github.com/v6xlat/xlat/handoff"
)

// The tunables of handoff/1 (spec §11) that only the server uses; those
// the spec marks as configurable have Config fields (and handoffd flags)
// that default to them.
const (
	TableSlots  = handoff.SlotPortMax - handoff.SlotPortMin + 1 // 64508
	MaxDatagram = 1472                                          // UDP payload limit

	CookieKeyLifetime   = 24 * time.Hour
	ChallengeRatePer24  = 20 // per second, per source /24
	ChallengeBurstPer24 = 50
	ChallengeRateGlobal = 2000 // per second
	MaxTables           = 64
	QuotaPrefixLen      = 64
	PrefixQuota         = 4096
	CreateRate          = 500 // per second, per table
	CreateBurst         = 5000
	SnapshotInterval    = 300 * time.Second
)
