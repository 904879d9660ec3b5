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
	CLI    string // wslfwd; empty when not built
	Source string // the module they were built from
	// Plaintext says the daemon predates TLS (internal/tokentls) and
	// speaks plain HTTP/2 only: the lab's own client dials it so.
	Plaintext bool
}

// Build compiles the three programs from the module that contains the
// current directory into dir. Go's build cache makes repeated builds cheap.
func Build(ctx context.Context, dir string) (Binaries, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	return BuildTree(ctx, Tree{Source: root, Dir: dir, CLI: true})
}

// Tree says what BuildTree builds: the programs of a wslfwd source tree,
// which need not be the work tree (an older version's, for the upgrade
// tests).
type Tree struct {
	Source string // the module's root directory
	Dir    string // where the programs go
	// Version is linked into every program (internal/version.Version);
	// empty keeps the development version.
	Version string
	// CLI builds wslfwd too, not only the daemon and the agent.
	CLI bool
}

// versionVar is the variable -ldflags -X sets to a program's version.
const versionVar = "github.com/wslfwd/wslfwd/internal/version.Version"

// BuildTree compiles the daemon and the agent (and the CLI if asked) of
// the tree for Linux, with the tree's own go.mod.
func BuildTree(ctx context.Context, t Tree) (Binaries, error) {
	pkgs := map[string]*string{}
	b := Binaries{Source: t.Source}
	pkgs["hostd-windows"], pkgs["agent-linux"] = &b.Daemon, &b.Agent
	if t.CLI {
		pkgs["cli"] = &b.CLI
	}
	// One go build for all of them shares the work between them.
	args := []string{"build", "-o", t.Dir + string(filepath.Separator)}
	if t.Version != "" {
		args = append(args, "-ldflags", "-X "+versionVar+"="+t.Version)
	}
	for p := range pkgs {
		args = append(args, "./"+p)
	}
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = t.Source
	cmd.Env = append(os.Environ(), "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build in %s: %w\n%s", t.Source, err, out)
	}
	// go build names each binary after its package's directory.
	names := map[string]string{"hostd-windows": "wslfwd-hostd", "agent-linux": "wslfwd-agent", "cli": "wslfwd"}
	for p, dst := range pkgs {
		*dst = filepath.Join(t.Dir, names[p])
		if err := os.Rename(filepath.Join(t.Dir, p), *dst); err != nil {
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
