//go:build linux

package labrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the paths of the three wslfwd programs.
type Binaries struct {
	Daemon string // wslfwd-hostd
	Agent  string // wslfwd-agent
	CLI    string // wslfwd
	Source string // the module they were built from
}

// Build compiles the three programs from the module that contains the
// current directory into dir. Go's build cache makes repeated builds cheap.
func Build(ctx context.Context, dir string) (Binaries, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	// One go build for all three shares the work between them.
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", dir+string(filepath.Separator),
		"./hostd-windows", "./agent-linux", "./cli")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	b := Binaries{
		Daemon: filepath.Join(dir, "wslfwd-hostd"),
		Agent:  filepath.Join(dir, "wslfwd-agent"),
		CLI:    filepath.Join(dir, "wslfwd"),
		Source: root,
	}
	// go build names each binary after its package's directory.
	for from, to := range map[string]string{"hostd-windows": b.Daemon, "agent-linux": b.Agent, "cli": b.CLI} {
		if err := os.Rename(filepath.Join(dir, from), to); err != nil {
			return Binaries{}, fmt.Errorf("go build: %w", err)
		}
	}
	return b, nil
}

// moduleRoot finds the wslfwd module's directory from the current one.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("find the module: run from inside the wslfwd work tree")
	}
	return filepath.Dir(mod), nil
}

// goTool is the go command: the one on PATH, else the one that built the
// running program's toolchain lives beside (sudo often drops /usr/local/go/bin).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/usr/local/go/bin/go"
}
