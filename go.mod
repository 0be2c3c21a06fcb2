module github.com/v6xlat/xlat

go 1.24.0

require (
	github.com/cilium/ebpf v0.20.0
	github.com/gopacket/gopacket v1.3.1
	github.com/prometheus/client_golang v1.22.0
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/net v0.46.0
	golang.org/x/sys v0.37.0
	golang.zx2c4.com/wireguard v0.0.0-20260522210424-ecfc5a8d5446
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.1 // indirect
	github.com/prometheus/common v0.62.0 // indirect
	github.com/prometheus/procfs v0.15.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.zx2c4.com/wintun v0.0.0-20230126152724-0fa3db229ce2 // indirect
	google.golang.org/protobuf v1.36.5 // indirect
)
