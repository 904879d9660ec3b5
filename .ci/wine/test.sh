#!/usr/bin/env bash
# Runs the Windows test binaries of every package under hostd-windows/,
# cli/ and internal/ that has tests, found with `go list` (so a new package is
# covered without editing this script), under Wine. Each binary runs in
# its package directory (as `go test` does, for testdata) with a time
# limit; any failure fails the script. Tests that cannot run under Wine
# skip and say why. Then service-smoke.sh runs the daemon as a service
# under Wine's service manager, and e2e.sh the daemon with the stand-ins.
#
# Uses the prefix setup.sh made ($WINEPREFIX, default
# ${TMPDIR:-/tmp}/wslfwd-wine) and runs setup.sh first if it is not ready.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export WINEPREFIX=${WINEPREFIX:-${TMPDIR:-/tmp}/wslfwd-wine}
export WINEDEBUG=-all
wine=/usr/lib/wine/wine64

if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ] || [ ! -x "$wine" ]; then
	"$here/setup.sh"
fi

# WINE_TEST_PACKAGES (space-separated, relative to the repository) runs a
# subset while developing.
if [ -n "${WINE_TEST_PACKAGES:-}" ]; then
	read -r -a packages <<<"$WINE_TEST_PACKAGES"
else
	list=$(cd "$root" && GOOS=windows GOARCH=amd64 go list \
		-f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./hostd-windows/... ./cli/... ./internal/...)
	mapfile -t packages < <(sed -e "s|^$root/||" -e '/^$/d' <<<"$list")
fi
if [ ${#packages[@]} -eq 0 ]; then
	echo "no packages with tests found" >&2
	exit 1
fi
# go test -c -o DIR/ names each binary after its package's last path
# element: two packages of one name would overwrite each other's binary.
if dups=$(printf '%s\n' "${packages[@]##*/}" | sort | uniq -d) && [ -n "$dups" ]; then
	echo "packages share a last path element ($dups): give test.sh a way to name their binaries apart" >&2
	exit 1
fi

bin=$(mktemp -d)
cleanup() {
	timeout 30 /usr/lib/wine/wineserver -k >/dev/null 2>&1 || true
	rm -rf "$bin"
}
trap cleanup EXIT

# Go's standard library needs two small patches to run under Wine 8
# (gowine.sh says which and why); the test binaries are built with them.
overlay=$("$here/gowine.sh" "$bin/overlay")
cd "$root"
# One go command builds every binary, in parallel, as bin/<name>.test.exe.
GOOS=windows GOARCH=amd64 go test -overlay "$overlay" -c -o "$bin/" "${packages[@]/#/./}"

# One wineserver for all runs instead of one per binary.
/usr/lib/wine/wineserver -p >/dev/null 2>&1 || true

failed=()
total=$SECONDS
for pkg in "${packages[@]}"; do
	printf '\n--- wine: %s\n' "$pkg"
	start=$SECONDS
	if (cd "$root/$pkg" && timeout 300 "$wine" "$bin/$(basename "$pkg").test.exe" -test.v -test.timeout 240s); then
		printf -- '--- wine: %s ok (%ds)\n' "$pkg" $((SECONDS - start))
	else
		printf -- '--- wine: %s FAILED (%ds)\n' "$pkg" $((SECONDS - start))
		failed+=("$pkg")
	fi
done

if [ -z "${WINE_TEST_PACKAGES:-}" ]; then
	printf '\n--- wine: service smoke test\n'
	"$here/service-smoke.sh" || failed+=("service smoke test")
	printf '\n--- wine: end-to-end with the netsh and PowerShell stand-ins\n'
	"$here/e2e.sh" || failed+=("end-to-end with the stand-ins")
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "failed under wine: ${failed[*]}" >&2
	exit 1
fi
echo "all ${#packages[@]} Windows test binaries passed under wine ($((SECONDS - total))s): ${packages[*]}"
