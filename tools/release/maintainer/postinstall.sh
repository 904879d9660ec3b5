#!/bin/sh
# wslfwd-agent package, after install or upgrade.
# dpkg: "configure" with the old version in $2 ("" on a first install).
# rpm: 1 on a first install, 2 or more on an upgrade.
#
# Starts nothing unless this system runs systemd, and nothing at all when
# dpkg installs into another root (DPKG_ROOT). A first install starts the
# agent only once it has its token; an upgrade restarts it if it ran. A
# failure to start is reported, and fails no install: the package is whole.
set -e

if [ -n "${DPKG_ROOT:-}" ] || [ ! -d /run/systemd/system ]; then
	exit 0
fi
systemctl daemon-reload || true
case "$1" in
configure) [ -z "${2:-}" ] && first=yes || first=no ;;
1) first=yes ;;
*) first=no ;;
esac
if [ "$first" = no ]; then
	systemctl try-restart wslfwd-agent.service || echo "wslfwd-agent: restart failed; see: journalctl -u wslfwd-agent" >&2
elif [ -f /etc/wslfwd/token ]; then
	systemctl enable --now wslfwd-agent.service || echo "wslfwd-agent: start failed; see: journalctl -u wslfwd-agent" >&2
else
	echo "wslfwd-agent: no /etc/wslfwd/token yet; 'wslfwd setup' on Windows gives the agent its token and starts it" >&2
fi
