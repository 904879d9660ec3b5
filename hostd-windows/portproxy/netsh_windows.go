package portproxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/winhost/wintext"
)

// NetshPath is netsh.exe by absolute path, %SystemRoot%\System32\netsh.exe:
// Go refuses to run a program found relative to the current directory, and
// a program found on PATH could be anyone's.
func NetshPath() string {
	root := os.Getenv("SystemRoot")
	if root == "" || !filepath.IsAbs(root) {
		root = `C:\Windows`
	}
	return filepath.Join(root, "System32", "netsh.exe")
}

// NetshRunner runs scripts with `netsh -f`, one process per script.
type NetshRunner struct {
	Path string // NetshPath() unless a test says otherwise
}

// Run writes the script to a temporary file and runs netsh on it. netsh's
// exit status is reported in the output, not as an error: it says nothing
// reliable about what happened.
func (r NetshRunner) Run(ctx context.Context, script string) ([]byte, error) {
	f, err := os.CreateTemp("", "wslfwd-netsh-*.txt")
	if err != nil {
		return nil, fmt.Errorf("create netsh script: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(script)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write netsh script: %w", err)
	}
	return runNetsh(ctx, r.Path, "-f", f.Name())
}

// runNetsh runs netsh and returns its output, decoded, with a non-zero
// exit status appended.
func runNetsh(ctx context.Context, path string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	text := wintext.Decode(out)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return []byte(strings.TrimRight(text, "\r\n") + fmt.Sprintf("\r\n(netsh exit status %d)", exit.ExitCode())), nil
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", path, err)
	}
	return []byte(text), nil
}

// ExcludedRanges lists the TCP port ranges Windows reserves for the
// family, from `netsh int ipv4|ipv6 show excludedportrange protocol=tcp`.
func ExcludedRanges(ctx context.Context, v6 bool) ([]PortRange, error) {
	fam := "ipv4"
	if v6 {
		fam = "ipv6"
	}
	out, err := runNetsh(ctx, NetshPath(), "interface", fam, "show", "excludedportrange", "protocol=tcp")
	if err != nil {
		return nil, err
	}
	return ParseExcludedRanges(string(out)), nil
}
