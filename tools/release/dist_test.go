package main

// The dist tests check a release that `release dist` wrote: every file
// there and nothing else, each binary built for its platform from the right
// program with the release's flags, the packages' fields and files, an
// install of each .deb into a scratch root with its removal and purge,
// SHA256SUMS and the manifests. The names and contents they expect are
// written out here, not taken from the tool, so a slip in the tool fails
// them. CI runs them on a snapshot (.ci/release.sh) with WSLFWD_DIST, the
// folder, and WSLFWD_VERSION, its version; without those they skip, since
// building a release takes minutes.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const module = "github.com/wslfwd/wslfwd"

var (
	arches  = []string{"amd64", "arm64"}
	rpmArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
)

func distUnderTest(t *testing.T) (string, version) {
	t.Helper()
	dir, ver := os.Getenv("WSLFWD_DIST"), os.Getenv("WSLFWD_VERSION")
	if dir == "" || ver == "" {
		t.Skip("WSLFWD_DIST and WSLFWD_VERSION are not set: the release checks run in CI, after .ci/release.sh builds one")
	}
	v, err := parseVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	return dir, v
}

// Names of a release's downloads, as users and the manifests know them.
func zipName(v version, arch string) string {
	return "wslfwd_" + v.Plain() + "_windows_" + arch + ".zip"
}
func tarName(v version, arch string) string {
	return "wslfwd_" + v.Plain() + "_linux_" + arch + ".tar.gz"
}

// pkgVersion is the version dpkg and rpm see: a pre-release sorts before
// its release with "~".
func pkgVersion(v version) string { return strings.Replace(v.Plain(), "-", "~", 1) }
func debName(v version, arch string) string {
	return "wslfwd-agent_" + pkgVersion(v) + "-1_" + arch + ".deb"
}
func rpmName(v version, arch string) string {
	return "wslfwd-agent-" + pkgVersion(v) + "-1." + rpmArch[arch] + ".rpm"
}

func downloads(v version) []string {
	var names []string
	for _, a := range arches {
		names = append(names, zipName(v, a), tarName(v, a), debName(v, a), rpmName(v, a))
	}
	return names
}

// The release holds its downloads, SHA256SUMS and the manifests, and
// nothing else.
func TestDistFiles(t *testing.T) {
	dir, v := distUnderTest(t)
	want := append(downloads(v), "SHA256SUMS", "scoop/wslfwd.json")
	for _, suffix := range []string{".yaml", ".installer.yaml", ".locale.en-US.yaml"} {
		want = append(want, "winget/manifests/w/wslfwd/wslfwd/"+v.Plain()+"/wslfwd.wslfwd"+suffix)
	}
	var got []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("release holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// SHA256SUMS lists every download, and only those, with its true hash.
func TestDistChecksums(t *testing.T) {
	dir, v := distUnderTest(t)
	sums := readSums(t, dir)
	var names []string
	for name, sum := range sums {
		names = append(names, name)
		if got := fileSHA256(t, filepath.Join(dir, name)); got != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file hashes to %s", name, sum, got)
		}
	}
	want := downloads(v)
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("SHA256SUMS lists %q, want %q", names, want)
	}
}

// The Scoop and WinGet manifests download the Windows zips of this release
// and know their hashes.
func TestDistManifests(t *testing.T) {
	dir, v := distUnderTest(t)
	sums := readSums(t, dir)
	var scoop struct {
		Version      string
		Architecture map[string]struct{ URL, Hash string }
	}
	readJSON(t, filepath.Join(dir, "scoop", "wslfwd.json"), &scoop)
	var inst struct {
		Installers []wingetDownloadYAML `yaml:"Installers"`
	}
	readYAML(t, filepath.Join(dir, "winget/manifests/w/wslfwd/wslfwd", v.Plain(), "wslfwd.wslfwd.installer.yaml"), &inst)
	if scoop.Version != v.Plain() || len(scoop.Architecture) != 2 || len(inst.Installers) != 2 {
		t.Fatalf("scoop version %q with %d architectures, winget %d installers; want %s, 2, 2", scoop.Version, len(scoop.Architecture), len(inst.Installers), v.Plain())
	}
	for arch, names := range map[string][2]string{"amd64": {"64bit", "x64"}, "arm64": {"arm64", "arm64"}} {
		zip := zipName(v, arch)
		s := scoop.Architecture[names[0]]
		if !strings.HasSuffix(s.URL, "/"+v.Tag()+"/"+zip) || s.Hash != sums[zip] {
			t.Errorf("scoop %s: %s %s, want the %s release's %s, %s", names[0], s.URL, s.Hash, v.Tag(), zip, sums[zip])
		}
		i := slices.IndexFunc(inst.Installers, func(i wingetDownloadYAML) bool {
			return i.Architecture == names[1]
		})
		if i < 0 || !strings.HasSuffix(inst.Installers[i].URL, "/"+zip) || inst.Installers[i].SHA256 != strings.ToUpper(sums[zip]) {
			t.Errorf("winget has no %s installer of %s with hash %s: %+v", names[1], zip, sums[zip], inst.Installers)
		}
	}
}

// wingetDownloadYAML is one installer of a WinGet installer manifest.
type wingetDownloadYAML struct {
	Architecture string `yaml:"Architecture"`
	URL          string `yaml:"InstallerUrl"`
	SHA256       string `yaml:"InstallerSha256"`
}

func readSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q is not 'HASH  NAME'", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(data)
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", path, err))
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err == nil {
		err = yaml.Unmarshal(data, v)
	}
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", path, err))
	}
}
