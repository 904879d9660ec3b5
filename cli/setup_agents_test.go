package main

import (
	"context"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// runWindowsDistros runs the CLI against d as on Windows where wsl.exe
// lists running as running.
func runWindowsDistros(t *testing.T, d daemonFixture, running []string, args ...string) result {
	t.Helper()
	var stdout, stderr syncbuf.Buffer
	a := newApp(plainLinux(), &stdout, &stderr)
	a.now = func() time.Time { return fixedNow }
	a.listRunning = func(context.Context) (wsl.DistroList, error) { return wsl.DistroList{Names: running}, nil }
	code := run(t.Context(), d.args(args...), a)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// agents and status name the running distros without a connected agent
// (a disconnected one counts as none; Docker Desktop's are left out) and
// the command that fixes each; with -o json the answer stays the
// daemon's alone.
func TestAgentsAndStatusNameDistrosWithoutAgent(t *testing.T) {
	d := startFake(t, &fakeControl{
		status: &wslfwdv1.GetStatusResponse{},
		agents: &wslfwdv1.ListAgentsResponse{Agents: []*wslfwdv1.Agent{
			{Distro: "Ubuntu", Connected: true},
			{Distro: "Debian", Connected: false},
		}},
	})
	running := []string{"Ubuntu", "Debian", "Arch", "docker-desktop"}
	r := runWindowsDistros(t, d, running, "agents")
	mustContain(t, "agents", r.stdout, "Running distros without an agent",
		"  Debian: wslfwd setup --distro Debian\n", "  Arch: wslfwd setup --distro Arch\n")
	if strings.Contains(r.stdout, "--distro Ubuntu") || strings.Contains(r.stdout, "--distro docker-desktop") {
		t.Errorf("agents names a distro with an agent, or Docker Desktop's:\n%s", r.stdout)
	}
	r = runWindowsDistros(t, d, running, "status")
	mustContain(t, "status", r.stdout, "WARNING: distro Debian runs without an agent", "WARNING: distro Arch runs without an agent, so its services are not forwarded: wslfwd setup --distro Arch")
	for _, cmd := range []string{"agents", "status"} {
		if r := runWindowsDistros(t, d, running, cmd, "-o", "json"); strings.Contains(r.stdout, "setup --distro") {
			t.Errorf("%s -o json mixes advice into the JSON:\n%s", cmd, r.stdout)
		}
	}
	if r := runWindowsDistros(t, d, []string{"Ubuntu"}, "status"); strings.Contains(r.stdout, "WARNING") {
		t.Errorf("every running distro has its agent, yet:\n%s", r.stdout)
	}
	// Elsewhere (no wsl.exe) nothing is added.
	if r := runCLI(t, t.Context(), plainLinux(), d.args("agents")...); strings.Contains(r.stdout, "without an agent") {
		t.Errorf("without wsl.exe:\n%s", r.stdout)
	}
}
