//go:build linux

package adversary

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// inputTimeout bounds each bad-input test; every wait inside is under it.
const inputTimeout = 60 * time.Second

// refusalTimeout bounds one program that must refuse and exit at once: a
// program still running by then has accepted what it should have refused.
const refusalTimeout = 15 * time.Second

// outcome is how a program run ended.
type outcome struct {
	code           int // exit code; -1 if killed at refusalTimeout
	stdout, stderr string
}

// runIn runs bin with args in ns, stdin as given, and waits at most
// refusalTimeout for it to exit.
func runIn(t *testing.T, ns *netlab.NS, stdin io.Reader, env []string, bin string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), refusalTimeout)
	defer cancel()
	cmd := ns.Command(ctx, bin, args...)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		o.code = -1
	case errors.As(err, &exit):
		o.code = exit.ExitCode()
	default:
		t.Fatalf("run %s: %v", bin, err)
	}
	return o
}

// wantRefused fails unless the program exited with code and its stderr
// holds every part.
func wantRefused(t *testing.T, what string, o outcome, code int, parts ...string) {
	t.Helper()
	if o.code != code {
		t.Errorf("%s: exit %d, want %d (-1: still running after %v)\nstdout: %s\nstderr: %s",
			what, o.code, code, refusalTimeout, o.stdout, o.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(o.stderr, p) {
			t.Errorf("%s: stderr lacks %q:\n%s", what, p, o.stderr)
		}
	}
}

// writeFile writes content to path with exactly mode (past the umask).
func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// privateDir makes a directory only its owner may use, as the daemon's
// checks want (t.TempDir itself is 0755).
func privateDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cli runs the real wslfwd in winhost against the lab daemon with the
// admin token.
func cli(t *testing.T, env *labrun.Env, args ...string) outcome {
	t.Helper()
	full := append([]string{"--host", labrun.DaemonLoopback.String(), "--token-file", env.TokenFile}, args...)
	return runIn(t, env.Lab.WinHost, nil, nil, env.Bin.CLI, full...)
}

// staticForwards lists, with the real CLI, the static forwards the daemon
// holds in any state (forwards --all).
func staticForwards(t *testing.T, env *labrun.Env) []*wslfwdv1.Forward {
	t.Helper()
	o := cli(t, env, "forwards", "--all", "-o", "json")
	if o.code != 0 {
		t.Fatalf("forwards --all: exit %d: %s", o.code, o.stderr)
	}
	var resp wslfwdv1.ListForwardsResponse
	if err := protojson.Unmarshal([]byte(o.stdout), &resp); err != nil {
		t.Fatalf("forwards --all -o json: %v\n%s", err, o.stdout)
	}
	var out []*wslfwdv1.Forward
	for _, f := range resp.GetForwards() {
		if f.GetOrigin() == wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC {
			out = append(out, f)
		}
	}
	return out
}

// startLab is labtest.Start bounded by inputTimeout.
func startLab(t *testing.T) *labrun.Env {
	t.Helper()
	_, env := labtest.Start(t, labrun.Options{}, inputTimeout)
	return env
}
