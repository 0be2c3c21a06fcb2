package handoff

// GenerationNewer reports whether generation a is newer than b. A
// binding's generation counts up through 2^32 and wraps, so both ends
// compare generations in serial number arithmetic (RFC 1982, §7.1): a
// is newer than b iff (a-b) mod 2^32 is in 1...2^31-1.
func GenerationNewer(a, b uint32) bool { d := a - b; return d != 0 && d < 1<<31 }
