package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scriptRun is one run of a maintainer script and the systemctl calls it
// must make.
type scriptRun struct {
	name    string
	script  string   // in maintainer/
	args    []string // as dpkg or rpm pass them
	systemd bool     // the system was booted with systemd
	token   bool     // /etc/wslfwd/token exists
	env     []string
	want    []string // systemctl's arguments, one call each
}

// The maintainer scripts start, restart, stop and disable the agent only
// where they should. Each runs as dpkg or rpm would run it, in a mount
// namespace whose /run says whether systemd booted and whose /etc is an
// overlay, so the machine's own are untouched; systemctl is a stand-in that
// records its calls.
func TestMaintainerScripts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, for a mount namespace with its own /run and /etc")
	}
	start, restart := "enable --now wslfwd-agent.service", "try-restart wslfwd-agent.service"
	reload, stop, disable := "daemon-reload", "disable --now wslfwd-agent.service", "disable wslfwd-agent.service"
	for _, r := range []scriptRun{
		{"deb install without systemd", "postinstall.sh", []string{"configure", ""}, false, true, nil, nil},
		{"deb install, no token yet", "postinstall.sh", []string{"configure", ""}, true, false, nil, []string{reload}},
		{"deb install with token", "postinstall.sh", []string{"configure", ""}, true, true, nil, []string{reload, start}},
		{"deb upgrade", "postinstall.sh", []string{"configure", "0.9.0-1"}, true, true, nil, []string{reload, restart}},
		{"deb install into a root", "postinstall.sh", []string{"configure", ""}, true, true, []string{"DPKG_ROOT=/tmp/x"}, nil},
		{"rpm install with token", "postinstall.sh", []string{"1"}, true, true, nil, []string{reload, start}},
		{"rpm install without systemd", "postinstall.sh", []string{"1"}, false, true, nil, nil},
		{"rpm upgrade", "postinstall.sh", []string{"2"}, true, true, nil, []string{reload, restart}},
		{"deb remove", "preremove.sh", []string{"remove"}, true, true, nil, []string{stop}},
		{"deb remove without systemd", "preremove.sh", []string{"remove"}, false, true, nil, []string{disable}},
		{"deb upgrade, old prerm", "preremove.sh", []string{"upgrade", "1.0.0-1"}, true, true, nil, nil},
		{"rpm erase", "preremove.sh", []string{"0"}, true, true, nil, []string{stop}},
		{"rpm upgrade, old preun", "preremove.sh", []string{"1"}, true, true, nil, nil},
		{"deb remove, postrm", "postremove.sh", []string{"remove"}, true, true, nil, []string{reload}},
		{"rpm erase, postun", "postremove.sh", []string{"0"}, true, true, nil, []string{reload}},
		{"rpm upgrade, old postun", "postremove.sh", []string{"1"}, true, true, nil, nil},
	} {
		t.Run(r.name, func(t *testing.T) {
			if got := runScript(t, r); !slices.Equal(got, r.want) {
				t.Errorf("%s %q called systemctl %q, want %q", r.script, r.args, got, r.want)
			}
		})
	}
}

// runScript runs r in its own mount namespace and returns systemctl's calls.
func runScript(t *testing.T, r scriptRun) []string {
	t.Helper()
	// Not t.TempDir: it carries the test's name, whose commas would split
	// the overlay's mount options.
	tmp, err := os.MkdirTemp("", "wslfwd-maintainer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	fake, log := filepath.Join(tmp, "bin"), filepath.Join(tmp, "systemctl.log")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte("#!/bin/sh\necho \"$*\" >>"+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	setup := "mount -t tmpfs tmpfs /run && " +
		"mount -t overlay overlay -o lowerdir=/etc,upperdir=" + tmp + "/upper,workdir=" + tmp + "/work /etc && "
	if r.systemd {
		setup += "mkdir -p /run/systemd/system && "
	}
	if r.token {
		setup += "mkdir -p /etc/wslfwd && echo x >/etc/wslfwd/token && "
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(filepath.Join("maintainer", r.script))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private",
		"sh", "-c", setup + `exec sh "$0" "$@"`, script}, r.args...)...)
	cmd.Env = append(append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH")), r.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", r.script, r.args, err, out)
	}
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// Purge removes the agent's token and settings, and /etc/wslfwd only if
// nothing else is left in it: a file wslfwd did not make stays. Removal
// and rpm's erase keep both.
func TestPostremovePurge(t *testing.T) {
	for _, tc := range []struct {
		arg      string
		other    bool // a file wslfwd did not make
		wantLeft []string
	}{
		{"purge", false, nil},
		{"purge", true, []string{"etc/wslfwd/notes.txt"}},
		{"remove", false, []string{"etc/wslfwd/agent.env", "etc/wslfwd/token"}},
		{"0", false, []string{"etc/wslfwd/agent.env", "etc/wslfwd/token"}},
	} {
		root := t.TempDir()
		names := []string{"token", "agent.env"}
		if tc.other {
			names = append(names, "notes.txt")
		}
		if err := os.MkdirAll(filepath.Join(root, "etc/wslfwd"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(root, "etc/wslfwd", n), []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("sh", filepath.Join("maintainer", "postremove.sh"), tc.arg)
		cmd.Env = append(os.Environ(), "DPKG_ROOT="+root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postremove %s: %v\n%s", tc.arg, err, out)
		}
		if left := filesUnder(t, root); !slices.Equal(left, tc.wantLeft) {
			t.Errorf("postremove %s (other file: %v) left %q, want %q", tc.arg, tc.other, left, tc.wantLeft)
		}
		_, err := os.Stat(filepath.Join(root, "etc/wslfwd"))
		if gone := os.IsNotExist(err); gone != (len(tc.wantLeft) == 0) {
			t.Errorf("postremove %s (other file: %v): /etc/wslfwd gone: %v, want %v", tc.arg, tc.other, gone, len(tc.wantLeft) == 0)
		}
	}
}
