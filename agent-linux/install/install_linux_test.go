package install

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/dist"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789"

// absent stands for a distro without /etc/wsl.conf.
const absent = "\x00absent"

// wslConfs are the files install must keep, byte for byte.
var wslConfs = map[string]string{
	"no wsl.conf":        absent,
	"boot command":       "[boot]\ncommand = \"service ssh start\"\n",
	"sections, comments": "# my distro\n[network]\nhostname = box # short\n\n[user]\ndefault = me",
	"CRLF, boot command": "# mine\r\n[boot]\r\nsystemd = false\r\ncommand = mount -a # keep\r\n[interop]\r\nenabled = false\r\n",
}

// env is a scratch root filesystem, an agent binary to install and a
// fake system.
type env struct {
	t    *testing.T
	root string
	bin  string
	sys  *fakeSystem
	out  strings.Builder
}

func newEnv(t *testing.T, systemd bool, wslConf string) *env {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"etc/systemd/system/multi-user.target.wants", "var/log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if wslConf != absent {
		writeTestFile(t, filepath.Join(root, wslConfPath), wslConf, 0o644)
	}
	e := &env{t: t, root: root, bin: filepath.Join(t.TempDir(), "wslfwd-agent"), sys: &fakeSystem{root: root, systemd: systemd}}
	writeTestFile(t, e.bin, "agent v1", 0o755)
	return e
}

func writeTestFile(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
}

func (e *env) config() Config {
	return Config{Root: e.root, Binary: e.bin, Token: testToken, Distro: "Ubuntu", System: e.sys, Out: &e.out}
}

// install runs Install with c and returns what it said.
func (e *env) install(c Config) string {
	e.t.Helper()
	e.out.Reset()
	if err := Install(c); err != nil {
		e.t.Fatalf("install: %v\n%s", err, e.out.String())
	}
	return e.out.String()
}

func (e *env) uninstall() string {
	e.t.Helper()
	e.out.Reset()
	if err := Uninstall(Config{Root: e.root, System: e.sys, Out: &e.out}); err != nil {
		e.t.Fatalf("uninstall: %v\n%s", err, e.out.String())
	}
	return e.out.String()
}

func (e *env) read(path string) (string, os.FileMode) {
	e.t.Helper()
	p := filepath.Join(e.root, path)
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return string(b), fi.Mode().Perm()
}

func (e *env) wantFile(path, data string, perm os.FileMode) {
	e.t.Helper()
	got, mode := e.read(path)
	if got != data || mode != perm {
		e.t.Errorf("%s: %q mode %04o, want %q mode %04o", path, got, mode, data, perm)
	}
}

func (e *env) wantCalls(want ...string) {
	e.t.Helper()
	if got := e.sys.takeCalls(); !slices.Equal(got, want) {
		e.t.Errorf("calls %q, want %q", got, want)
	}
}

func (e *env) wantSame(before snapshot, when string) {
	e.t.Helper()
	if d := before.diff(snap(e.t, e.root)); len(d) > 0 {
		e.t.Errorf("%s, the tree changed:\n%s", when, strings.Join(d, "\n"))
	}
}

// TestInstallTwiceUninstall runs every variant: with and without systemd,
// against each wsl.conf. The second install changes nothing; uninstall
// leaves the tree as it was, wsl.conf byte for byte.
func TestInstallTwiceUninstall(t *testing.T) {
	for _, systemd := range []bool{false, true} {
		for name, conf := range wslConfs {
			t.Run(map[bool]string{false: "boot command", true: "systemd"}[systemd]+"/"+name, func(t *testing.T) {
				e := newEnv(t, systemd, conf)
				before := snap(t, e.root)
				e.install(e.config())
				e.wantFile(binPath, "agent v1", 0o755)
				e.wantFile(tokenPath, testToken+"\n", 0o600)
				if fi, err := os.Stat(filepath.Join(e.root, configDir)); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: %v, want mode 0700", configDir, fi)
				}
				if systemd {
					e.wantInstalledUnit(before)
				} else {
					e.wantBootCommand(conf)
				}

				installed := snap(t, e.root)
				if out := e.install(e.config()); out != "wslfwd-agent is installed and running: nothing to change\n" {
					t.Errorf("second install said:\n%s", out)
				}
				e.wantCalls()
				e.wantSame(installed, "after the second install")

				e.uninstall()
				if systemd {
					e.wantCalls("systemctl disable --now "+unitName, "systemctl daemon-reload")
				} else {
					e.wantCalls("stop 1001")
				}
				e.wantSame(before, "after uninstall")
			})
		}
	}
}

func (e *env) wantInstalledUnit(before snapshot) {
	e.t.Helper()
	e.wantFile(unitPath, dist.Unit, 0o644)
	e.wantFile(envPath, "WSL_DISTRO_NAME=Ubuntu\n", 0o600)
	e.wantCalls("systemctl daemon-reload", "systemctl enable "+unitName, "systemctl start "+unitName)
	if after := snap(e.t, e.root); after["etc/wsl.conf"] != before["etc/wsl.conf"] {
		e.t.Errorf("with systemd, wsl.conf changed: %q", after["etc/wsl.conf"])
	}
}

