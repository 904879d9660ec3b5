package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// packagedFiles is what the agent's packages install, besides directories.
func packagedFiles(t *testing.T, arch string) map[string]wantFile {
	t.Helper()
	return map[string]wantFile{
		"/usr/bin/wslfwd-agent":                        builtFrom(0o755, "linux", arch, "agent-linux"),
		"/usr/lib/systemd/system/wslfwd-agent.service": {mode: 0o644},
		"/usr/share/doc/wslfwd-agent/README.md":        {mode: 0o644, copyOf: "README.md"},
		"/usr/share/doc/wslfwd-agent/SECURITY.md":      {mode: 0o644, copyOf: "SECURITY.md"},
	}
}

// wantUnit is the unit the packages install: the repository's, started
// from the packaged binary.
func wantUnit(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "agent-linux/dist/wslfwd-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.Replace(string(src), "\nExecStart=/usr/local/bin/wslfwd-agent ", "\nExecStart=/usr/bin/wslfwd-agent ", 1)
	if unit == string(src) {
		t.Fatal("the repository's unit does not start /usr/local/bin/wslfwd-agent: update these checks with it")
	}
	return unit
}

// Each .deb has the fields and maintainer scripts dpkg needs, holds the
// agent, its unit and documents, installs them with their modes into a
// scratch root, and comes out again: removal keeps the token, purge takes
// it and /etc/wslfwd.
func TestDistDebs(t *testing.T) {
	dir, v := distUnderTest(t)
	for _, arch := range arches {
		deb := filepath.Join(dir, debName(v, arch))
		fields := command(t, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Maintainer", "Description")
		for _, want := range []string{"Package: wslfwd-agent\n", "Version: " + pkgVersion(v) + "-1\n", "Architecture: " + arch + "\n", "Maintainer: ", "Description: wslfwd agent: "} {
			if !strings.Contains(fields, want) {
				t.Errorf("%s: fields lack %q:\n%s", deb, want, fields)
			}
		}
		info := command(t, "dpkg-deb", "--info", deb)
		for _, script := range []string{" postinst ", " prerm ", " postrm "} {
			if !strings.Contains(info, script) {
				t.Errorf("%s: no%sscript:\n%s", deb, script, info)
			}
		}
		checkDebListing(t, deb, command(t, "dpkg-deb", "--contents", deb))
		installDeb(t, deb, arch, v)
	}
}

// checkDebListing reads `dpkg-deb --contents`: every file the package should
// have, owned by root with its mode, /etc/wslfwd private, nothing else.
func checkDebListing(t *testing.T, deb, listing string) {
	t.Helper()
	modes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[1] != "root/root" {
			t.Errorf("%s: listing line %q: want 6 fields, owned by root/root", deb, line)
			continue
		}
		modes[strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")] = f[0]
	}
	want := map[string]string{"/etc/wslfwd": "drwx------"}
	for path, w := range packagedFiles(t, "amd64") {
		want[path] = map[fs.FileMode]string{0o755: "-rwxr-xr-x", 0o644: "-rw-r--r--"}[w.mode]
	}
	for path, mode := range modes {
		if w, ok := want[path]; ok && mode != w {
			t.Errorf("%s: %s has mode %s, want %s", deb, path, mode, w)
		} else if !ok && mode != "drwxr-xr-x" {
			t.Errorf("%s: holds %s (%s), which it should not", deb, path, mode)
		}
	}
	for path := range want {
		if _, ok := modes[path]; !ok {
			t.Errorf("%s: lacks %s", deb, path)
		}
	}
}

// installDeb installs the package into a scratch root with dpkg, checks the
// files there, then removes and purges it.
func installDeb(t *testing.T, deb, arch string, v version) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The maintainer scripts run outside the root with DPKG_ROOT set, which
	// they honour: no systemctl, files only under the root.
	dpkg := func(args ...string) string {
		return command(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-architecture", "--log=/dev/null"}, args...)...)
	}
	dpkg("--install", deb)
	installed := map[string]archived{}
	for path := range packagedFiles(t, arch) {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: after install: %v", deb, err)
			continue
		}
		data, _ := os.ReadFile(filepath.Join(root, path))
		installed[path] = archived{fi.Mode(), data}
	}
	files := packagedFiles(t, arch)
	unit := files["/usr/lib/systemd/system/wslfwd-agent.service"]
	delete(files, "/usr/lib/systemd/system/wslfwd-agent.service")
	if got := string(installed["/usr/lib/systemd/system/wslfwd-agent.service"].data); got != wantUnit(t) || installed["/usr/lib/systemd/system/wslfwd-agent.service"].mode != unit.mode {
		t.Errorf("%s: installed unit is not the repository's started from /usr/bin:\n%s", deb, got)
	}
	delete(installed, "/usr/lib/systemd/system/wslfwd-agent.service")
	checkFiles(t, deb+" installed", installed, files, v)
	if fi, err := os.Stat(filepath.Join(root, "etc/wslfwd")); err != nil || fi.Mode() != fs.ModeDir|0o700 {
		t.Errorf("%s: /etc/wslfwd after install: %v %v, want a directory with mode 0700", deb, fi.Mode(), err)
	}
	removeAndPurge(t, deb, root, dpkg)
}

