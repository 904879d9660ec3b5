package manifest

import (
	"strings"
	"testing"
)

const (
	hashAMD64 = "1111111111111111111111111111111111111111111111111111111111111111"
	hashARM64 = "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdef0123"
	base      = "https://example.com/dl/v1.2.3/"
)

func testRelease() Release {
	return Release{
		Version: "1.2.3", Publisher: "wslfwd", Name: "wslfwd", Homepage: "https://github.com/wslfwd/wslfwd",
		License: "MIT", Description: "forwards ports", Commands: []string{"wslfwd", "wslfwd-hostd"},
		Windows: map[string]Asset{
			"amd64": {URL: base + "wslfwd_1.2.3_windows_amd64.zip", SHA256: hashAMD64},
			"arm64": {URL: base + "wslfwd_1.2.3_windows_arm64.zip", SHA256: hashARM64},
		},
	}
}

// Releases no manifest can describe are refused by both, with the reason.
func TestBadRelease(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Release)
		want string
	}{
		"no version":   {func(r *Release) { r.Version = "" }, "needs a version"},
		"no zips":      {func(r *Release) { r.Windows = nil }, "no Windows zip"},
		"no commands":  {func(r *Release) { r.Commands = nil }, "no command"},
		"short hash":   {func(r *Release) { r.Windows["amd64"] = Asset{URL: base + "a.zip", SHA256: "abc"} }, "not 64"},
		"upper hash":   {func(r *Release) { r.Windows["amd64"] = Asset{URL: base + "a.zip", SHA256: strings.ToUpper(hashARM64)} }, "not 64"},
		"plain http":   {func(r *Release) { r.Windows["amd64"] = Asset{URL: "http://x/a.zip", SHA256: hashAMD64} }, "not https"},
		"unknown arch": {func(r *Release) { r.Windows["386"] = Asset{URL: base + "a.zip", SHA256: hashAMD64} }, `"386"`},
	} {
		t.Run(name, func(t *testing.T) {
			r := testRelease()
			tc.edit(&r)
			if _, err := Scoop(r); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Scoop: %v, want an error with %q", err, tc.want)
			}
			if files, err := WinGet(r); err == nil || !strings.Contains(err.Error(), tc.want) || files != nil {
				t.Errorf("WinGet: %d files, %v; want none and an error with %q", len(files), err, tc.want)
			}
		})
	}
}
