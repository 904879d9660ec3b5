#!/usr/bin/env bash
# Prepares Wine to run Go windows/amd64 test binaries: installs Debian's
# wine64 and the MinGW cross compiler, builds the bcryptprimitives.dll shim
# (Go >= 1.22 needs ProcessPrng, which Wine 8 lacks) and creates a Wine
# prefix with the shim in system32.
#
# The prefix is $WINEPREFIX, default ${TMPDIR:-/tmp}/wslfwd-wine; test.sh
# uses the same default. Safe to run again: it rebuilds the shim and reuses
# an existing prefix.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export WINEPREFIX=${WINEPREFIX:-${TMPDIR:-/tmp}/wslfwd-wine}
export WINEDEBUG=-all WINEARCH=win64

# Debian's wine64 package installs its loader as /usr/lib/wine/wine64.
wine=/usr/lib/wine/wine64
if [ ! -x "$wine" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends wine64 gcc-mingw-w64-x86-64 >/dev/null
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
x86_64-w64-mingw32-gcc -shared -O2 -Wall -Werror -o "$build/bcryptprimitives.dll" \
	"$here/bcryptprimitives.c" -ladvapi32

mkdir -p "$WINEPREFIX"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	# wineboot -i creates the prefix; DISPLAY unset keeps it headless.
	if ! DISPLAY= timeout 300 "$wine" wineboot -i >"$build/wineboot.log" 2>&1; then
		cat "$build/wineboot.log" >&2
		echo "wineboot failed" >&2
		exit 1
	fi
	timeout 60 /usr/lib/wine/wineserver -w
fi
cp "$build/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
echo "wine prefix ready: $WINEPREFIX"
