#!/usr/bin/env bash
# Builds every binary a release ships into bin/<goos>_<goarch>/: wslfwd and
# wslfwd-hostd for windows/amd64 and windows/arm64, wslfwd and wslfwd-agent
# for linux/amd64 and linux/arm64. The release tool (tools/release) holds the
# build flags, so these are the binaries a release packs. VERSION (default:
# git describe) is stamped into each, marked as a snapshot.
set -euo pipefail
cd "$(dirname "$0")/tools"
exec go run ./release binaries --snapshot ${VERSION:+--version "$VERSION"} "$@"
