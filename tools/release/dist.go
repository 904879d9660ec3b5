package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wslfwd/wslfwd/tools/release/manifest"
)

// meta is what every package and manifest says about wslfwd.
var meta = struct {
	publisher, name, homepage, license, maintainer string
	description, agentSummary, agentDescription    string
}{
	publisher: "wslfwd",
	name:      "wslfwd",
	homepage:  "https://github.com/wslfwd/wslfwd",
	// The repository has no LICENSE yet; SPDX's word for "not stated".
	license:          "NOASSERTION",
	maintainer:       "wslfwd developers",
	description:      "Makes services that start inside WSL 2 reachable from Windows and the LAN",
	agentSummary:     "wslfwd agent: forward this WSL distro's listening ports to Windows",
	agentDescription: "Reports this WSL distro's addresses and listening sockets to the wslfwd daemon on Windows, which forwards them to the host and the LAN.",
}

// release is one run of the release tool.
type release struct {
	root, out string // the repository and where the release goes
	v         version
	baseURL   string    // the folder the release's files are downloaded from
	mtime     time.Time // every file's time: the commit's, so one commit makes the same bytes
}

// dist builds every binary and writes the release into r.out: the Windows
// zips, the Linux tarballs, the agent's packages, SHA256SUMS and the
// manifests. It returns the files SHA256SUMS lists.
func (r release) dist() ([]string, error) {
	if err := emptyDir(r.out); err != nil {
		return nil, err
	}
	bin, err := os.MkdirTemp("", "wslfwd-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bin)
	if err := buildAll(r.root, bin, r.v); err != nil {
		return nil, err
	}
	var names []string
	for _, t := range windowsTargets {
		names = append(names, archiveName(r.v, t, ".zip"))
		if err := writeZip(filepath.Join(r.out, names[len(names)-1]), windowsEntries(r.root, bin, t), r.mtime); err != nil {
			return nil, err
		}
	}
	for _, t := range linuxTargets {
		names = append(names, archiveName(r.v, t, ".tar.gz"))
		if err := writeTarGz(filepath.Join(r.out, names[len(names)-1]), linuxEntries(r.root, bin, r.v, t), r.mtime); err != nil {
			return nil, err
		}
		pkgs, err := r.packages(bin, t)
		if err != nil {
			return nil, err
		}
		names = append(names, pkgs...)
	}
	sums, err := writeChecksums(r.out, names)
	if err != nil {
		return nil, err
	}
	return names, r.manifests(sums)
}

// archiveName names a target's archive: wslfwd_1.2.3_windows_amd64.zip.
func archiveName(v version, t target, ext string) string {
	return fmt.Sprintf("wslfwd_%s_%s_%s%s", v.Plain(), t.goos, t.goarch, ext)
}

// windowsEntries is what a Windows zip holds: the executables on top, the
// Linux agents that `wslfwd setup` copies into distros, one folder per
// architecture, and the documents.
func windowsEntries(root, bin string, t target) []entry {
	var es []entry
	for _, p := range t.programs {
		es = append(es, entry{filepath.Base(t.binary(bin, p)), t.binary(bin, p), 0o755})
	}
	for _, l := range linuxTargets {
		es = append(es, entry{"linux-" + l.goarch + "/" + agent.name, l.binary(bin, agent), 0o755})
	}
	return append(es, docs(root, "")...)
}

// linuxEntries is what a Linux tarball holds, in one folder named like the
// tarball: the binaries, the agent's systemd unit as the repository has it
// (its comment says how to install it by hand) and the documents.
func linuxEntries(root, bin string, v version, t target) []entry {
	dir := archiveName(v, t, "") + "/"
	var es []entry
	for _, p := range t.programs {
		es = append(es, entry{dir + p.name, t.binary(bin, p), 0o755})
	}
	es = append(es, entry{dir + filepath.Base(agentUnitSource), filepath.Join(root, agentUnitSource), 0o644})
	return append(es, docs(root, dir)...)
}

// docs are the documents every archive carries, under prefix; LICENSE only
// once the repository has one.
func docs(root, prefix string) []entry {
	var es []entry
	for _, name := range []string{"README.md", "SECURITY.md", "LICENSE"} {
		if _, err := os.Stat(filepath.Join(root, name)); name != "LICENSE" || err == nil {
			es = append(es, entry{prefix + name, filepath.Join(root, name), 0o644})
		}
	}
	return es
}

// packages writes the agent's deb and rpm for a Linux target.
func (r release) packages(bin string, t target) ([]string, error) {
	unit, err := packagedUnit(r.root, bin)
	if err != nil {
		return nil, err
	}
	p := agentPackage{root: r.root, bin: bin, unit: unit, t: t, v: r.v, mtime: r.mtime}
	var names []string
	for _, format := range packageFormats {
		name, err := p.write(format, r.out)
		if err != nil {
			return nil, fmt.Errorf("%s package for %s: %w", format, t.goarch, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// manifests writes the Scoop and WinGet manifests of the Windows zips.
func (r release) manifests(sums map[string]string) error {
	rel := manifest.Release{
		Version: r.v.Plain(), Publisher: meta.publisher, Name: meta.name, Homepage: meta.homepage,
		License: meta.license, Description: meta.description, Windows: map[string]manifest.Asset{},
	}
	for _, p := range windowsAMD64.programs {
		rel.Commands = append(rel.Commands, p.name)
	}
	for _, t := range windowsTargets {
		name := archiveName(r.v, t, ".zip")
		rel.Windows[t.goarch] = manifest.Asset{URL: r.baseURL + "/" + name, SHA256: sums[name]}
	}
	scoop, err := manifest.Scoop(rel)
	if err != nil {
		return err
	}
	winget, err := manifest.WinGet(rel)
	if err != nil {
		return err
	}
	for _, f := range append([]manifest.File{scoop}, winget...) {
		dst := filepath.Join(r.out, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// emptyDir makes sure dir exists and holds nothing, so that a release never
// mixes with what an earlier run left.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty: remove it or pass another --out", dir)
	}
	return nil
}
