package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
)

// uninstall finds the state directory the installed service uses, from
// its own command line, not the default.
func TestStateDirOfInstalledService(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wslfwd.toml")
	fromConfig := filepath.Join(dir, "from-config")
	if err := os.WriteFile(cfg, []byte("state_dir = '"+fromConfig+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exe := `C:\Program Files\wslfwd\wslfwd-hostd.exe`
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{exe, "service"}, defaultStateDir()},
		{[]string{exe, "service", "--config", cfg}, fromConfig},
		{[]string{exe, "service", "--config", cfg, "--state-dir", "elsewhere"}, "elsewhere"},
	} {
		got, err := stateDirOf(tc.argv)
		if err != nil || got != tc.want {
			t.Errorf("stateDirOf(%q) = %q, %v; want %q", tc.argv, got, err, tc.want)
		}
	}
	for _, argv := range [][]string{{exe}, {exe, "run"}, {`C:\other.exe`, "--config", cfg}} {
		if _, err := stateDirOf(argv); err == nil || !strings.Contains(err.Error(), "not installed by wslfwd-hostd install") {
			t.Errorf("stateDirOf(%q) = %v, want a refusal", argv, err)
		}
	}
	if err := os.WriteFile(cfg, []byte("udp = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stateDirOf([]string{exe, "service", "--config", cfg}); err == nil || !strings.Contains(err.Error(), "give --state-dir") {
		t.Errorf("a broken config: %v, want the error and the way round it", err)
	}
}

// A broken config is said in words in the log file where the service
// would have logged (--log-file, else the state directory's).
func TestStartFailureReachesTheLogFile(t *testing.T) {
	dir := t.TempDir()
	if got := serviceLogPath([]string{"--state-dir", dir}); got != filepath.Join(dir, logfile.FileName) {
		t.Errorf("log path with --state-dir = %s", got)
	}
	if got := serviceLogPath([]string{"--log-file", "x.log", "--bogus"}); got != "x.log" {
		t.Errorf("log path with --log-file before a bad flag = %s", got)
	}
	if got := serviceLogPath(nil); got != filepath.Join(defaultStateDir(), logfile.FileName) {
		t.Errorf("default log path = %s", got)
	}

	cfg := filepath.Join(dir, "wslfwd.toml")
	if err := os.WriteFile(cfg, []byte("firewall_profiles = [\"work\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, loadErr := config.Load(cfg)
	if loadErr == nil {
		t.Fatal("the broken config loaded")
	}
	path := serviceLogPath([]string{"--config", cfg, "--state-dir", dir})
	if err := logStartFailure(path, loadErr); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"level=ERROR", "wslfwd-hostd cannot run", `firewall_profiles[0]: \"work\" is not`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log %q lacks %q", b, want)
		}
	}

	// No state directory yet: nothing is created (install makes it, with
	// its access list); the failure to log is said.
	missing := filepath.Join(dir, "none", logfile.FileName)
	if err := logStartFailure(missing, errors.New("x")); err == nil {
		t.Error("logging into a missing folder succeeded")
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("the missing state directory was created: %v", err)
	}
}

// The service starts in System32: install refuses a relative path among
// its daemon flags, naming each, and takes full ones.
func TestCheckServicePaths(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "wslfwd.toml")
	fs, _, err := parseRunFlags([]string{"--config", "wslfwd.toml", "--log-file", `logs\x.log`, "--state-dir", filepath.Dir(abs)})
	if err != nil {
		t.Fatal(err)
	}
	err = checkServicePaths(fs)
	for _, want := range []string{"--config wslfwd.toml", `--log-file logs\x.log`, "full path"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("relative paths: %v, want it to say %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "--state-dir") {
		t.Errorf("a full --state-dir was refused: %v", err)
	}
	for _, args := range [][]string{nil, {"--config", abs, "--grace", "1m"}} {
		fs, _, err := parseRunFlags(args)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkServicePaths(fs); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
}
