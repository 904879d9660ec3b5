//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// buildAgent builds wslfwd-agent from this package, as released.
func buildAgent(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "wslfwd-agent")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// agentCmd runs the built agent with args and stdin, returning its
// output and error output.
func agentCmd(t *testing.T, bin, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestInstallCommand runs the built binary's install and uninstall on a
// scratch root (--root runs neither systemctl nor the agent), feeds it
// bad tokens, and runs it without root.
func TestInstallCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("install needs root; the install package's tests cover the rest without")
	}
	bin := buildAgent(t)
	needsRoot(t, bin)
	root := t.TempDir()
	conf := "# mine\r\n[boot]\r\ncommand = \"service ssh start\"\r\n"
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/wsl.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := strings.Repeat("ab", 32)
	args := []string{"install", "--root", root, "--distro", "Ubuntu", "--token-stdin"}

	for _, bad := range []struct{ name, stdin, want string }{
		{"empty", "", "agent token: token is 0 characters, want at least 32"},
		{"too long", strings.Repeat("a", 600), "longer than 512 bytes"},
		{"not a token", tok + " " + tok, "white space"},
	} {
		_, errOut, err := agentCmd(t, bin, bad.stdin, args...)
		if err == nil || !strings.Contains(errOut, bad.want) {
			t.Errorf("%s token: err %v, stderr %q, want %q", bad.name, err, errOut, bad.want)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "etc")); len(ents) != 1 {
		t.Fatalf("bad tokens changed the tree: etc holds %v", ents)
	}

	out, errOut, err := agentCmd(t, bin, tok+"\n", args...)
	if err != nil {
		t.Fatalf("install: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"wrote " + root + "/usr/local/bin/wslfwd-agent", "wrote " + root + "/etc/wslfwd/token",
		"added the agent to the [boot] command of " + root + "/etc/wsl.conf", "not run (--root): nohup /usr/local/bin/wslfwd-agent run"} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/wslfwd/token")); string(got) != tok+"\n" {
		t.Errorf("token file holds %q", got)
	}
	if out, _, err := agentCmd(t, bin, tok, args...); err != nil || strings.Contains(out, "wrote") || strings.Contains(out, "added") {
		t.Errorf("second install: %v, said:\n%s", err, out)
	}

	if out, errOut, err := agentCmd(t, bin, "", "uninstall", "--root", root); err != nil {
		t.Fatalf("uninstall: %v\n%s%s", err, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/wsl.conf")); string(got) != conf {
		t.Errorf("wsl.conf after uninstall: %q, want %q", got, conf)
	}
	for _, p := range []string{"usr", "etc/wslfwd", "var"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s is left after uninstall", p)
		}
	}
}

// needsRoot checks that, without root, install and uninstall say they
// need it.
func needsRoot(t *testing.T, bin string) {
	for _, dir := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(dir, 0o755); err != nil { // the test's temporary directories are 0700
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"install", "uninstall"} {
		cmd := exec.Command(bin, sub, "--root", t.TempDir())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if want := sub + " needs root"; err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%s as nobody: %v, %q, want %q", sub, err, out, want)
		}
	}
}
