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
// the excluded-range and port-in-use checks, and Verify over the host's
// listening sockets and the IP Helper service's process. netshRan, when
// set, counts the netsh runs (Options.NetshRan).
func NewSystem(log *slog.Logger, netshRan func(failed bool)) *Backend {
	check := &PortCheck{Ranges: ExcludedRanges, Bind: TryListen, TTL: time.Minute, Log: log}
	return New(SystemStore(), NetshRunner{}, Options{CheckPort: check.Check, Listening: ListeningTCP, ServicePID: IPHelperPID,
		NetshRan: netshRan, Log: log})
}

// ReadHostState checks elevation and the IP Helper service.
func ReadHostState() HostState {
	s := HostState{Elevated: windows.GetCurrentProcessToken().IsElevated()}
	s.IPHelperRunning, s.IPHelperAutomatic, s.IPHelperErr = ipHelper()
	return s
}

// ipHelper says whether iphlpsvc runs and starts automatically.
func ipHelper() (running, automatic bool, err error) {
	s, done, err := openIPHelper()
	if err != nil {
		return false, false, err
	}
	defer done()
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

// IPHelperPID is the process id of iphlpsvc, which holds the ports of
// portproxy entries; 0 while it is stopped.
func IPHelperPID() (uint32, error) {
	s, done, err := openIPHelper()
	if err != nil {
		return 0, err
	}
	defer done()
	st, err := s.Query()
	if err != nil {
		return 0, fmt.Errorf("query iphlpsvc: %w", err)
	}
	if st.State != svc.Running {
		return 0, nil
	}
	return st.ProcessId, nil
}

// openIPHelper opens iphlpsvc with the least access that answers, so the
// checks work without elevation too; done closes it and the service
// manager.
func openIPHelper() (s *mgr.Service, done func(), err error) {
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return nil, nil, fmt.Errorf("open the service manager: %w", err)
	}
	name, err := windows.UTF16PtrFromString("iphlpsvc")
	if err != nil {
		windows.CloseServiceHandle(scm)
		return nil, nil, err
	}
	h, err := windows.OpenService(scm, name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		windows.CloseServiceHandle(scm)
		return nil, nil, fmt.Errorf("open iphlpsvc: %w", err)
	}
	s = &mgr.Service{Name: "iphlpsvc", Handle: h}
	return s, func() { s.Close(); windows.CloseServiceHandle(scm) }, nil
}
