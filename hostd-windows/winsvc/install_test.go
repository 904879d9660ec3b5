package winsvc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeFiles is a file system of paths, stricter than Windows where it
// matters: a copy from a missing file fails, and every copy is recorded.
type fakeFiles struct {
	files    map[string]bool
	writable map[string]string // dir -> who beyond administrators may write it
	copies   []string
	mkdirErr error
}

func (f *fakeFiles) Exists(p string) (bool, error) { return f.files[p], nil }
func (f *fakeFiles) MkdirAll(dir string) error {
	if f.mkdirErr != nil {
		return f.mkdirErr
	}
	f.files[dir] = true
	return nil
}
func (f *fakeFiles) WritableBy(dir string) (string, error) { return f.writable[dir], nil }
func (f *fakeFiles) Copy(src, dst string) error {
	if !f.files[src] {
		return errors.New("The system cannot find the file specified.")
	}
	f.files[dst] = true
	f.copies = append(f.copies, src+" -> "+dst)
	return nil
}

// abs makes an absolute path on the OS the test runs on.
func abs(parts ...string) string {
	root := "/"
	if runtime.GOOS == "windows" {
		root = `C:\`
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

func TestPlaceCopiesToProgramFiles(t *testing.T) {
	exe := abs("Users", "bob", "Downloads", "wslfwd-hostd-1.2.exe")
	cli := abs("Users", "bob", "Downloads", CLIExe)
	pf := abs("Program Files")
	fs := &fakeFiles{files: map[string]bool{exe: true, cli: true}}
	p, err := Place(fs, exe, pf)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(pf, "wslfwd", DaemonExe)
	if p.Exe != want {
		t.Errorf("registers %s, want %s: never the user-writable download", p.Exe, want)
	}
	if !slices.Equal(p.Copied, []string{want, filepath.Join(pf, "wslfwd", CLIExe)}) {
		t.Errorf("copied %q", p.Copied)
	}

	// The Linux agents of a release archive come along, in their folders.
	agent := filepath.Join(filepath.Dir(exe), Agents[1])
	fs = &fakeFiles{files: map[string]bool{exe: true, cli: true, agent: true}}
	if p, err = Place(fs, exe, pf); err != nil {
		t.Fatal(err)
	}
	if got := p.Copied[len(p.Copied)-1]; got != filepath.Join(pf, "wslfwd", "linux-arm64", "wslfwd-agent") || len(p.Copied) != 3 {
		t.Errorf("copied %q, want the daemon, the CLI and the arm64 agent", p.Copied)
	}

	// Without the CLI beside it only the daemon is copied.
	fs = &fakeFiles{files: map[string]bool{exe: true}}
	if p, err = Place(fs, exe, pf); err != nil || len(p.Copied) != 1 {
		t.Errorf("daemon alone: %+v, %v", p, err)
	}
}

// An update run by the installed program copies nothing onto itself.
func TestPlaceFromInstallDir(t *testing.T) {
	pf := abs("Program Files")
	exe := filepath.Join(pf, "WSLFWD", DaemonExe) // Windows paths ignore case
	fs := &fakeFiles{files: map[string]bool{exe: true}}
	p, err := Place(fs, exe, pf)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exe != exe || len(fs.copies) != 0 {
		t.Errorf("Place = %+v after copies %q, want the program where it is and no copy", p, fs.copies)
	}
}

func TestPlaceRefuses(t *testing.T) {
	exe := abs("tmp", DaemonExe)
	pf := abs("Program Files")
	dir := filepath.Join(pf, "wslfwd")
	fs := &fakeFiles{files: map[string]bool{exe: true}, writable: map[string]string{dir: "S-1-5-32-545"}}
	_, err := Place(fs, exe, pf)
	if err == nil || !strings.Contains(err.Error(), "may be written by S-1-5-32-545") || !strings.Contains(err.Error(), "icacls") {
		t.Errorf("user-writable install folder: %v, want a refusal with the fix", err)
	}
	if len(fs.copies) != 0 {
		t.Errorf("copied %q into a folder users may write", fs.copies)
	}
	if _, err := Place(fs, exe, "Program Files"); err == nil {
		t.Error("a relative Program Files folder was accepted")
	}
	fs = &fakeFiles{files: map[string]bool{}, mkdirErr: errors.New("Access is denied.")}
	if _, err := Place(fs, exe, pf); err == nil || !strings.Contains(err.Error(), "Access is denied.") {
		t.Errorf("mkdir failure: %v", err)
	}
}

func TestWritableBy(t *testing.T) {
	const users, bob, self = "S-1-5-32-545", "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-500"
	const read, write, full = 0x1200a9, 0x2, 0x1f01ff
	programFiles := []ACE{
		{Allow: true, SID: SIDTrustedInstaller, Mask: full},
		{Allow: true, SID: SIDSystem, Mask: full},
		{Allow: true, SID: SIDAdministrators, Mask: full},
		{Allow: true, SID: users, Mask: read},
		{Allow: true, SID: SIDCreatorOwner, Mask: 0x10000000},
	}
	for _, tc := range []struct {
		name, owner string
		dacl        []ACE
		want        string
	}{
		{"program files", SIDTrustedInstaller, programFiles, ""},
		{"owned by admins", SIDAdministrators, programFiles, ""},
		{"made by the installing admin", self, append(slices.Clone(programFiles), ACE{Allow: true, SID: self, Mask: full}), ""},
		{"user owner", bob, programFiles, bob + " (the owner)"},
		{"users may write", SIDSystem, append(slices.Clone(programFiles), ACE{Allow: true, SID: users, Mask: write}), users},
		{"generic write", SIDSystem, []ACE{{Allow: true, SID: bob, Mask: 0x40000000}}, bob},
		{"change the DACL", SIDSystem, []ACE{{Allow: true, SID: bob, Mask: 0x40000}}, bob},
		{"deny entries narrow", SIDSystem, []ACE{{Allow: false, SID: users, Mask: full}}, ""},
		{"two", SIDSystem, []ACE{{Allow: true, SID: users, Mask: full}, {Allow: true, SID: bob, Mask: 0x4}, {Allow: true, SID: users, Mask: 0x2}}, users + ", " + bob},
	} {
		if got := WritableBy(tc.owner, self, tc.dacl); got != tc.want {
			t.Errorf("%s: WritableBy = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckStateOwner(t *testing.T) {
	const self, other = "S-1-5-21-1-2-3-500", "S-1-5-21-1-2-3-1001"
	for owner, want := range map[string]StateFound{"": StateTrusted, SIDSystem: StateTrusted, SIDAdministrators: StateTrusted, self: StateUnsecured} {
		if got, err := CheckStateOwner(`C:\ProgramData\wslfwd`, owner, self); err != nil || got != want {
			t.Errorf("owner %q: %v, %v; want %v", owner, got, err, want)
		}
	}
	_, err := CheckStateOwner(`C:\ProgramData\wslfwd`, other, self)
	if !errors.Is(err, ErrForeignStateDir) || !strings.Contains(err.Error(), "owned by "+other) ||
		!strings.Contains(err.Error(), `rmdir /s /q "C:\ProgramData\wslfwd"`) {
		t.Errorf("a state dir another user made: %v, want a refusal naming the owner and the fix", err)
	}
}

// A state directory install does not trust is moved aside whole, to a
// name that says so, twice in one second too: nothing in it is used, and
// nothing is lost.
func TestSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wslfwd")
	now := time.Date(2026, 12, 7, 19, 30, 5, 0, time.UTC)
	var moved []string
	for range 2 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "token"), []byte("planted"), 0o600); err != nil {
			t.Fatal(err)
		}
		to, err := SetAside(dir, now)
		if err != nil {
			t.Fatal(err)
		}
		moved = append(moved, to)
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s still there after SetAside: %v", dir, err)
		}
		if b, err := os.ReadFile(filepath.Join(to, "token")); err != nil || string(b) != "planted" {
			t.Fatalf("what was in it is not in %s: %q, %v", to, b, err)
		}
	}
	if want := []string{dir + ".untrusted-20261207-193005", dir + ".untrusted-20261207-193005-2"}; !slices.Equal(moved, want) {
		t.Fatalf("set aside as %v, want %v", moved, want)
	}
	if note := SetAsideNote(dir, moved[0]); !strings.Contains(note, moved[0]) || !strings.Contains(note, "copy them back") {
		t.Fatalf("note %q does not say where it went and what to do", note)
	}
}

// A config file install was given that lies in a state directory it is
// about to set aside stops the install, named: the service would start
// without it. One elsewhere, or none, does not.
func TestCheckConfigNotIn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wslfwd")
	if err := CheckConfigNotIn(dir, filepath.Join(dir, "wslfwd.toml")); err == nil || !strings.Contains(err.Error(), "wslfwd.toml") {
		t.Errorf("a config inside: %v, want a refusal naming it", err)
	}
	for _, c := range []string{"", filepath.Join(filepath.Dir(dir), "wslfwd.toml"), dir + "-other.toml", filepath.Join(dir+"x", "c.toml")} {
		if err := CheckConfigNotIn(dir, c); err != nil {
			t.Errorf("config %q: %v", c, err)
		}
	}
}
