package checksum

// IsNeutral reports whether data whose words sum to s leaves a checksum
// unchanged when added to it: s is +0 or -0. A prefix whose words sum to a
// neutral value (the RFC 6052 well-known prefix 64:ff9b::/96, the RFC 8215
// §6 examples) embeds an IPv4 address without changing transport checksums
// (RFC 6052 §4.1).
func IsNeutral(s uint16) bool {
	return s == 0 || s == 0xffff
}

// Adjustment returns the one's-complement word that restores the sum of an
// address after its prefix words summing to fromSum were replaced by words
// summing to toSum: fromSum - toSum. RFC 6296 §3.1 calls it the adjustment,
// computed once per mapping as "internal minus external".
func Adjustment(fromSum, toSum uint16) uint16 {
	// RFC 6296 Appendix B computes it by adding the complement, which
	// yields -0 rather than +0 for equal sums; either leaves the sum intact.
	return Combine(fromSum, ^toSum)
}

// ApplyAdjustment adds adj to an address word w. A result of 0xFFFF is
// written as 0x0000 (RFC 6296 §3.2, §3.3), so that a mapping never produces
// the all-ones subnet or interface word; both zeros have the same sum, so the
// address stays neutral.
func ApplyAdjustment(w, adj uint16) uint16 {
	r := Combine(w, adj)
	if r == 0xffff {
		return 0
	}
	return r
}
