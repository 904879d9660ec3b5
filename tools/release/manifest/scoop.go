package manifest

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// scoopArch names Scoop's architectures by GOARCH.
var scoopArch = map[string]string{"amd64": "64bit", "arm64": "arm64"}

type scoopManifest struct {
	Version      string                   `json:"version"`
	Description  string                   `json:"description"`
	Homepage     string                   `json:"homepage"`
	License      string                   `json:"license"`
	Architecture map[string]scoopDownload `json:"architecture"`
	Bin          []string                 `json:"bin"`
	Checkver     string                   `json:"checkver"`
	Autoupdate   scoopAutoupdate          `json:"autoupdate"`
}

type scoopDownload struct {
	URL  string `json:"url"`
	Hash string `json:"hash,omitempty"`
}

type scoopAutoupdate struct {
	Architecture map[string]scoopDownload `json:"architecture"`
	// Hash tells Scoop where the next release's hashes are: the SHA256SUMS
	// beside its zips, which Scoop searches for the zip's name.
	Hash struct {
		URL string `json:"url"`
	} `json:"hash"`
}

// Scoop returns the Scoop app manifest, "<name>.json". Its autoupdate lets
// `scoop update` find later releases of the same layout from the GitHub
// releases of Homepage.
func Scoop(r Release) (File, error) {
	if err := r.validate(); err != nil {
		return File{}, fmt.Errorf("scoop: %w", err)
	}
	m := scoopManifest{
		Version: r.Version, Description: r.Description, Homepage: r.Homepage, License: r.License,
		Architecture: map[string]scoopDownload{}, Checkver: "github",
	}
	m.Autoupdate.Architecture = map[string]scoopDownload{}
	m.Autoupdate.Hash.URL = "$baseurl/SHA256SUMS"
	for _, c := range r.Commands {
		m.Bin = append(m.Bin, c+".exe")
	}
	for goarch, a := range r.Windows {
		arch, ok := scoopArch[goarch]
		if !ok {
			return File{}, fmt.Errorf("scoop: no Scoop architecture for %q", goarch)
		}
		m.Architecture[arch] = scoopDownload{URL: a.URL, Hash: a.SHA256}
		m.Autoupdate.Architecture[arch] = scoopDownload{URL: strings.ReplaceAll(a.URL, r.Version, "$version")}
	}
	data, err := json.MarshalIndent(m, "", "    ")
	if err != nil {
		return File{}, fmt.Errorf("scoop: %w", err)
	}
	return File{Path: path.Join("scoop", r.Name+".json"), Data: append(data, '\n')}, nil
}
