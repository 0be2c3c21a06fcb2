#!/usr/bin/env bash
# The datapath comparison, every row on one netns topology in one run: the
# kernel's own IPv6 forwarding (the testbed's ceiling), xlatgw SIIT and
# NAT64 on TUN and on AF_XDP, and TAYGA; each measured with TCP (iperf3) and
# with 64-byte UDP from two generators (the test's own sendmmsg generator
# and Debian's trafgen), one flow and a new source port every packet.
# Datagrams are counted at the server's UDP layer. Needs root; installs
# tayga, iperf3, netsniff-ng and ethtool.
#
#   sudo scripts/compare.sh                 # 5 runs of every row
#   RUNS=1 SECS=2 ROWS=kernel,siit sudo -E scripts/compare.sh
#   ROWS=nat64-xdp,nat64-xdp@1000000 sudo -E scripts/compare.sh
#                                          # a row@N has N more routes installed
#                                          # (a synthetic full BGP table)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tayga >/dev/null || ! command -v iperf3 >/dev/null || ! command -v trafgen >/dev/null || ! command -v ethtool >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tayga iperf3 netsniff-ng ethtool >/dev/null
fi
XLAT_COMPARE=1 XLAT_COMPARE_RUNS="${RUNS:-5}" XLAT_COMPARE_SECS="${SECS:-3}" \
	XLAT_COMPARE_ROWS="${ROWS:-kernel,siit,nat64,siit-xdp,nat64-xdp,tayga}" \
	go test -count=1 -timeout 90m -run '^TestCompare$' -v ./cmd/xlatgw/ | grep -v -e '^=== RUN' -e '^--- PASS: TestCompare/'
