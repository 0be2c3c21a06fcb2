#!/usr/bin/env bash
# Mutation testing, one package at a time: scripts/mutate.sh [PKG...]
# (default: the library packages). Not part of CI: minutes per package.
#
# Each package's mutants come from gremlins (go-gremlins/gremlins), run
# alone with one worker and a generous timeout, as a busy machine makes it
# report timeouts instead of results. A mutant that lives is either killed
# by a sharper test or listed, with one line on why no test can tell it
# from the original, in the package's equivalent_mutants.txt:
#
#	checksum.go:75:13 ARITHMETIC_BASE the final carry is 1 only when ...
#
# The summary counts those as explained (with the mutants gremlins sees no
# coverage for that were mutated by hand, listed the same way); efficacy
# counts them as killed.
# Run it before a change to a package lands; it exits 1 when a package has
# a survivor that is not listed.
set -euo pipefail
cd "$(dirname "$0")/.."
GREMLINS=${GREMLINS:-$(go env GOPATH)/bin/gremlins}
if [ ! -x "$GREMLINS" ]; then
	go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
fi
# The graybox corpus runs in translate's, siit's and nat64's tests; gremlins
# runs them in a copy of the module, where the corpus is not beside the
# root, so it is named here as .ci/run names it.
if [ -z "${XLAT_GRAYBOX_DIR:-}" ]; then
	for shared in ../shared /work/shared; do
		if [ -d "$shared/acceptance/jool-graybox" ]; then
			export XLAT_GRAYBOX_DIR="$(cd "$shared" && pwd)/acceptance/jool-graybox"
			break
		fi
	done
fi
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=(checksum header translate siit nat64 map66 handoff handoff/wire handoff/server handoff/client)
fi
status=0
survivors=()
printf '%-16s %7s %6s %12s %10s %9s\n' package killed lived not-covered explained efficacy
for p in "${pkgs[@]}"; do
	out=$(mktemp)
	# -E /: this package's files, not those of the packages under it.
	"$GREMLINS" unleash --workers 1 --timeout-coefficient 5 -E / "./$p" >"$out" 2>&1 || true
	equiv="$p/equivalent_mutants.txt"
	touch_equiv=$( [ -f "$equiv" ] && echo "$equiv" || echo /dev/null )
	killed=$(grep -c '^ *KILLED ' "$out" || true)
	eq=0
	lived=0
	while read -r _ kind _ where; do
		if grep -q "^$where $kind " "$touch_equiv"; then
			eq=$((eq + 1))
		else
			lived=$((lived + 1))
			survivors+=("$p: LIVED $kind at $where")
		fi
	done < <(grep '^ *LIVED ' "$out" || true)
	# Gremlins reads no coverage on some expressions (an expressionless
	# switch's cases): those listed were mutated by hand; the line says.
	notcov=0
	while read -r _ _ kind _ where; do
		if grep -q "^$where $kind " "$touch_equiv"; then
			eq=$((eq + 1))
		else
			notcov=$((notcov + 1))
			survivors+=("$p: NOT COVERED $kind at $where")
		fi
	done < <(grep '^ *NOT COVERED ' "$out" || true)
	total=$((killed + lived + eq))
	eff=$(awk -v k="$killed" -v e="$eq" -v t="$total" 'BEGIN { if (t) printf "%.1f%%", 100*(k+e)/t; else print "-" }')
	printf '%-16s %7d %6d %12d %10d %9s\n' "$p" "$killed" "$lived" "$notcov" "$eq" "$eff"
	if [ "$lived" -gt 0 ] || [ "$notcov" -gt 0 ]; then
		status=1
	fi
	rm -f "$out"
done
for s in "${survivors[@]}"; do
	echo "  $s"
done
exit $status
