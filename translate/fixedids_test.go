package translate

// The tests compare translators' output byte for byte (plain path against
// general, To4 against AppendTo4, fixtures): their IPv4 IDs must come
// from one counter from 0. TestIdentification turns it off for itself.
func init() { fixedIDs = true }
