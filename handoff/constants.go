package handoff

// The tunables of handoff/1 (spec §11) that both parties share. Those
// only one party uses are that party's: handoff/client and
// handoff/server; those the spec marks as configurable have
// configuration fields that default to them.
const (
	DefaultServerPort  = 64646 // HP, dynamic range, not IANA-assigned
	ControlPortMin     = 1024  // NAT64 control ports 1024-1027
	ControlPortMax     = 1027
	DefaultControlPort = 1024
	SlotPortMin        = 1028
	SlotPortMax        = 65535

	MaxRequestsPerDatagram = 16 // MAP_REQUEST + LOOKUP

	LogTimeLayout = "2006-01-02 15:04:05.000000" // always UTC
)
