package manifest

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestWinGet(t *testing.T) {
	files, err := WinGet(testRelease())
	if err != nil {
		t.Fatal(err)
	}
	dir := "winget/manifests/w/wslfwd/wslfwd/1.2.3/"
	docs := map[string]map[string]any{}
	for _, f := range files {
		kind, ok := strings.CutPrefix(f.Path, dir+"wslfwd.wslfwd")
		if !ok {
			t.Fatalf("manifest at %q, want it under %s", f.Path, dir)
		}
		if !bytes.HasPrefix(f.Data, []byte("# yaml-language-server: $schema=https://aka.ms/winget-manifest.")) {
			t.Errorf("%s: no schema comment first:\n%s", f.Path, f.Data)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(f.Data, &doc); err != nil {
			t.Fatalf("%s is not YAML: %v", f.Path, err)
		}
		docs[kind] = doc
	}
	common := map[string]any{"PackageIdentifier": "wslfwd.wslfwd", "PackageVersion": "1.2.3", "ManifestVersion": "1.6.0"}
	want := map[string]map[string]any{
		".yaml": {"ManifestType": "version", "DefaultLocale": "en-US"},
		".locale.en-US.yaml": {
			"ManifestType": "defaultLocale", "PackageLocale": "en-US", "Publisher": "wslfwd", "PackageName": "wslfwd",
			"PackageUrl": "https://github.com/wslfwd/wslfwd", "License": "MIT", "ShortDescription": "forwards ports",
		},
		".installer.yaml": {
			"ManifestType": "installer", "InstallerType": "zip", "NestedInstallerType": "portable",
			"NestedInstallerFiles": []any{
				map[string]any{"RelativeFilePath": "wslfwd.exe", "PortableCommandAlias": "wslfwd"},
				map[string]any{"RelativeFilePath": "wslfwd-hostd.exe", "PortableCommandAlias": "wslfwd-hostd"},
			},
			"Commands": []any{"wslfwd", "wslfwd-hostd"},
			"Installers": []any{
				map[string]any{"Architecture": "arm64", "InstallerUrl": base + "wslfwd_1.2.3_windows_arm64.zip", "InstallerSha256": strings.ToUpper(hashARM64)},
				map[string]any{"Architecture": "x64", "InstallerUrl": base + "wslfwd_1.2.3_windows_amd64.zip", "InstallerSha256": strings.ToUpper(hashAMD64)},
			},
		},
	}
	if len(docs) != len(want) {
		t.Errorf("got manifests %v, want %d", keys(docs), len(want))
	}
	for kind, w := range want {
		for k, v := range common {
			w[k] = v
		}
		if !reflect.DeepEqual(docs[kind], w) {
			t.Errorf("%s:\n got %v\nwant %v", kind, docs[kind], w)
		}
	}
}

// A version that YAML would read as a number stays a string.
func TestWinGetVersionStaysString(t *testing.T) {
	r := testRelease()
	r.Version = "1.10"
	files, err := WinGet(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(files[0].Data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["PackageVersion"] != "1.10" {
		t.Errorf("PackageVersion reads back as %#v, want the string 1.10", doc["PackageVersion"])
	}
}

func keys(m map[string]map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
