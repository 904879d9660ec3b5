package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"debug/pe"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository, seen from this package's folder.
var repoRoot = filepath.Join("..", "..")

// wantFile is what one file of an archive or package must be: its mode, and
// either the program it is built from for goos/goarch or the repository
// file it copies.
type wantFile struct {
	mode         fs.FileMode
	main         string // a main package under the module: "cli"
	goos, goarch string
	copyOf       string // a repository file: "README.md"
}

func builtFrom(mode fs.FileMode, goos, goarch, main string) wantFile {
	return wantFile{mode: mode, goos: goos, goarch: goarch, main: main}
}

// withDocs adds the documents every archive carries, under prefix.
func withDocs(t *testing.T, files map[string]wantFile, prefix string) map[string]wantFile {
	t.Helper()
	for _, doc := range []string{"README.md", "SECURITY.md", "LICENSE"} {
		if _, err := os.Stat(filepath.Join(repoRoot, doc)); doc != "LICENSE" || err == nil {
			files[prefix+doc] = wantFile{mode: 0o644, copyOf: doc}
		}
	}
	return files
}

// archived is one file read from an archive.
type archived struct {
	mode fs.FileMode
	data []byte
}

// Each Windows zip holds the CLI and the daemon for its architecture on
// top, the agents for both Linux architectures, and the documents.
func TestDistWindowsZips(t *testing.T) {
	dir, v := distUnderTest(t)
	for _, arch := range arches {
		want := withDocs(t, map[string]wantFile{
			"wslfwd.exe":               builtFrom(0o755, "windows", arch, "cli"),
			"wslfwd-hostd.exe":         builtFrom(0o755, "windows", arch, "hostd-windows"),
			"linux-amd64/wslfwd-agent": builtFrom(0o755, "linux", "amd64", "agent-linux"),
			"linux-arm64/wslfwd-agent": builtFrom(0o755, "linux", "arm64", "agent-linux"),
		}, "")
		checkFiles(t, zipName(v, arch), readZip(t, filepath.Join(dir, zipName(v, arch))), want, v)
	}
}

// Each Linux tarball holds, in one folder, the CLI and the agent, the
// agent's unit as the repository has it, and the documents.
func TestDistLinuxTarballs(t *testing.T) {
	dir, v := distUnderTest(t)
	for _, arch := range arches {
		top := strings.TrimSuffix(tarName(v, arch), ".tar.gz") + "/"
		want := withDocs(t, map[string]wantFile{
			top + "wslfwd":               builtFrom(0o755, "linux", arch, "cli"),
			top + "wslfwd-agent":         builtFrom(0o755, "linux", arch, "agent-linux"),
			top + "wslfwd-agent.service": {mode: 0o644, copyOf: "agent-linux/dist/wslfwd-agent.service"},
		}, top)
		checkFiles(t, tarName(v, arch), readTarGz(t, filepath.Join(dir, tarName(v, arch))), want, v)
	}
}

// checkFiles fails unless got holds exactly the files of want, each as it
// says.
func checkFiles(t *testing.T, archive string, got map[string]archived, want map[string]wantFile, v version) {
	t.Helper()
	var gotNames, wantNames []string
	for name := range got {
		gotNames = append(gotNames, name)
	}
	for name, w := range want {
		wantNames = append(wantNames, name)
		g, ok := got[name]
		if !ok {
			continue
		}
		if g.mode != w.mode {
			t.Errorf("%s: %s has mode %v, want %v", archive, name, g.mode, w.mode)
		}
		if w.main != "" {
			checkBinary(t, archive+": "+name, g.data, w, v)
		} else if doc, err := os.ReadFile(filepath.Join(repoRoot, w.copyOf)); err != nil || !bytes.Equal(g.data, doc) {
			t.Errorf("%s: %s is not the repository's %s (%v)", archive, name, w.copyOf, err)
		}
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("%s holds %q, want %q", archive, gotNames, wantNames)
	}
}

// checkBinary fails unless data is a static executable for w's platform,
// built from w's program the way goBuild builds it for v. The headers are
// read as the OS would (ELF, PE), the build settings from Go's build info.
func checkBinary(t *testing.T, name string, data []byte, w wantFile, v version) {
	t.Helper()
	switch w.goos {
	case "linux":
		checkELF(t, name, data, w.goarch)
	case "windows":
		checkPE(t, name, data, w.goarch)
	}
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: no Go build info: %v", name, err)
		return
	}
	if bi.Path != module+"/"+w.main {
		t.Errorf("%s: built from %s, want %s/%s", name, bi.Path, module, w.main)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"GOOS": w.goos, "GOARCH": w.goarch, "CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[key] != want {
			t.Errorf("%s: built with %s=%q, want %q", name, key, settings[key], want)
		}
	}
	// -trimpath keeps -ldflags out of the build info; the stamped version
	// is a string in the binary, which an unstamped one does not hold.
	if !bytes.Contains(data, []byte(v.Tag())) {
		t.Errorf("%s: does not hold the version %s", name, v.Tag())
	}
}

func checkELF(t *testing.T, name string, data []byte, goarch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: not ELF: %v", name, err)
		return
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if f.Class != elf.ELFCLASS64 || f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF %v %v %v, want a 64-bit %v executable", name, f.Class, f.Machine, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (has an interpreter), want static", name)
		}
	}
}

func checkPE(t *testing.T, name string, data []byte, goarch string) {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: not PE: %v", name, err)
		return
	}
	machine := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[goarch]
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if f.Machine != machine || !ok || oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
		t.Errorf("%s: PE machine %#x (64-bit header: %v), want %#x, a console program", name, f.Machine, ok, machine)
	}
}

func readZip(t *testing.T, path string) map[string]archived {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string]archived{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, f.Name, err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, f.Name, err)
		}
		files[f.Name] = archived{f.Mode(), data}
	}
	return files
}

func readTarGz(t *testing.T, path string) map[string]archived {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	files := map[string]archived{}
	for tr := tar.NewReader(gz); ; {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil || h.Typeflag != tar.TypeReg || h.Uid != 0 || h.Gid != 0 {
			t.Fatalf("%s: %s: want a regular file owned by root (%v)", path, h.Name, err)
		}
		files[h.Name] = archived{fs.FileMode(h.Mode), data}
	}
}
