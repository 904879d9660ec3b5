package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// checksumsFile lists the SHA-256 of every download of a release.
const checksumsFile = "SHA256SUMS"

// writeChecksums hashes the named files of dir and writes SHA256SUMS there,
// sorted by name and in the form `sha256sum -c` reads. It returns each
// file's hash, for the manifests.
func writeChecksums(dir string, names []string) (map[string]string, error) {
	sums := map[string]string{}
	var b strings.Builder
	for _, name := range slices.Sorted(slices.Values(names)) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("hash: %w", err)
		}
		sum := sha256.Sum256(data)
		sums[name] = hex.EncodeToString(sum[:])
		fmt.Fprintf(&b, "%s  %s\n", sums[name], name)
	}
	return sums, os.WriteFile(filepath.Join(dir, checksumsFile), []byte(b.String()), 0o644)
}
