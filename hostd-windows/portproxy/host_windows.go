package portproxy

import (
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// NewSystem returns the backend over the real registry and netsh, with
// the excluded-range and port-in-use checks.
func NewSystem(log *slog.Logger) *Backend {
	check := &PortCheck{Ranges: ExcludedRanges, Bind: TryListen, TTL: time.Minute, Log: log}
	return New(SystemStore(), NetshRunner{}, Options{CheckPort: check.Check, Log: log})
}

// ReadHostState checks elevation and the IP Helper service.
func ReadHostState() HostState {
	s := HostState{Elevated: windows.GetCurrentProcessToken().IsElevated()}
	s.IPHelperRunning, s.IPHelperAutomatic, s.IPHelperErr = ipHelper()
	return s
}

// ipHelper queries iphlpsvc with the least access that answers, so the
// check works without elevation too.
func ipHelper() (running, automatic bool, err error) {
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return false, false, fmt.Errorf("open the service manager: %w", err)
	}
	defer windows.CloseServiceHandle(scm)
	name, err := windows.UTF16PtrFromString("iphlpsvc")
	if err != nil {
		return false, false, err
	}
	h, err := windows.OpenService(scm, name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return false, false, fmt.Errorf("open iphlpsvc: %w", err)
	}
	s := &mgr.Service{Name: "iphlpsvc", Handle: h}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return false, false, fmt.Errorf("query iphlpsvc: %w", err)
	}
	cfg, err := s.Config()
	if err != nil {
		return false, false, fmt.Errorf("read iphlpsvc's configuration: %w", err)
	}
	return st.State == svc.Running, cfg.StartType == mgr.StartAutomatic, nil
}
