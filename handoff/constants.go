package handoff

import "time"

// The tunables of handoff/1 (spec §11). Those the spec marks as
// configurable have configuration fields that default to these.
const (
	DefaultServerPort  = 64646 // HP, dynamic range, not IANA-assigned
	ControlPortMin     = 1024  // NAT64 control ports 1024-1027
	ControlPortMax     = 1027
	DefaultControlPort = 1024
	SlotPortMin        = 1028
	SlotPortMax        = 65535
	TableSlots         = SlotPortMax - SlotPortMin + 1 // 64508

	MaxDatagram            = 1472 // UDP payload limit
	MaxControlDatagram     = 548  // without carried packets
	MaxRequestsPerDatagram = 16   // MAP_REQUEST + LOOKUP
	MaxRefreshEntries      = 80   // per datagram sent

	RTOInitial               = 200 * time.Millisecond
	MaxTransmissions         = 4
	MaxChallengesInRow       = 3
	UnreachableProbeInterval = 10 * time.Second
	RefreshInterval          = 60 * time.Second
	RefreshJitter            = 0.20
	CacheIdleTimeout         = 300 * time.Second
	CacheMaxEntries          = 262144
	PendingBufferPackets     = 8
	MaxPendingPerPeer        = 256
	RefusedHoldDown          = time.Second
	NotifyRate               = 10 // per second, per peer
	NotifyBurst              = 20
	PeerIdleTimeout          = 3600 * time.Second
	// MaxPeers bounds the servers a client tracks at once (the
	// configured and remembered ones besides): a NAT64 talking to many
	// destinations does not probe them all.
	MaxPeers = 1024
	// Notifications are paid for by the data traffic towards handoff
	// destinations: every outbound packet earns NotifyCreditPerPacket
	// octets (a quarter of the smallest IPv4 TCP packet), up to
	// NotifyCreditMax, which is also what a client starts with, and a
	// notification costs its datagram's octets times MaxTransmissions.
	// So beyond the first 64 KiB the notifications' control traffic stays
	// under a quarter of the data traffic that causes it.
	NotifyCreditPerPacket = 10
	NotifyCreditMax       = 64 << 10
	CapableRecordTTL      = 30 * 24 * time.Hour
	CookieKeyLifetime     = 24 * time.Hour
	ChallengeRatePer24    = 20 // per second, per source /24
	ChallengeBurstPer24   = 50
	ChallengeRateGlobal   = 2000 // per second
	MaxTables             = 64
	QuotaPrefixLen        = 64
	PrefixQuota           = 4096
	CreateRate            = 500 // per second, per table
	CreateBurst           = 5000
	SnapshotInterval      = 300 * time.Second
	LogTimeLayout         = "2006-01-02 15:04:05.000000" // always UTC
)
