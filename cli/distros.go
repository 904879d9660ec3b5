package main

import (
	"context"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// distroChecks compares the distros wsl.exe lists as running with the
// daemon's agents. A running distro without an agent has nothing
// forwarded, the commonest reason a service does not show up, and only
// Windows can see it.
func (a *app) distroChecks(ctx context.Context, agents *wslfwdv1.ListAgentsResponse) []output.Check {
	const name = "WSL distros"
	ctx, cancel := a.deadline(ctx)
	defer cancel()
	running, err := a.listRunning(ctx)
	if err != nil {
		return []output.Check{{Name: name, Verdict: output.Warn, Detail: err.Error(),
			Hint: "check by hand: `wsl.exe -l --running -q`"}}
	}
	return distroChecks(running, agents)
}

// distroChecks gives one check per running distro: PASS with an agent
// connected, WARN without. Docker Desktop's own distros run no services
// of the user's and are left out. With none listed, what wsl.exe said
// instead is shown as it is: its sentence is localised, so it is not read
// to tell "none running" from a failure.
func distroChecks(running wsl.DistroList, agents *wslfwdv1.ListAgentsResponse) []output.Check {
	var out []output.Check
	for _, d := range running.Names {
		if wsl.Infrastructure(d) {
			continue
		}
		name := "distro " + d
		if hasAgent(agents, d) {
			out = append(out, output.Check{Name: name, Verdict: output.Pass, Detail: "running, agent connected"})
			continue
		}
		out = append(out, output.Check{Name: name, Verdict: output.Warn,
			Detail: "running without an agent: its services are not forwarded",
			Hint:   "install the agent in it: `" + setupFix(d) + "`"})
	}
	if len(out) == 0 {
		detail := "none running"
		if running.Said != "" {
			detail += " (wsl.exe said: " + running.Said + ")"
		}
		out = append(out, output.Check{Name: "WSL distros", Verdict: output.Pass, Detail: detail})
	}
	return out
}
