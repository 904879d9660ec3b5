#!/usr/bin/env bash
# Puts the strict netsh and PowerShell stand-ins (lab/winstandin) into a
# Wine prefix in place of Wine's own, which do nothing and exit 0: builds
# them for windows/amd64, copies them over
# C:\windows\system32\netsh.exe and
# C:\windows\system32\WindowsPowerShell\v1.0\powershell.exe, and sets the
# DLL overrides "native" that make Wine run a file there instead of its
# builtin program. Then checks that Wine really runs them, by output only
# they print. Expects the prefix setup.sh made; safe to run again.
#
# The prefix is $WINEPREFIX, default ${TMPDIR:-/tmp}/wslfwd-wine, as for
# setup.sh. Use a private prefix: the stand-ins stay in it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export WINEPREFIX=${WINEPREFIX:-${TMPDIR:-/tmp}/wslfwd-wine}
export WINEDEBUG=-all
wine=/usr/lib/wine/wine64
sys32=$WINEPREFIX/drive_c/windows/system32

if [ ! -f "$WINEPREFIX/system.reg" ]; then
	echo "no Wine prefix at $WINEPREFIX: run setup.sh first" >&2
	exit 1
fi
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
(cd "$root" && GOOS=windows GOARCH=amd64 go build -o "$build/" ./lab/winstandin/cmd/netsh ./lab/winstandin/cmd/powershell)
mkdir -p "$sys32/WindowsPowerShell/v1.0"
cp "$build/netsh.exe" "$sys32/netsh.exe"
cp "$build/powershell.exe" "$sys32/WindowsPowerShell/v1.0/powershell.exe"
for exe in netsh.exe powershell.exe; do
	timeout 60 "$wine" reg add 'HKCU\Software\Wine\DllOverrides' /v "$exe" /d native /f >/dev/null
done

# Wine's netsh prints nothing; the stand-in prints Windows' table.
out=$(timeout 60 "$wine" 'C:\windows\system32\netsh.exe' interface ipv4 show excludedportrange protocol=tcp)
if [[ $out != *"Port Exclusion Ranges"* ]]; then
	echo "Wine does not run the netsh stand-in: it printed '$out'" >&2
	exit 1
fi
# Wine's powershell prints nothing; the stand-in runs the script (its
# CLIXML progress records on stderr are not wanted here).
script=$(printf "'wslfwd-standin-ok'" | iconv -t UTF-16LE | base64 -w0)
out=$(timeout 60 "$wine" 'C:\windows\system32\WindowsPowerShell\v1.0\powershell.exe' \
	-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "$script" 2>/dev/null)
if [[ $out != *"wslfwd-standin-ok"* ]]; then
	echo "Wine does not run the PowerShell stand-in: it printed '$out'" >&2
	exit 1
fi
echo "stand-ins installed in $WINEPREFIX: netsh.exe, powershell.exe"