func (e *env) wantBootCommand(orig string) {
	e.t.Helper()
	cmd := bootCommand("Ubuntu", "")
	conf, _ := e.read(wslConfPath)
	if strings.Count(conf, cmd) != 1 {
		e.t.Errorf("wsl.conf does not start the agent once:\n%s", conf)
	}
	if orig != absent && strings.Contains(orig, "\r\n") && strings.Count(conf, "\n") != strings.Count(conf, "\r\n") {
		e.t.Errorf("a CRLF wsl.conf got LF lines:\n%q", conf)
	}
	e.wantCalls("start " + cmd)
}

// A second install repairs what is wrong, and restarts the agent to use
// it; one that is not running is started.
func TestInstallRepairs(t *testing.T) {
	for _, systemd := range []bool{false, true} {
		e := newEnv(t, systemd, wslConfs["boot command"])
		e.install(e.config())
		e.sys.takeCalls()
		if err := os.Chmod(filepath.Join(e.root, tokenPath), 0o644); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, e.bin, "agent v2", 0o755)
		out := e.install(e.config())
		for _, want := range []string{"wrote " + filepath.Join(e.root, binPath), "wrote " + filepath.Join(e.root, tokenPath)} {
			if !strings.Contains(out, want) {
				t.Errorf("systemd %v: output lacks %q:\n%s", systemd, want, out)
			}
		}
		e.wantFile(binPath, "agent v2", 0o755)
		e.wantFile(tokenPath, testToken+"\n", 0o600)
		if systemd {
			e.wantCalls("systemctl restart " + unitName)
			e.sys.active = false
			e.install(e.config())
			e.wantCalls("systemctl start " + unitName)
		} else {
			e.wantCalls("stop 1001", "start "+bootCommand("Ubuntu", ""))
			e.sys.agents = nil
			e.install(e.config())
			e.wantCalls("start " + bootCommand("Ubuntu", ""))
		}
	}
}

// A new --host replaces the agent's flags, not adds to them.
func TestInstallNewHost(t *testing.T) {
	e := newEnv(t, false, wslConfs["CRLF, boot command"])
	before := snap(t, e.root)
	e.install(e.config())
	c := e.config()
	c.Host = "172.28.240.1:50051"
	e.sys.takeCalls()
	e.install(c)
	conf, _ := e.read(wslConfPath)
	if !strings.Contains(conf, bootCommand("Ubuntu", c.Host)+" mount -a # keep\r\n") || strings.Count(conf, binPath) != 1 {
		t.Errorf("wsl.conf after a new --host:\n%q", conf)
	}
	e.wantCalls("stop 1001", "start "+bootCommand("Ubuntu", c.Host))
	e.uninstall()
	e.wantSame(before, "after uninstall")

	e = newEnv(t, true, absent)
	e.install(e.config())
	e.sys.takeCalls()
	c = e.config()
	c.Host = "172.28.240.1:50051"
	e.install(c)
	e.wantFile(envPath, "WSL_DISTRO_NAME=Ubuntu\nWSLFWD_AGENT_ARGS=--host=172.28.240.1:50051\n", 0o600)
	e.wantCalls("systemctl restart " + unitName)
}

// Turning systemd on or off in a distro and installing again moves the
// agent's start from one to the other, leaving nothing of the first.
func TestInstallSwitchesMode(t *testing.T) {
	e := newEnv(t, false, wslConfs["boot command"])
	before := snap(t, e.root)
	e.install(e.config())
	e.sys.takeCalls()

	e.sys.systemd = true
	e.install(e.config())
	e.wantCalls("stop 1001", "systemctl daemon-reload", "systemctl enable "+unitName, "systemctl start "+unitName)
	e.wantFile(wslConfPath, wslConfs["boot command"], 0o644)
	if _, err := os.Stat(filepath.Join(e.root, logPath)); err == nil {
		t.Error("the boot command's log is left")
	}

	e.sys.systemd = false
	e.install(e.config())
	e.wantCalls("start " + bootCommand("Ubuntu", ""))
	for _, p := range []string{unitPath, envPath, "etc/systemd/system/multi-user.target.wants/" + unitName} {
		if _, err := os.Lstat(filepath.Join(e.root, p)); err == nil {
			t.Errorf("%s is left after leaving systemd", p)
		}
	}
	e.uninstall()
	e.wantSame(before, "after uninstall")
}

