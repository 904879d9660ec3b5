//go:build linux

package upgrade

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/lab/labrun"
)

// previous is what the upgrade tests build as the release before this
// one: a commit or a tag of this repository's history. When a release is
// tagged, point this at the last release tag.
//
// There is no release tag yet, so it is the last commit of main before
// protocol revision 2 (AgentHello.detection in 42be34f; want_reply, no
// Ack per change and ForwardStatusUpdate.seq in 1ab935f; Agent.detection
// in 49df23f): d5f35c5, "Merge branch 'release'", the first parent of the
// merge (bad3689) that brought 42be34f, the first of them to reach main.
// Its agent speaks revision 1 and its daemon acknowledges every change.
const previous = "d5f35c592943d7771f41ba4ab46d6d3e70a943e5"

// previousVersion is the version linked into the previous programs, so
// that they differ from this version's (internal/version.Version).
const previousVersion = "v0.0.9-old"

// buildTimeout bounds extracting and building the previous version.
const buildTimeout = 5 * time.Minute

var (
	previousOnce sync.Once
	previousBin  labrun.Binaries
	previousSkip string // why the previous version cannot be built here
	previousErr  error
	// previousDir holds the previous version's tree and programs; TestMain
	// makes it and removes it.
	previousDir string
)

// previousPrograms returns the previous version's daemon, agent and CLI,
// built once per test binary; it skips the test, saying why, when the
// clone's history lacks the previous version.
func previousPrograms(t *testing.T) labrun.Binaries {
	t.Helper()
	previousOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		previousSkip, previousErr = buildPrevious(ctx, previousDir)
	})
	switch {
	case previousErr != nil:
		t.Fatalf("build the previous version (%s): %v", previous, previousErr)
	case previousSkip != "":
		t.Skip(previousSkip)
	}
	return previousBin
}

// buildPrevious extracts the previous version with git archive and builds
// it with its own go.mod (modules from Go's module cache or the proxy).
func buildPrevious(ctx context.Context, dir string) (skip string, err error) {
	top, err := git(ctx, "", "rev-parse", "--show-toplevel")
	if err != nil {
		return "not in a git work tree, so the previous version cannot be built: " + err.Error(), nil
	}
	if _, err := git(ctx, top, "cat-file", "-e", previous+"^{commit}"); err != nil {
		shallow, _ := git(ctx, top, "rev-parse", "--is-shallow-repository")
		return fmt.Sprintf("the previous version, %s, is not in this clone's history (git rev-parse --is-shallow-repository: %s); "+
			"fetch the full history (git fetch --unshallow) to run the upgrade tests", previous, shallow), nil
	}
	src, bin := filepath.Join(dir, "src"), filepath.Join(dir, "bin")
	for _, d := range []string{src, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	archive := filepath.Join(dir, "previous.tar")
	if _, err := git(ctx, top, "archive", "--format=tar", "-o", archive, previous); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xf", archive, "-C", src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("extract %s: %w: %s", archive, err, out)
	}
	previousBin, err = labrun.BuildTree(ctx, labrun.Tree{Source: src, Dir: bin, Version: previousVersion, CLI: true})
	// It predates TLS: its daemon and CLI speak plain HTTP/2.
	previousBin.Plaintext = true
	return "", err
}

// git runs git in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
