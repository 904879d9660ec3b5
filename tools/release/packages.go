package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Where the agent's package puts its files. A package owns /usr, never
// /usr/local (where `wslfwd-agent install` and the unit's manual steps put
// the binary), so the packaged unit is the source's with ExecStart moved.
const (
	agentUnitSource = "agent-linux/dist/wslfwd-agent.service"
	agentUnitPath   = "/usr/lib/systemd/system/wslfwd-agent.service"
	agentBinPath    = "/usr/bin/wslfwd-agent"
	agentLocalPath  = "/usr/local/bin/wslfwd-agent"
	agentConfigDir  = "/etc/wslfwd"
)

// packageFormats are the nfpm packagers the agent is packaged with.
var packageFormats = []string{"deb", "rpm"}

// agentPackage is the package of the agent for one Linux target, to be
// written by each packager.
type agentPackage struct {
	root, bin, unit string // the repository, the build directory, the rewritten unit
	t               target
	v               version
	mtime           time.Time
}

// write makes the package in one format into out and returns its file name.
func (p agentPackage) write(format, out string) (string, error) {
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	info := nfpm.WithDefaults(p.info())
	name := pkgr.ConventionalFileName(info)
	dst := filepath.Join(out, name)
	err = writeArchive(dst, func(w io.Writer) error { return pkgr.Package(info, w) })
	return name, err
}

// info describes the package. nfpm changes what it is given, so each
// packager gets its own.
func (p agentPackage) info() *nfpm.Info {
	doc := func(name string) *files.Content {
		return &files.Content{
			Source: filepath.Join(p.root, name), Destination: "/usr/share/doc/wslfwd-agent/" + name,
			FileInfo: &files.ContentFileInfo{Mode: 0o644},
		}
	}
	scripts := filepath.Join(p.root, "tools", "release", "maintainer")
	return &nfpm.Info{
		Name: "wslfwd-agent", Arch: p.t.goarch, Platform: "linux", Version: p.v.Tag(), Release: "1",
		Section: "net", Priority: "optional", Maintainer: meta.maintainer, Vendor: meta.publisher,
		Homepage: meta.homepage, License: meta.license,
		// dpkg reads the first line as the synopsis, the rest as the long description.
		Description: meta.agentSummary + "\n" + meta.agentDescription,
		MTime:       p.mtime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: p.t.binary(p.bin, agent), Destination: agentBinPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: p.unit, Destination: agentUnitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Destination: agentConfigDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o700}},
				doc("README.md"), doc("SECURITY.md"),
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(scripts, "postinstall.sh"),
				PreRemove:   filepath.Join(scripts, "preremove.sh"),
				PostRemove:  filepath.Join(scripts, "postremove.sh"),
			},
			RPM: nfpm.RPM{BuildHost: "localhost", Summary: meta.agentSummary},
		},
	}
}

// packagedUnit writes the agent's systemd unit with ExecStart pointing at
// the packaged binary into dir, and returns its path. It fails if the source
// unit no longer starts the agent from /usr/local/bin, rather than ship a
// unit that starts nothing.
func packagedUnit(root, dir string) (string, error) {
	src, err := os.ReadFile(filepath.Join(root, agentUnitSource))
	if err != nil {
		return "", err
	}
	old := []byte("\nExecStart=" + agentLocalPath + " ")
	if bytes.Count(src, old) != 1 {
		return "", fmt.Errorf("%s: want exactly one line starting %q", agentUnitSource, old[1:])
	}
	unit := bytes.Replace(src, old, []byte("\nExecStart="+agentBinPath+" "), 1)
	dst := filepath.Join(dir, "wslfwd-agent.service")
	return dst, os.WriteFile(dst, unit, 0o644)
}
