#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for a short, bounded time
# (FUZZTIME, default 5s each). Targets are found, not listed, so a new
# FuzzXxx is covered without editing CI. The seed corpus (f.Add seeds and
# testdata/fuzz/) already runs in plain `go test`; this step looks for new
# inputs. A finding fails the run and is left in testdata/fuzz/ to commit.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
failed=()
count=0
while IFS=: read -r file name; do
	dir=./$(dirname "$file")
	count=$((count + 1))
	printf -- '--- fuzz %s %s (%s)\n' "$dir" "$name" "$fuzztime"
	for try in 1 2; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir" >/tmp/fuzz.$$.log 2>&1; then
			break
		fi
		tail -30 /tmp/fuzz.$$.log
		# A finding is written to testdata/fuzz/ and fails at once. Anything
		# else (the fuzzer's "context deadline exceeded" when a worker is
		# slow to stop on a loaded machine) gets one more run.
		if grep -q 'Failing input written to' /tmp/fuzz.$$.log || [ "$try" = 2 ]; then
			failed+=("$dir $name")
			break
		fi
		echo "--- fuzz $dir $name: no failing input written; running once more"
	done
done < <(git ls-files '*_test.go' | xargs grep -oE '^func Fuzz[A-Za-z0-9_]+' | sed 's/^\(.*\):func /\1:/' | sort -u)
rm -f /tmp/fuzz.$$.log
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz findings in: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "$count fuzz targets ran $fuzztime each without findings"
