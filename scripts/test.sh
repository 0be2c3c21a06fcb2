#!/usr/bin/env bash
# The project's test command: formatting, vet, staticcheck, unit/golden/netns tests with
# the race detector, the oracle module, and short fuzz smoke runs.
# Usage: scripts/test.sh            (netns tests need root; they skip otherwise)
#        FUZZTIME=1m scripts/test.sh  (longer fuzz runs, by time)
set -euo pipefail
cd "$(dirname "$0")/.."

# Fuzz smoke runs are counted in executions, a few seconds' worth each on
# the 2-core CI machine: a -fuzztime given as a duration can fail at its
# deadline with "context deadline exceeded" and no crasher, a race in Go
# 1.26's fuzz coordinator (go.dev/issue/75804, fixed in Go 1.27). FUZZTIME
# replaces the counts with one duration for longer runs by hand.
FUZZTIME=${FUZZTIME:-}

echo "== no compiled binaries in the tree"
scripts/check-tree.sh

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
(cd internal/oracle && go vet ./...)

echo "== staticcheck"
# Pinned, fetched through the module proxy like every dependency; it
# finds what vet does not (dead assignments, unused fields, deprecated
# calls).
STATICCHECK="go run honnef.co/go/tools/cmd/staticcheck@v0.8.2"
$STATICCHECK ./...
(cd internal/oracle && $STATICCHECK ./...)

echo "== go test (race)"
# The failover tests run on their own below, where their figures show.
# The results go through skipcheck: in CI a test that skips without a
# line in scripts/skips.txt (what this machine cannot do, with why) fails
# the run, as a failure does.
failovers='^(TestCampusFailover|TestSyncFailoverEndToEnd)$'
skipcheck=$(mktemp -d)/skipcheck
go build -o "$skipcheck" ./internal/skipcheck
if [ -n "${CI:-}" ]; then
	go test -race -count=1 -timeout 20m -skip "$failovers" -json ./... | "$skipcheck" scripts/skips.txt
else
	go test -race -count=1 -timeout 20m -skip "$failovers" ./...
fi

echo "== failover end to end: how long traffic stopped"
out=$(mktemp)
if ! go test -race -count=1 -run "$failovers" -v ./cmd/xlatgw >"$out" 2>&1; then
	cat "$out"
	exit 1
fi
grep -E '^(campus failover|failover:|--- SKIP)' "$out" || true
if [ -n "${CI:-}" ] && grep -q -- '--- SKIP' "$out"; then
	echo "a failover test skipped in CI"
	exit 1
fi
rm -f "$out"

echo "== every benchmark, once"
# Not a measurement: a benchmark that no longer runs is caught here.
go test -count=1 -run '^$' -bench . -benchtime 1x ./... >"$out" 2>&1 || { cat "$out"; exit 1; }
grep -c '^Benchmark' "$out" | sed 's/$/ benchmarks ran/'
rm -f "$out"

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

echo "== fuzz smoke (${FUZZTIME:-counted executions}, each target)"
# Each line: module directory, package, target, executions.
fuzz() { # module-dir package target executions
	(cd "$1" && go test -run '^$' -fuzz "^$3\$" -fuzztime "${FUZZTIME:-$4x}" "$2")
}
while read -r mod pkg target n; do
	[ -z "$mod" ] && continue
	fuzz "$mod" "$pkg" "$target" "$n"
done <<'LIST'
. ./checksum FuzzChecksum 300000
. ./translate FuzzTo4 200000
. ./translate FuzzTo6 200000
. ./map66 FuzzMapRoundTrip 200000
. ./siit FuzzSIIT 150000
. ./nat64 FuzzNAT64 150000
. ./nat64 FuzzSyncReceive 80000
. ./handoff/wire FuzzParse 120000
. ./handoff/server FuzzServerHandle 40000
. ./handoff/client FuzzClientReceive 60000
internal/oracle . FuzzChecksumVsGVisor 150000
internal/oracle . FuzzTranslateGopacket 120000
LIST
echo "== Jool graybox corpus"
# The acceptance summary (go test shows test output only for failures);
# both translators' lines must be there, with nothing failed.
summary=$(go test -count=1 -run 'JoolGraybox' -v ./siit ./nat64 | grep -E '^(graybox|--- FAIL|--- SKIP|FAIL)' || true)
echo "$summary"
if [ -n "${XLAT_GRAYBOX_DIR:-}" ] && [ "$(echo "$summary" | grep -cE '^graybox-(siit|nat64): [0-9]+ passed, 0 failed$')" != 2 ]; then
	echo "the graybox corpus at $XLAT_GRAYBOX_DIR did not run whole"
	exit 1
fi
echo "== all checks passed"
