package client

import "time"

// The tunables of handoff/1 (spec §11) that only the NAT64's client
// uses; those the spec marks as configurable have Config fields that
// default to them.
const (
	MaxControlDatagram = 548 // without carried packets
	MaxRefreshEntries  = 80  // per datagram sent

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
)