// removeAndPurge checks that removal takes the package's files and keeps
// the agent's token and settings, and that purge takes those too.
func removeAndPurge(t *testing.T, deb, root string, dpkg func(...string) string) {
	t.Helper()
	for _, f := range []string{"token", "agent.env"} {
		if err := os.WriteFile(filepath.Join(root, "etc/wslfwd", f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dpkg("--remove", "wslfwd-agent")
	if left := filesUnder(t, root); !slices.Equal(left, []string{"etc/wslfwd/agent.env", "etc/wslfwd/token"}) {
		t.Errorf("%s: after remove the root holds %q, want only the token and agent.env", deb, left)
	}
	dpkg("--purge", "wslfwd-agent")
	if left := filesUnder(t, root); len(left) != 0 {
		t.Errorf("%s: after purge the root holds %q, want nothing", deb, left)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/wslfwd")); !os.IsNotExist(err) {
		t.Errorf("%s: /etc/wslfwd is still there after purge (%v)", deb, err)
	}
}

// filesUnder lists the files and symlinks under root, dpkg's own database
// aside.
func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, path)
		switch {
		case err != nil:
			return err
		case rel == "var/lib/dpkg":
			return filepath.SkipDir
		case !d.IsDir():
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Each .rpm names itself right, holds the same files as the .deb with the
// same modes, the agent byte for byte the tarball's (whose headers
// TestDistLinuxTarballs reads), and the maintainer scripts.
func TestDistRPMs(t *testing.T) {
	dir, v := distUnderTest(t)
	unitSum := sha256Hex([]byte(wantUnit(t)))
	for _, arch := range arches {
		rpm := filepath.Join(dir, rpmName(v, arch))
		name := command(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", rpm)
		if want := "wslfwd-agent " + pkgVersion(v) + " 1 " + rpmArch[arch]; name != want {
			t.Errorf("%s: is %q, want %q", rpm, name, want)
		}
		tarball := readTarGz(t, filepath.Join(dir, tarName(v, arch)))
		agentSum := sha256Hex(tarball[strings.TrimSuffix(tarName(v, arch), ".tar.gz")+"/wslfwd-agent"].data)
		want := map[string]string{"/etc/wslfwd": "040700 " + strings.Repeat("0", 64)}
		for path, w := range packagedFiles(t, arch) {
			sum := map[string]string{"/usr/bin/wslfwd-agent": agentSum, "/usr/lib/systemd/system/wslfwd-agent.service": unitSum}[path]
			if w.copyOf != "" {
				sum = fileSHA256(t, filepath.Join(repoRoot, w.copyOf))
			}
			want[path] = map[fs.FileMode]string{0o755: "0100755 ", 0o644: "0100644 "}[w.mode] + sum
		}
		got := map[string]string{}
		// --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
		for _, line := range strings.Split(command(t, "rpm", "-qp", "--dump", rpm), "\n") {
			f := strings.Fields(line)
			if len(f) < 7 || f[5] != "root" || f[6] != "root" {
				t.Errorf("%s: dump line %q: want a file owned by root:root", rpm, line)
				continue
			}
			got[f[0]] = f[4] + " " + f[3]
		}
		for path, w := range want {
			if got[path] != w {
				t.Errorf("%s: %s is %q (mode digest), want %q", rpm, path, got[path], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: holds %d files, want %d: %v", rpm, len(got), len(want), got)
		}
		scripts := command(t, "rpm", "-qp", "--scripts", rpm)
		for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "DPKG_ROOT"} {
			if !strings.Contains(scripts, s) {
				t.Errorf("%s: scripts lack %q:\n%s", rpm, s, scripts)
			}
		}
	}
}

// command runs a program and returns its output, trimmed; it fails the test
// with what the command said if it fails or is missing.
func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
