// Package manifest writes the manifests that let Windows package managers
// install a release: a Scoop app manifest and a WinGet manifest set. Both
// point at the release's Windows zips, by URL and SHA-256.
package manifest

import (
	"fmt"
	"strings"
)

// Release is what the manifests say about one release.
type Release struct {
	Version     string // without "v": "1.2.3"
	Publisher   string // also the first half of the WinGet identifier
	Name        string
	Homepage    string
	License     string
	Description string // one line
	// Commands are the executables in the zips' top folder that go on PATH,
	// without ".exe".
	Commands []string
	// Windows holds the zip of each architecture, by GOARCH: "amd64", "arm64".
	Windows map[string]Asset
}

// Asset is one download.
type Asset struct {
	URL    string
	SHA256 string // lower-case hex
}

// File is one manifest file: its path under the output folder and contents.
type File struct {
	Path string
	Data []byte
}

// validate refuses a release no manifest could describe rightly.
func (r Release) validate() error {
	switch {
	case r.Version == "" || r.Publisher == "" || r.Name == "":
		return fmt.Errorf("release needs a version, publisher and name")
	case len(r.Windows) == 0:
		return fmt.Errorf("release %s has no Windows zip", r.Version)
	case len(r.Commands) == 0:
		return fmt.Errorf("release %s puts no command on PATH", r.Version)
	}
	for goarch, a := range r.Windows {
		if !strings.HasPrefix(a.URL, "https://") {
			return fmt.Errorf("release %s: %s zip URL %q is not https", r.Version, goarch, a.URL)
		}
		if len(a.SHA256) != 64 || strings.Trim(a.SHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("release %s: %s zip SHA-256 %q is not 64 lower-case hex digits", r.Version, goarch, a.SHA256)
		}
	}
	return nil
}
