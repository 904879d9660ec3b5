#!/usr/bin/env bash
# Runs the daemon's Windows test binaries under Wine: the portproxy
# registry read-back and "netsh did nothing" tests, the ledger, static
# forwards and state files with Windows paths, config, policy and the
# reconciler, the relay on Windows sockets, and the WSL
# adapter and wsl.exe parsing. Each binary runs in its package directory
# (as `go test` does, for testdata) with a time limit; any failure fails
# the script. Then service-smoke.sh runs the daemon as a service under
# Wine's service manager.
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

# WINE_TEST_PACKAGES (space-separated) runs a subset while developing.
packages=(
	hostd-windows/portproxy
	hostd-windows/ledger
	hostd-windows/statefile
	hostd-windows/statics
	hostd-windows/config
	hostd-windows/policy
	hostd-windows/reconcile
	hostd-windows/backend/relay
	hostd-windows/winhost
	hostd-windows/winhost/wintext
	hostd-windows/winhost/winexec
	hostd-windows/winsvc
	hostd-windows/logfile
	internal/fileperm
)
if [ -n "${WINE_TEST_PACKAGES:-}" ]; then
	read -r -a packages <<<"$WINE_TEST_PACKAGES"
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
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "failed under wine: ${failed[*]}" >&2
	exit 1
fi
echo "all Windows test binaries passed under wine"
