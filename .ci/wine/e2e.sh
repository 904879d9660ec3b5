#!/usr/bin/env bash
# Runs the Wine end-to-end test (lab/wine): the real daemon under
# Wine with the strict netsh and PowerShell stand-ins, and the real agent,
# in the lab's namespaces; and, with firewall = false, the real CLI's doctor
# and probe against it. Needs root.
#
# The stand-ins get a prefix of their own, $WSLFWD_WINE_STANDIN_PREFIX
# (default ${TMPDIR:-/tmp}/wslfwd-wine-standin): the other Wine tests
# expect Wine's own netsh and powershell. setup.sh makes the prefix (or
# reuses it), standins.sh installs them; the test must run, not skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export WINEPREFIX=${WSLFWD_WINE_STANDIN_PREFIX:-${TMPDIR:-/tmp}/wslfwd-wine-standin}

"$here/setup.sh"
"$here/standins.sh"
cd "$root"
WSLFWD_WINE_PREFIX=$WINEPREFIX WSLFWD_WINE_E2E=required \
	go test -count=1 -v -timeout 360s -run '^(TestDaemonUnderWine|TestFirewallOffUnderWine|TestSetupUnderWine)$' ./lab/wine
