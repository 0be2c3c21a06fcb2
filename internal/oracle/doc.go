// Package oracle holds differential tests and comparison benchmarks that need
// heavyweight third-party code: gVisor's checksum and header packages as an
// independent oracle and speed peer, and gopacket as the decode/serialise
// baseline a typical Go translator pays.
//
// It is a separate module (its own go.mod, with a replace pointing at the
// root) so that gVisor is never among xlat's requirements, and the
// gopacket it decodes with (v1.7.7, which asks a newer Go) not the one
// xlatgw reads pcap files with (v1.3.1). Run it from the repository root
// with:
//
//	(cd internal/oracle && go test ./...)
package oracle
