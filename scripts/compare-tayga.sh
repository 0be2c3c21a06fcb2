#!/usr/bin/env bash
# Benchmarks xlatgw against TAYGA on the same netns topology in one run
# (IPv6 client -- NAT64 -- IPv4 server, iperf3 TCP and 64-byte UDP) and
# prints both. Needs root; installs tayga and iperf3 from Debian first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tayga >/dev/null || ! command -v iperf3 >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tayga iperf3 >/dev/null
fi
XLAT_COMPARE_TAYGA=1 go test -count=1 -run '^TestCompareTAYGA$' -v ./cmd/xlatgw/
