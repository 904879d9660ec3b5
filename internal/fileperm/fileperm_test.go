package fileperm

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// wantRefusal fails unless err is a refusal that contains every part.
func wantRefusal(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want a refusal containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestOwnerUIDMessages(t *testing.T) {
	if err := checkOwnerUID("/x/token", 0, 0, private); err != nil {
		t.Errorf("root-owned file for root: %v", err)
	}
	if err := checkOwnerUID("/x/token", 1000, 1000, private); err != nil {
		t.Errorf("own file for a non-root user: %v", err)
	}
	wantRefusal(t, checkOwnerUID("/x/token", 1000, 0, private), "/x/token is owned by uid 1000", "not by root", "chown 0 /x/token")
	wantRefusal(t, checkOwnerUID("/x/token", 0, 1000, private), "owned by uid 0", "not by uid 1000", "chown 1000 /x/token")
}

func TestModeBits(t *testing.T) {
	for _, m := range []os.FileMode{0o600, 0o400, 0o700 | os.ModeDir} {
		if err := checkModeBits("/x", m, private); err != nil {
			t.Errorf("mode %v refused: %v", m, err)
		}
	}
	wantRefusal(t, checkModeBits("/x/token", 0o644, private), "mode 0644", "chmod 600 /x/token")
	wantRefusal(t, checkModeBits("/x/token", 0o620, private), "mode 0620", "chmod 600 /x/token")
	wantRefusal(t, checkModeBits("/x/state", 0o755|os.ModeDir, private), "mode 0755", "chmod 700 /x/state")
}

func TestCheckPrivateOnDisk(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes; the Windows judging is TestJudgeDescriptor")
	}
	dir := filepath.Join(t.TempDir(), "state") // t.TempDir itself is 0755
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, file} {
		if err := CheckPrivate(p); err != nil {
			t.Errorf("CheckPrivate(%s): %v", p, err)
		}
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, CheckPrivate(file), "chmod 600 "+file)
	wantRefusal(t, CheckNotShared(file), "chmod 600 "+file)
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, CheckPrivate(dir), "chmod 700 "+dir)
	wantRefusal(t, CheckPrivate(filepath.Join(dir, "missing")), "missing")
	wantRefusal(t, CheckReadShared(filepath.Join(dir, "missing")), "missing")
}

// The read token may be 0644 on disk; 0664 and a foreign owner are not.
func TestCheckReadSharedOnDisk(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes; the Windows judging is TestJudgeDescriptorReadShared")
	}
	file := filepath.Join(t.TempDir(), "read.token")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckReadShared(file); err != nil {
		t.Errorf("0644 read token: %v", err)
	}
	wantRefusal(t, CheckPrivate(file), "chmod 600 "+file)
	if err := os.Chmod(file, 0o664); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, CheckReadShared(file), "chmod 644 "+file)
	if os.Geteuid() != 0 {
		return // giving a file away needs root; TestOwnerUIDMessages covers the rule
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(file, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, CheckReadShared(file), "owned by uid 4242")
}

// As root, a file of another user is refused even with mode 0600.
func TestCheckPrivateForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to give a file away; TestOwnerUIDMessages covers the rule")
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(file, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, CheckPrivate(file), "owned by uid 4242", "chown 0 "+file)
	if err := CheckNotShared(file); err != nil {
		t.Errorf("the agent's check looks at the mode only: %v", err)
	}
}

