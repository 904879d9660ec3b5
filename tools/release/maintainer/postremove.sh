#!/bin/sh
# wslfwd-agent package, after removal.
# dpkg: "remove", "purge" (or "upgrade", "disappear", "abort-*"...).
# rpm: 0 on erase, 1 or more when an upgrade removes the old package.
#
# Removal keeps the token and agent.env in /etc/wslfwd, so that installing
# again needs no new token; dpkg's purge removes them and the folder. rpm
# has no purge: erase keeps them, as it keeps changed configuration.
set -e

case "$1" in
purge)
	rm -f "${DPKG_ROOT:-}/etc/wslfwd/token" "${DPKG_ROOT:-}/etc/wslfwd/agent.env"
	rmdir "${DPKG_ROOT:-}/etc/wslfwd" 2>/dev/null || true
	;;
remove | 0) ;;
*) exit 0 ;;
esac
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
