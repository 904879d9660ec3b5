package main

import (
	"slices"
	"testing"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

func TestDistroChecks(t *testing.T) {
	running := wsl.DistroList{Names: []string{"Ubuntu", "Debian", "docker-desktop", "Legacy"}}
	agents := &wslfwdv1.ListAgentsResponse{Agents: []*wslfwdv1.Agent{
		{Distro: "ubuntu", Connected: true},  // wsl.exe and WSL_DISTRO_NAME may differ in case
		{Distro: "Legacy", Connected: false}, // inside its grace period: gone
	}}
	got := distroChecks(running, agents)
	var names []string
	verdict := map[string]output.Verdict{}
	for _, c := range got {
		names = append(names, c.Name)
		verdict[c.Name] = c.Verdict
		if c.Verdict == output.Warn && c.Hint == "" {
			t.Errorf("%s: a warning without a fix", c.Name)
		}
	}
	if want := []string{"distro Ubuntu", "distro Debian", "distro Legacy"}; !slices.Equal(names, want) {
		t.Fatalf("checks for %v, want %v (Docker's distros left out)", names, want)
	}
	if verdict["distro Ubuntu"] != output.Pass || verdict["distro Debian"] != output.Warn || verdict["distro Legacy"] != output.Warn {
		t.Fatalf("verdicts %v", verdict)
	}

	// None running: wsl.exe's sentence (any language) is shown, not read.
	none := wsl.DistroList{Said: "Es werden keine Distributionen ausgeführt."}
	if got := distroChecks(none, agents); len(got) != 1 || got[0].Verdict != output.Pass ||
		got[0].Detail != "none running (wsl.exe said: Es werden keine Distributionen ausgeführt.)" {
		t.Fatalf("no running distro: %+v, want one PASS quoting wsl.exe", got)
	}
}
