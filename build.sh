#!/usr/bin/env bash
# Builds every binary into bin/ for this machine, and into bin/windows_amd64/
# for Windows. VERSION (default: git describe) is stamped into each binary.
set -euo pipefail
cd "$(dirname "$0")"
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)}
ldflags="-s -w -X github.com/wslfwd/wslfwd/internal/version.Version=${version}"
build() { # build OUTDIR EXT [env...]
	local out=$1 ext=$2; shift 2
	mkdir -p "$out"
	env "$@" CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/wslfwd$ext" ./cli
	env "$@" CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/wslfwd-agent$ext" ./agent-linux
	env "$@" CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/wslfwd-hostd$ext" ./hostd-windows
}
build bin ""
build bin/windows_amd64 .exe GOOS=windows GOARCH=amd64
echo "built $version: bin/ and bin/windows_amd64/"
