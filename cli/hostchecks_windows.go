//go:build windows

package main

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows"

	"github.com/wslfwd/wslfwd/cli/output"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// listRunning asks wsl.exe which distros run, by name only (the one
// listing whose words are not localised).
func listRunning(ctx context.Context) (wsl.DistroList, error) {
	return wsl.ListDistros(ctx, true)
}

// hostChecks checks, without admin rights, that the IP Helper service runs
// when the daemon uses portproxy: without it the entries exist but nothing
// listens.
func hostChecks(_ context.Context, backend string) []output.Check {
	const name = "IP Helper service (iphlpsvc)"
	if backend != "portproxy" {
		return nil
	}
	state, err := serviceState("iphlpsvc")
	switch {
	case err != nil:
		return []output.Check{{Name: name, Verdict: output.Warn, Detail: err.Error(),
			Hint: "check it by hand: `sc query iphlpsvc`"}}
	case state != windows.SERVICE_RUNNING:
		return []output.Check{{Name: name, Verdict: output.Fail, Detail: "not running (" + stateName(state) + "); portproxy forwards do not listen without it",
			Hint: "from an elevated prompt: `sc config iphlpsvc start= auto` and `sc start iphlpsvc`"}}
	default:
		return []output.Check{{Name: name, Verdict: output.Pass, Detail: "running"}}
	}
}

// serviceState queries a service's state with the least access there is,
// which any user has.
func serviceState(name string) (uint32, error) {
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return 0, fmt.Errorf("open service manager: %w", err)
	}
	defer windows.CloseServiceHandle(scm)
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0, err
	}
	svc, err := windows.OpenService(scm, n, windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return 0, fmt.Errorf("open service %s: %w", name, err)
	}
	defer windows.CloseServiceHandle(svc)
	var st windows.SERVICE_STATUS
	if err := windows.QueryServiceStatus(svc, &st); err != nil {
		return 0, fmt.Errorf("query service %s: %w", name, err)
	}
	return st.CurrentState, nil
}

func stateName(s uint32) string {
	switch s {
	case windows.SERVICE_STOPPED:
		return "stopped"
	case windows.SERVICE_START_PENDING:
		return "starting"
	case windows.SERVICE_STOP_PENDING:
		return "stopping"
	case windows.SERVICE_PAUSED:
		return "paused"
	default:
		return fmt.Sprintf("state %d", s)
	}
}

// errConnRefused is how Winsock says nothing listens on a port.
var errConnRefused error = windows.WSAECONNREFUSED
