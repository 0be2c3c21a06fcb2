module github.com/v6xlat/xlat

go 1.23.1

require (
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/net v0.39.0
	golang.zx2c4.com/wireguard v0.0.0-20260522210424-ecfc5a8d5446
)

require (
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/sys v0.32.0 // indirect
	golang.zx2c4.com/wintun v0.0.0-20230126152724-0fa3db229ce2 // indirect
)
