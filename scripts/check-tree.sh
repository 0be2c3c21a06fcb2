#!/usr/bin/env bash
# Fails when git tracks a compiled binary: an ELF, Mach-O or PE file, or
# an executable file with NUL bytes in it. Build outputs (go build in an
# example's directory leaves one named after it) belong in .gitignore.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
	case "$magic" in
	7f454c46 | cafebabe | feedface | feedfacf | cefaedfe | cffaedfe | 4d5a*)
		echo "tracked binary: $f (magic $magic)"; bad=1; continue ;;
	esac
	if [ -x "$f" ] && [ "$(head -c 65536 "$f" | tr -d '\000' | wc -c)" != "$(head -c 65536 "$f" | wc -c)" ]; then
		echo "tracked executable with binary content: $f"; bad=1
	fi
done < <(git ls-files -z)
exit $bad
