package manifest

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// wingetSchema is the manifest schema version the set is written for.
const wingetSchema = "1.6.0"

// wingetArch names WinGet's architectures by GOARCH.
var wingetArch = map[string]string{"amd64": "x64", "arm64": "arm64"}

type wingetVersion struct {
	PackageIdentifier string `yaml:"PackageIdentifier"`
	PackageVersion    string `yaml:"PackageVersion"`
	DefaultLocale     string `yaml:"DefaultLocale"`
	ManifestType      string `yaml:"ManifestType"`
	ManifestVersion   string `yaml:"ManifestVersion"`
}

// wingetInstaller installs a zip whose executables WinGet links onto PATH
// as portable commands; the rest of the zip (the Linux agents that
// `wslfwd setup` copies into distros) stays beside them.
type wingetInstaller struct {
	PackageIdentifier    string           `yaml:"PackageIdentifier"`
	PackageVersion       string           `yaml:"PackageVersion"`
	InstallerType        string           `yaml:"InstallerType"`
	NestedInstallerType  string           `yaml:"NestedInstallerType"`
	NestedInstallerFiles []wingetNested   `yaml:"NestedInstallerFiles"`
	Commands             []string         `yaml:"Commands"`
	Installers           []wingetDownload `yaml:"Installers"`
	ManifestType         string           `yaml:"ManifestType"`
	ManifestVersion      string           `yaml:"ManifestVersion"`
}

type wingetNested struct {
	RelativeFilePath     string `yaml:"RelativeFilePath"`
	PortableCommandAlias string `yaml:"PortableCommandAlias"`
}

type wingetDownload struct {
	Architecture    string `yaml:"Architecture"`
	InstallerURL    string `yaml:"InstallerUrl"`
	InstallerSha256 string `yaml:"InstallerSha256"`
}

type wingetLocale struct {
	PackageIdentifier string `yaml:"PackageIdentifier"`
	PackageVersion    string `yaml:"PackageVersion"`
	PackageLocale     string `yaml:"PackageLocale"`
	Publisher         string `yaml:"Publisher"`
	PackageName       string `yaml:"PackageName"`
	PackageURL        string `yaml:"PackageUrl"`
	License           string `yaml:"License"`
	ShortDescription  string `yaml:"ShortDescription"`
	ManifestType      string `yaml:"ManifestType"`
	ManifestVersion   string `yaml:"ManifestVersion"`
}

// WinGet returns the manifest set of one version (version, installer and
// default-locale files), at the paths the winget-pkgs repository keeps them:
// manifests/<p>/<Publisher>/<Name>/<version>/.
func WinGet(r Release) ([]File, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("winget: %w", err)
	}
	id := r.Publisher + "." + r.Name
	dir := path.Join("winget", "manifests", strings.ToLower(r.Publisher[:1]), r.Publisher, r.Name, r.Version)
	inst, err := wingetInstallerOf(r, id)
	if err != nil {
		return nil, err
	}
	docs := []struct {
		suffix, kind string
		doc          any
	}{
		{"", "version", wingetVersion{id, r.Version, "en-US", "version", wingetSchema}},
		{".installer", "installer", inst},
		{".locale.en-US", "defaultLocale", wingetLocale{
			id, r.Version, "en-US", r.Publisher, r.Name, r.Homepage, r.License, r.Description,
			"defaultLocale", wingetSchema,
		}},
	}
	var files []File
	for _, d := range docs {
		data, err := wingetYAML(d.kind, d.doc)
		if err != nil {
			return nil, fmt.Errorf("winget %s manifest: %w", d.kind, err)
		}
		files = append(files, File{Path: path.Join(dir, id+d.suffix+".yaml"), Data: data})
	}
	return files, nil
}

func wingetInstallerOf(r Release, id string) (wingetInstaller, error) {
	m := wingetInstaller{
		PackageIdentifier: id, PackageVersion: r.Version, InstallerType: "zip",
		NestedInstallerType: "portable", Commands: r.Commands,
		ManifestType: "installer", ManifestVersion: wingetSchema,
	}
	for _, c := range r.Commands {
		m.NestedInstallerFiles = append(m.NestedInstallerFiles, wingetNested{c + ".exe", c})
	}
	for goarch, a := range r.Windows {
		arch, ok := wingetArch[goarch]
		if !ok {
			return m, fmt.Errorf("winget: no WinGet architecture for %q", goarch)
		}
		m.Installers = append(m.Installers, wingetDownload{arch, a.URL, strings.ToUpper(a.SHA256)})
	}
	sort.Slice(m.Installers, func(i, j int) bool { return m.Installers[i].Architecture < m.Installers[j].Architecture })
	return m, nil
}

// wingetYAML renders one manifest with the schema comment editors and
// winget-pkgs' checks expect on its first line.
func wingetYAML(kind string, doc any) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# yaml-language-server: $schema=https://aka.ms/winget-manifest.%s.%s.schema.json\n\n", kind, wingetSchema)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
