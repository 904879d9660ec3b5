package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost"
)

// distroChecks compares the distros wsl.exe lists with the daemon's agents.
// A running distro without an agent has nothing forwarded, the commonest
// reason a service does not show up, and only Windows can see it.
func (a *app) distroChecks(ctx context.Context, agents *wslfwdv1.ListAgentsResponse) []output.Check {
	const name = "WSL distros"
	ctx, cancel := a.deadline(ctx)
	defer cancel()
	ds, err := a.listDistros(ctx)
	if err != nil {
		return []output.Check{{Name: name, Verdict: output.Warn, Detail: err.Error(),
			Hint: "check by hand: `wsl.exe -l -v`"}}
	}
	return distroChecks(ds, agents)
}

// distroChecks gives one check per running distro: PASS with an agent
// connected, WARN without. Docker Desktop's own distros run no services
// of the user's and are left out.
func distroChecks(ds []winhost.Distro, agents *wslfwdv1.ListAgentsResponse) []output.Check {
	connected := make(map[string]bool)
	for _, ag := range agents.GetAgents() {
		if ag.GetConnected() {
			connected[strings.ToLower(ag.GetDistro())] = true
		}
	}
	var out []output.Check
	for _, d := range ds {
		if !d.Running() || strings.HasPrefix(d.Name, "docker-desktop") {
			continue
		}
		name := "distro " + d.Name
		if connected[strings.ToLower(d.Name)] {
			out = append(out, output.Check{Name: name, Verdict: output.Pass, Detail: "running, agent connected"})
			continue
		}
		out = append(out, output.Check{Name: name, Verdict: output.Warn,
			Detail: fmt.Sprintf("running (WSL %d) without an agent: its services are not forwarded", d.Version),
			Hint: fmt.Sprintf("install wslfwd-agent in it and give it its token: "+
				"`wslfwd-hostd token --agent | wsl -d %s -u root sh -c \"mkdir -p /etc/wslfwd && umask 077 && cat > /etc/wslfwd/token\"`", d.Name)})
	}
	if len(out) == 0 {
		out = append(out, output.Check{Name: "WSL distros", Verdict: output.Pass, Detail: "none running"})
	}
	return out
}
