package main

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
	"github.com/wslfwd/wslfwd/internal/token"
)

// normalPrompt is Windows from a normal (not elevated) prompt: the
// daemon's admin token may not be read, its read token may (rd.read
// stands in for C:\ProgramData\wslfwd\read.token).
func normalPrompt(rd realDaemon) controlclient.Env {
	env := plainLinux()
	env.GOOS = "windows"
	env.ProgramData = func() (string, error) { return `C:\ProgramData`, nil }
	env.LoadToken = func(path string) (string, error) {
		switch path {
		case `C:\ProgramData\wslfwd\token`:
			return "", fmt.Errorf("open %s: Access is denied: %w", path, fs.ErrPermission)
		case `C:\ProgramData\wslfwd\read.token`:
			return token.Load(rd.read)
		}
		return "", fmt.Errorf("token file %s does not exist: %w", path, fs.ErrNotExist)
	}
	return env
}

// From a normal prompt the read commands work with the read token the CLI
// falls back to; changing anything says to use an elevated prompt.
func TestReadTokenFromNormalPrompt(t *testing.T) {
	rd := startRealDaemon(t)
	connectAgent(t, rd, "Ubuntu")
	waitAgent(t, rd, "Ubuntu")
	env := normalPrompt(rd)
	for cmd, want := range map[string]string{"status": "Agents:     1 connected", "agents": "Ubuntu", "forwards": "No forwards"} {
		r := runCLI(t, t.Context(), env, "--host", rd.addr, cmd)
		if r.code != 0 {
			t.Errorf("%s: exit %d: %s", cmd, r.code, r.stderr)
		}
		mustContain(t, cmd, r.stdout, want)
	}

	r := runCLI(t, t.Context(), env, "--host", rd.addr, "expose", "8080", "--distro", "Ubuntu")
	if r.code != exitFailure {
		t.Errorf("expose with the read token: exit %d", r.code)
	}
	mustContain(t, "expose stderr", r.stderr, `the token from C:\ProgramData\wslfwd\read.token is not allowed`,
		"the read token may not call", "elevated prompt")

	// watch --initial prints the agent from the start; it runs until
	// cancelled, which a refused token would not wait for.
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncbuf.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--host", rd.addr, "watch", "--initial"}, newApp(env, &stdout, &stderr))
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "Ubuntu") && stderr.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 || !strings.Contains(stdout.String(), "Ubuntu") {
		t.Errorf("watch: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
