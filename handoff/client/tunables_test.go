package client

import (
	"testing"
	"time"
)

// The tunables are the values of the protocol's constants table (§11):
// both parties of a deployment must agree on them, so a change is a
// protocol change and must show here.
func TestTunables(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"MaxControlDatagram", MaxControlDatagram, 548},
		{"MaxRefreshEntries", MaxRefreshEntries, 80},
		{"RTOInitial", RTOInitial, 200 * time.Millisecond},
		{"MaxTransmissions", MaxTransmissions, 4},
		{"MaxChallengesInRow", MaxChallengesInRow, 3},
		{"UnreachableProbeInterval", UnreachableProbeInterval, 10 * time.Second},
		{"RefreshInterval", RefreshInterval, time.Minute},
		{"RefreshJitter", RefreshJitter, 0.20},
		{"CacheIdleTimeout", CacheIdleTimeout, 5 * time.Minute},
		{"CacheMaxEntries", CacheMaxEntries, 262144},
		{"PendingBufferPackets", PendingBufferPackets, 8},
		{"MaxPendingPerPeer", MaxPendingPerPeer, 256},
		{"RefusedHoldDown", RefusedHoldDown, time.Second},
		{"NotifyRate", NotifyRate, 10},
		{"NotifyBurst", NotifyBurst, 20},
		{"PeerIdleTimeout", PeerIdleTimeout, time.Hour},
		{"CapableRecordTTL", CapableRecordTTL, 720 * time.Hour},
		// Not in §11: the client's own bounds.
		{"MaxPeers", MaxPeers, 1024},
		{"NotifyCreditPerPacket", NotifyCreditPerPacket, 10},
		{"NotifyCreditMax", NotifyCreditMax, 65536},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
