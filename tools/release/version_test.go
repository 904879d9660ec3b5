package main

import "testing"

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct{ in, tag, plain string }{
		{"v1.2.3", "v1.2.3", "1.2.3"},
		{"1.2.3", "v1.2.3", "1.2.3"},
		{"v1.2.3-rc.1", "v1.2.3-rc.1", "1.2.3-rc.1"},
		// git describe after a tag: no hyphen survives for dpkg to misread.
		{"v1.2.3-4-gabcdef0", "v1.2.3-4.gabcdef0", "1.2.3-4.gabcdef0"},
	} {
		v, err := parseVersion(tc.in)
		if err != nil || v.Tag() != tc.tag || v.Plain() != tc.plain {
			t.Errorf("parseVersion(%q) = %q, %q, %v; want %q, %q", tc.in, v.Tag(), v.Plain(), err, tc.tag, tc.plain)
		}
	}
	for _, bad := range []string{"", "19ca763", "19ca763-dirty", "v1.2", "v1.2.3-", "v1.2.3-a..b", "v1.2.3+meta", "v1.2.3 ", "latest"} {
		if v, err := parseVersion(bad); err == nil {
			t.Errorf("parseVersion(%q) = %q, want an error", bad, v.Tag())
		}
	}
}

func TestSnapshotVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                  "v1.2.3-snapshot",
		"v1.2.3-4-gabcdef0-dirty": "v1.2.3-snapshot.4.gabcdef0.dirty",
		"19ca763":                 "v0.0.0-snapshot.19ca763",
		"19ca763-dirty":           "v0.0.0-snapshot.19ca763.dirty",
		"":                        "v0.0.0-snapshot",
		"feature/x_y":             "v0.0.0-snapshot.feature.x.y",
	} {
		got := snapshotVersion(in)
		if got.Tag() != want {
			t.Errorf("snapshotVersion(%q) = %q, want %q", in, got.Tag(), want)
		}
		// Every snapshot is a version a release could parse, so packages
		// and manifests take it as they take a release's.
		if _, err := parseVersion(got.Tag()); err != nil {
			t.Errorf("snapshotVersion(%q) = %q does not parse: %v", in, got.Tag(), err)
		}
	}
}
