package main

import (
	"fmt"
	"regexp"
	"strings"
)

// version is the version of one release. Its tag ("v1.2.3-rc.1") is stamped
// into the binaries and names the release; its plain form ("1.2.3-rc.1") goes
// into file names and package manifests, which carry no "v".
type version struct{ tag string }

func (v version) Tag() string   { return v.tag }
func (v version) Plain() string { return strings.TrimPrefix(v.tag, "v") }

// semver matches MAJOR.MINOR.PATCH with an optional pre-release, "v" or not:
// what git describe prints on a tag, or after one ("v1.2.3-4-gabcdef0").
var semver = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(?:-([0-9A-Za-z]+(?:[.-][0-9A-Za-z]+)*))?$`)

// notPrerelease matches what a pre-release may not hold.
var notPrerelease = regexp.MustCompile(`[^0-9A-Za-z]+`)

// parseVersion accepts a release version. Hyphens inside the pre-release
// become dots: dpkg reads the last hyphen of a version as the start of the
// Debian revision, so "1.2.3~4-gabc" would not mean what it says.
func parseVersion(s string) (version, error) {
	m := semver.FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH[-PRERELEASE]: tag the commit (git tag v1.2.3), pass --version, or build a --snapshot", s)
	}
	tag := "v" + m[1]
	if m[2] != "" {
		tag += "-" + strings.ReplaceAll(m[2], "-", ".")
	}
	return version{tag: tag}, nil
}

// snapshotVersion makes any string, typically git describe's, into a version
// that says it is a snapshot, so that no snapshot is ever named like a
// release: "v1.2.3" becomes "v1.2.3-snapshot" and "19ca763-dirty"
// "v0.0.0-snapshot.19ca763.dirty".
func snapshotVersion(s string) version {
	base, pre := "v0.0.0", sanitize(s)
	if v, err := parseVersion(s); err == nil {
		base, pre, _ = strings.Cut(v.tag, "-")
	}
	tag := base + "-snapshot"
	if pre != "" {
		tag += "." + pre
	}
	return version{tag: tag}
}

// sanitize keeps letters and digits and turns every run of anything else
// into one dot, trimmed at both ends: what a pre-release may hold.
func sanitize(s string) string {
	return strings.Trim(notPrerelease.ReplaceAllString(s, "."), ".")
}
