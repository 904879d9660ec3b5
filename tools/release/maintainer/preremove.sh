#!/bin/sh
# wslfwd-agent package, before removal.
# dpkg: "remove" (or "upgrade", "deconfigure", "failed-upgrade").
# rpm: 0 on erase, 1 or more when an upgrade removes the old package.
#
# On removal, not on upgrade, stops the agent and disables it at boot.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -n "${DPKG_ROOT:-}" ]; then
	exit 0
fi
if [ -d /run/systemd/system ]; then
	systemctl disable --now wslfwd-agent.service || true
elif command -v systemctl >/dev/null 2>&1; then
	systemctl disable wslfwd-agent.service || true
fi
