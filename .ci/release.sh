#!/usr/bin/env bash
# CI: builds the whole release in snapshot mode into a scratch folder and
# checks it: vet and unit tests of the release tool, SHA256SUMS with
# sha256sum -c, and the tool's dist tests, which read every archive and
# package (ELF/PE headers, dpkg-deb, a dpkg install into a scratch root,
# rpm). Needs dpkg and rpm.
set -euo pipefail
cd "$(dirname "$0")/../tools"

dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT

go vet ./release/...
version=$(go run ./release version --snapshot)
start=$SECONDS
go run ./release dist --snapshot --out "$dist"
echo "release $version built in $((SECONDS - start))s"
(cd "$dist" && sha256sum -c SHA256SUMS)
WSLFWD_DIST=$dist WSLFWD_VERSION=$version go test -count=1 ./release/...
