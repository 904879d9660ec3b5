package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The targets the unit names or systemd adds as default dependencies:
// verify needs them in the root it checks.
var unitTargets = []string{"sysinit.target", "basic.target", "shutdown.target", "network-online.target", "multi-user.target"}

// systemd itself reads the unit in a root laid out as `wslfwd-agent
// install` leaves it: any warning (an unknown key, a value it cannot
// parse and would ignore, a command that is not executable) fails the
// test, since systemd runs a unit it half understands without a word.
func TestUnitPassesSystemdVerify(t *testing.T) {
	verify, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("needs systemd-analyze (apt-get install systemd) to check the unit")
	}
	root := t.TempDir()
	write := func(path, text string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range unitTargets {
		b, err := os.ReadFile(filepath.Join("/usr/lib/systemd/system", u))
		if err != nil {
			t.Fatalf("systemd-analyze is here but its %s is not: %v", u, err)
		}
		write(filepath.Join("usr/lib/systemd/system", u), string(b), 0o644)
	}
	write("usr/local/bin/wslfwd-agent", "#!/bin/sh\n", 0o755)
	const unit = "/etc/systemd/system/wslfwd-agent.service"
	write(unit, Unit, 0o644)

	var out bytes.Buffer
	cmd := exec.Command(verify, "verify", "--man=no", "--root="+root, unit)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil || out.Len() > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out.Bytes())
	}
}
