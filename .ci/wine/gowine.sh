#!/usr/bin/env bash
# Writes a `go build -overlay` file that lets Go's standard library run
# under Wine 8, and prints its path. It patches two places where Go relies
# on Windows features Wine 8 lacks, for the CI test binaries only (the
# product is built without it and runs on real Windows):
#
#   - os.RemoveAll (so every t.TempDir cleanup) deletes with
#     NtSetInformationFile(FileDispositionInformationEx), which Wine 8
#     answers with STATUS_NOT_IMPLEMENTED; Go falls back to the older call
#     only for other statuses. The patch adds that status to the fallback.
#   - every UDP socket is set up with WSAIoctl(SIO_UDP_CONNRESET and
#     SIO_UDP_NETRESET); Wine 8 refuses one with WSAEOPNOTSUPP and Go gives
#     up. The patch ignores WSAEOPNOTSUPP there.
#
# A patch that no longer applies (a new Go version) fails the script
# rather than silently testing without it.
#
# Usage: gowine.sh DIR   (writes DIR/overlay.json and the patched files)
set -euo pipefail
out=$1
goroot=$(go env GOROOT)
mkdir -p "$out"

# patch FILE NAME PERL-EXPRESSION: copies GOROOT/src/FILE to out/NAME with
# the substitution, which must match.
patch() {
	local src=$goroot/src/$1 dst=$out/$2
	perl -0pe "$3 or die \"patch for $1 no longer applies\n\"" "$src" >"$dst"
}
patch internal/syscall/windows/at_windows.go at_windows.go \
	's/(\tcase STATUS_INVALID_INFO_CLASS,)/\tcase NTStatus(0xC0000002): \/\/ STATUS_NOT_IMPLEMENTED: Wine 8\n\t\treturn deleteatFallback(h)\n$1/'
patch net/fd_windows.go fd_windows.go \
	's/if err != nil \{\n(\t\t\treturn wrapSyscallError\("wsaioctl", err\))/if err != nil \&\& err != syscall.Errno(10045) { \/\/ WSAEOPNOTSUPP: Wine 8\n$1/g'

cat >"$out/overlay.json" <<JSON
{"Replace": {
  "$goroot/src/internal/syscall/windows/at_windows.go": "$out/at_windows.go",
  "$goroot/src/net/fd_windows.go": "$out/fd_windows.go"
}}
JSON
echo "$out/overlay.json"
