package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// program is one wslfwd binary: its name and the package main that builds it.
type program struct{ name, pkg string }

var (
	cli   = program{"wslfwd", "./cli"}
	hostd = program{"wslfwd-hostd", "./hostd-windows"}
	agent = program{"wslfwd-agent", "./agent-linux"}
)

// target is one platform a release ships, with the programs it runs there:
// Windows runs the daemon and the CLI, a distro the agent and the CLI.
type target struct {
	goos, goarch string
	programs     []program
}

var (
	windowsAMD64 = target{"windows", "amd64", []program{cli, hostd}}
	windowsARM64 = target{"windows", "arm64", []program{cli, hostd}}
	linuxAMD64   = target{"linux", "amd64", []program{cli, agent}}
	linuxARM64   = target{"linux", "arm64", []program{cli, agent}}

	windowsTargets = []target{windowsAMD64, windowsARM64}
	linuxTargets   = []target{linuxAMD64, linuxARM64}
	targets        = append(append([]target{}, windowsTargets...), linuxTargets...)
)

// dir is where a target's binaries go under a build directory.
func (t target) dir(base string) string { return filepath.Join(base, t.goos+"_"+t.goarch) }

// binary is the path of one program's binary under a build directory.
func (t target) binary(base string, p program) string {
	name := p.name
	if t.goos == "windows" {
		name += ".exe"
	}
	return filepath.Join(t.dir(base), name)
}

// buildAll builds every program of every target into out/<goos>_<goarch>/.
func buildAll(root, out string, v version) error {
	for _, t := range targets {
		for _, p := range t.programs {
			if err := goBuild(root, t, p, t.binary(out, p), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// goBuild is the one place a wslfwd binary is built, for developers
// (build.sh) and releases alike. The flags make builds of one commit
// reproducible: no cgo, no local paths, no symbol tables, and the version
// stamped into internal/version.
func goBuild(root string, t target, p program, dst string, v version) error {
	fmt.Fprintf(os.Stderr, "build %s/%s %s\n", t.goos, t.goarch, p.name)
	ldflags := "-s -w -X github.com/wslfwd/wslfwd/internal/version.Version=" + v.Tag()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", dst, p.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.goos, "GOARCH="+t.goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s for %s/%s: %w", p.name, t.goos, t.goarch, err)
	}
	return nil
}
