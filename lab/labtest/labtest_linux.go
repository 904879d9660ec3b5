//go:build linux

// Package labtest is what the lab's test packages (e2e, faults) share: the
// programs built once per test binary, and a lab per test that is torn
// down with it, also when the test fails.
package labtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// bin are the programs every test runs, built once by Main.
var bin labrun.Binaries

// Bin returns the programs Main built from the work tree.
func Bin() labrun.Binaries { return bin }

// Main builds the programs (as root: without root every lab test skips
// and says why) and runs the tests; name prefixes its messages. Call it
// from TestMain: os.Exit(labtest.Main(m, "e2e")).
func Main(m *testing.M, name string) int {
	if os.Geteuid() != 0 {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "wslfwd-"+name+"-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if bin, err = labrun.Build(ctx, dir); err != nil {
		fmt.Fprintf(os.Stderr, "%s: build the programs: %v\n", name, err)
		return 1
	}
	return m.Run()
}

var (
	sourcesOnce sync.Once
	sourcesErr  error
)

// noteSources looks at every Go source file of the module the programs
// were built from. go test reuses a passing result while the files the
// test looked at are unchanged, and it cannot see what go build read, so
// without this a changed agent or daemon would not be tested again.
func noteSources(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			return nil
		}
		_, err = os.Stat(path)
		return err
	})
}

// Start builds a lab with the daemon running, in parallel with the other
// tests, and returns it with a context bounded by timeout. It runs the
// programs of o.Bin, or those Main built when o.Bin.Daemon is empty. The lab is torn
// down when the test ends; a failed test logs the programs' output first,
// and namespaces left behind fail the test.
func Start(t *testing.T, o labrun.Options, timeout time.Duration) (context.Context, *labrun.Env) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and runs the daemon and agent in them")
	}
	t.Parallel()
	sourcesOnce.Do(func() { sourcesErr = noteSources(bin.Source) })
	if sourcesErr != nil {
		t.Fatal(sourcesErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	o.Dir = t.TempDir()
	if o.Bin.Daemon == "" {
		o.Bin = bin
	}
	env, err := labrun.Start(ctx, o)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab %s logs:\n%s", env.Lab.ID, env.Logs(60))
		}
		if err := env.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
		if left, _ := netlab.List(env.Lab.ID); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})
	return ctx, env
}

// StartWithAgent is Start plus one NAT agent for distro in wsl.
func StartWithAgent(t *testing.T, o labrun.Options, timeout time.Duration, distro string) (context.Context, *labrun.Env) {
	t.Helper()
	ctx, env := Start(t, o, timeout)
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: distro}); err != nil {
		t.Fatal(err)
	}
	return ctx, env
}
