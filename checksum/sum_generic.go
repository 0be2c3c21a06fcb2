//go:build !amd64 || purego

package checksum

func sum(b []byte) uint64 { return sumGeneric(b) }