func TestJudgeDescriptor(t *testing.T) {
	const self, users, everyone = "S-1-5-21-1-2-3-1001", "S-1-5-32-545", "S-1-1-0"
	allow := func(sid string) ace { return ace{Allow: true, SID: sid} }
	good := []ace{allow(sidSystem), allow(sidAdministrators)}
	ok := map[string]descriptor{
		"service files":        {Owner: sidSystem, ACEs: good},
		"owned by admins":      {Owner: sidAdministrators, ACEs: good},
		"own user":             {Owner: self, ACEs: append([]ace{allow(self)}, good...)},
		"deny others":          {Owner: sidSystem, ACEs: append([]ace{{Allow: false, SID: everyone}}, good...)},
		"creator owner (dirs)": {Owner: sidSystem, ACEs: append([]ace{allow(sidCreatorOwner)}, good...)},
		"empty DACL":           {Owner: sidSystem},
	}
	for name, d := range ok {
		if err := judgeDescriptor(`C:\s\token`, false, d, self, private); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	wantRefusal(t, judgeDescriptor(`C:\s\token`, false, descriptor{Owner: users, ACEs: good}, self, private),
		`C:\s\token is owned by `+users, `icacls "C:\s\token" /setowner *S-1-5-32-544`)
	wantRefusal(t, judgeDescriptor(`C:\s`, true, descriptor{Owner: sidSystem, NullDACL: true}, self, private),
		"no access list", `icacls "C:\s" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F`)
	wantRefusal(t, judgeDescriptor(`C:\s\token`, false, descriptor{Owner: sidSystem, ACEs: append(good, allow(users))}, self, private),
		"allows access to "+users, `/remove:g *`+users+` /grant:r *S-1-5-18:F *S-1-5-32-544:F`)
	wantRefusal(t, judgeDescriptor(`C:\s\token`, false, descriptor{Owner: sidSystem, ACEs: append(good, allow(self))}, "S-1-5-18", private),
		"allows access to "+self)
}

// The read token may be read by others, never changed by them; the owner
// rule is unchanged.
func TestReadSharedModeBits(t *testing.T) {
	for _, m := range []os.FileMode{0o600, 0o640, 0o644, 0o444} {
		if err := checkModeBits("/x/read.token", m, readShared); err != nil {
			t.Errorf("mode %v refused for the read token: %v", m, err)
		}
	}
	for _, m := range []os.FileMode{0o664, 0o646, 0o666} {
		wantRefusal(t, checkModeBits("/x/read.token", m, readShared), "may be written by group or others", "chmod 644 /x/read.token")
	}
}

func TestJudgeDescriptorReadShared(t *testing.T) {
	const self, users, everyone = "S-1-5-21-1-2-3-1001", "S-1-5-32-545", "S-1-1-0"
	grant := func(sid string, mask uint32) ace { return ace{Allow: true, SID: sid, Mask: mask} }
	const fileAll, fileRead, fileReadExec = 0x1f01ff, 0x120089, 0x1200a9
	good := []ace{grant(sidSystem, fileAll), grant(sidAdministrators, fileAll)}
	for name, extra := range map[string]ace{
		"users read (R)":     grant(users, fileRead),
		"users read (RX)":    grant(users, fileReadExec),
		"everyone read":      grant(everyone, fileRead),
		"generic read":       grant(users, 0x80000000),
		"users denied write": {Allow: false, SID: users, Mask: 0x2},
	} {
		d := descriptor{Owner: sidAdministrators, ACEs: append(good, extra)}
		if err := judgeDescriptor(`C:\s\read.token`, false, d, self, readShared); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
		if extra.Allow {
			wantRefusal(t, judgeDescriptor(`C:\s\token`, false, d, self, private), "allows access to "+extra.SID)
		}
	}
	for name, mask := range map[string]uint32{
		"write data":    0x2,
		"append":        0x4,
		"write attribs": 0x100,
		"delete":        0x10000,
		"write DAC":     0x40000,
		"take owner":    0x80000,
		"generic write": 0x40000000,
		"generic all":   0x10000000,
		"full control":  fileAll,
		"modify":        0x1301bf,
	} {
		t.Run(name, func(t *testing.T) {
			d := descriptor{Owner: sidSystem, ACEs: append(good, grant(users, mask))}
			wantRefusal(t, judgeDescriptor(`C:\s\read.token`, false, d, self, readShared),
				"lets "+users+" change it", `icacls "C:\s\read.token" /remove:g *`+users+` /grant:r *S-1-5-32-545:R`)
		})
	}
	wantRefusal(t, judgeDescriptor(`C:\s\read.token`, false, descriptor{Owner: users, ACEs: good}, self, readShared),
		"is owned by "+users)
	wantRefusal(t, judgeDescriptor(`C:\s\read.token`, false, descriptor{Owner: sidSystem, NullDACL: true}, self, readShared),
		"no access list")
}

// The config may be read by others, never changed by them, like the read
// token; its hints never say the daemon makes it again, and say how
// install secures it.
func TestConfigRule(t *testing.T) {
	wantRefusal(t, checkModeBits("/etc/wslfwd.toml", 0o664, config), "may be written by group or others", "chmod 644 /etc/wslfwd.toml")
	if err := checkModeBits("/etc/wslfwd.toml", 0o644, config); err != nil {
		t.Errorf("0644 config refused: %v", err)
	}
	err := checkOwnerUID("/etc/wslfwd.toml", 1000, 0, config)
	wantRefusal(t, err, "owned by uid 1000", "chown 0 /etc/wslfwd.toml")
	if strings.Contains(err.Error(), "created again") {
		t.Errorf("the daemon never makes a config, but the hint says so: %v", err)
	}

	const self, users = "S-1-5-21-1-2-3-1001", "S-1-5-32-545"
	grant := func(sid string, mask uint32) ace { return ace{Allow: true, SID: sid, Mask: mask} }
	const fileAll, fileRead, modify = 0x1f01ff, 0x120089, 0x1301bf
	good := []ace{grant(sidSystem, fileAll), grant(sidAdministrators, fileAll)}
	path := `C:\ProgramData\wslfwd\config.toml`
	if err := judgeDescriptor(path, false, descriptor{Owner: sidAdministrators, ACEs: append(good, grant(users, fileRead))}, sidSystem, config); err != nil {
		t.Errorf("a config Users may read: %v", err)
	}
	// Written from an elevated editor, a file is the user's own: the
	// service (SYSTEM) refuses it, since the user's unelevated processes
	// may change it through the owner's implicit rights.
	wantRefusal(t, judgeDescriptor(path, false, descriptor{Owner: self, ACEs: good}, sidSystem, config),
		"owned by "+self, "wslfwd-hostd install -- --config", `icacls "`+path+`" /setowner *S-1-5-32-544`)
	// A config in the user's profile inherits the user's full control:
	// the fix must end the inheritance, which /remove:g alone cannot.
	wantRefusal(t, judgeDescriptor(path, false, descriptor{Owner: sidAdministrators, ACEs: append(good, grant(self, modify))}, sidSystem, config),
		"lets "+self+" change it", `icacls "`+path+`" /inheritance:r /remove:g *`+self+` /grant:r *S-1-5-18:F *S-1-5-32-544:F`)
}

// CheckConfig judges the open file, not the path: a file put in its
// place after the open does not change the verdict on what is read.
func TestCheckConfigJudgesTheOpenFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes; the Windows judging is TestConfigRule and TestCheckConfigReadsDACL")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "wslfwd.toml")
	if err := os.WriteFile(path, []byte("udp = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	swapped := filepath.Join(dir, "swapped.toml")
	if err := os.WriteFile(swapped, []byte("udp = true\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(swapped, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Rename(swapped, path); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfig(f); err != nil {
		t.Errorf("the file opened was 0644: %v", err)
	}
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	wantRefusal(t, CheckConfig(g), path+" may be written by group or others (mode 0666)", "chmod 644 "+path)
}