// Bad input is refused with a clear error, and nothing changes.
func TestInstallRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no token", func(c *Config) { c.Token = "" }, "no token given (--token-stdin or --token-file) and none installed"},
		{"short token", func(c *Config) { c.Token = "abc" }, "agent token: token is 3 characters, want at least 32"},
		{"token with a space", func(c *Config) { c.Token = testToken + " x" }, "white space"},
		{"no distro", func(c *Config) { c.Distro = "" }, "no distro name: pass --distro"},
		{"distro with a shell character", func(c *Config) { c.Distro = "Ubuntu;reboot" }, `distro name "Ubuntu;reboot"`},
		{"bad host", func(c *Config) { c.Host = "1.2.3.4:70000" }, "port must be 1 to 65535"},
		{"host with a shell character", func(c *Config) { c.Host = "$(reboot)" }, "want a host name or address"},
		{"no binary", func(c *Config) { c.Binary += ".missing" }, "the agent binary to install"},
	} {
		e := newEnv(t, false, wslConfs["boot command"])
		before := snap(t, e.root)
		c := e.config()
		tc.edit(&c)
		err := Install(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		e.wantSame(before, tc.name)
		e.wantCalls()
	}
}

// A boot command edited by hand since install is the user's: uninstall
// says so and changes nothing.
func TestUninstallKeepsHandEdits(t *testing.T) {
	e := newEnv(t, false, wslConfs["boot command"])
	e.install(e.config())
	e.sys.takeCalls()
	path := filepath.Join(e.root, wslConfPath)
	conf, _ := e.read(wslConfPath)
	writeTestFile(t, path, strings.Replace(conf, "--distro Ubuntu", "--distro Debian", 1), 0o644)
	edited := snap(t, e.root)
	err := Uninstall(Config{Root: e.root, System: e.sys, Out: &e.out})
	if err == nil || !strings.Contains(err.Error(), "changed by hand") {
		t.Errorf("err %v, want one saying the command was changed by hand", err)
	}
	e.wantSame(edited, "after a refused uninstall")
	e.wantCalls()
}

func TestUninstallWhenNotInstalled(t *testing.T) {
	e := newEnv(t, true, absent)
	before := snap(t, e.root)
	if out := e.uninstall(); !strings.Contains(out, "not installed here") {
		t.Errorf("said %q", out)
	}
	e.wantSame(before, "uninstall of nothing")
	e.wantCalls()
}

// A file that was there before install and that no install made is not
// wslfwd's: one that already holds what install would write is left and
// not recorded, so uninstall leaves it; one that holds anything else
// stops install, unchanged.
func TestInstallLeavesFilesItDidNotMake(t *testing.T) {
	t.Run("same content", func(t *testing.T) {
		e := newEnv(t, false, absent)
		if err := os.MkdirAll(filepath.Join(e.root, "etc/wslfwd"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(e.root, tokenPath), testToken+"\n", 0o600)
		writeTestFile(t, filepath.Join(e.root, logPath), "an older agent's log\n", 0o644)
		e.install(e.config())
		e.uninstall()
		e.wantFile(tokenPath, testToken+"\n", 0o600)
		e.wantFile(logPath, "an older agent's log\n", 0o644)
		if _, err := os.Stat(filepath.Join(e.root, binPath)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("uninstall left the binary it wrote: %v", err)
		}
	})
	t.Run("the same unit", func(t *testing.T) {
		e := newEnv(t, true, absent)
		writeTestFile(t, filepath.Join(e.root, unitPath), dist.Unit, 0o644)
		e.install(e.config())
		e.sys.takeCalls()
		e.uninstall()
		// Install enabled it, so uninstall disables it; the file stays.
		if calls := e.sys.takeCalls(); !slices.Contains(calls, "systemctl disable --now "+unitName) {
			t.Errorf("uninstall ran %q, want the unit install enabled disabled", calls)
		}
		e.wantFile(unitPath, dist.Unit, 0o644)
	})
	t.Run("other content", func(t *testing.T) {
		e := newEnv(t, true, absent)
		writeTestFile(t, filepath.Join(e.root, unitPath), "[Service]\nExecStart=/opt/mine\n", 0o644)
		err := Install(e.config())
		if err == nil || !strings.Contains(err.Error(), unitPath) || !strings.Contains(err.Error(), "did not make it") {
			t.Fatalf("install over someone else's unit: %v, want an error naming it", err)
		}
		e.wantFile(unitPath, "[Service]\nExecStart=/opt/mine\n", 0o644)
		e.out.Reset()
		if err := Uninstall(Config{Root: e.root, System: e.sys, Out: &e.out}); err != nil {
			t.Fatal(err)
		}
		e.wantFile(unitPath, "[Service]\nExecStart=/opt/mine\n", 0o644)
	})
}

// The boot command has the agent open its own log (--log-file, which
// refuses a symlink) rather than the shell append to it: ">>" follows a
// symlink that whoever may write in /var/log put there.
func TestBootCommandLeavesTheLogToTheAgent(t *testing.T) {
	cmd := bootCommand("Ubuntu", "172.28.240.1:17810")
	if strings.Contains(cmd, ">>") || !strings.Contains(cmd, " --log-file "+logPath) || !strings.HasSuffix(cmd, " >/dev/null 2>&1 &") {
		t.Errorf("boot command %q: want --log-file %s and output to /dev/null only", cmd, logPath)
	}
}
