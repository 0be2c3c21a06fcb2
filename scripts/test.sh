#!/usr/bin/env bash
# The project's test command: formatting, vet, unit/golden/netns tests with
# the race detector, the oracle module, and short fuzz smoke runs.
# Usage: scripts/test.sh            (netns tests need root; they skip otherwise)
#        FUZZTIME=1m scripts/test.sh  (longer fuzz runs)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-5s}

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
(cd internal/oracle && go vet ./...)

echo "== go test (race)"
go test -race -count=1 ./...

echo "== the README's demo command"
# As written in the README (root is already ours here, so no sudo); its
# transcript is the output a newcomer sees.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	go run ./examples/demo
else
	echo "(skipped: the demo needs root and ip(8))"
fi

echo "== oracle module (gVisor, gopacket)"
(cd internal/oracle && go test -count=1 ./...)

echo "== fuzz smoke ($FUZZTIME each)"
# Each line: package directory (relative to its module) and target.
fuzz() { # module-dir package target
	(cd "$1" && go test -run '^$' -fuzz "^$3\$" -fuzztime "$FUZZTIME" "$2")
}
while read -r mod pkg target; do
	[ -z "$mod" ] && continue
	fuzz "$mod" "$pkg" "$target"
done <<'LIST'
. ./checksum FuzzChecksum
. ./translate FuzzTo4
. ./translate FuzzTo6
. ./map66 FuzzMapRoundTrip
. ./siit FuzzSIIT
. ./nat64 FuzzNAT64
. ./nat64 FuzzSyncReceive
. ./handoff FuzzParse
. ./handoff FuzzServerHandle
. ./handoff FuzzClientReceive
internal/oracle . FuzzChecksumVsGVisor
internal/oracle . FuzzTranslateGopacket
LIST
echo "== Jool graybox corpus"
# The acceptance summary (go test shows test output only for failures).
go test -count=1 -run 'JoolGraybox' -v ./siit ./nat64 | grep -E '^(graybox|--- FAIL|FAIL)' || true
echo "== all checks passed"
