package winsvc

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
)

// recovery restarts the service after a crash or a failed exit: soon at
// first, then less eagerly; the count resets after a day without failure.
var recovery = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 15 * time.Second},
	{Type: mgr.ServiceRestart, Delay: time.Minute},
}

const recoveryReset = 24 * 60 * 60 // seconds

// Install creates the service, or updates it when it exists, to run
// `exe args...` as LocalSystem at boot, restarted after a crash, and
// registers the Event Log source. It needs elevation. Warnings are
// settings that could not be made but leave a working service.
func Install(exe string, args ...string) (warnings []string, err error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()

	s, err := m.OpenService(Name)
	switch {
	case err == nil:
		if err := update(s, exe, args); err != nil {
			s.Close()
			return nil, err
		}
	case !errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST):
		// Access denied and the like: creating would fail with a less
		// telling error, or mask why the existing service is unreachable.
		return nil, fmt.Errorf("open service %s: %w", Name, err)
	default:
		s, err = m.CreateService(Name, exe, mgr.Config{
			DisplayName: DisplayName,
			Description: Description,
			StartType:   mgr.StartAutomatic,
			// ServiceStartName empty: LocalSystem.
		}, args...)
		if err != nil {
			return nil, fmt.Errorf("create service %s: %w", Name, err)
		}
	}
	defer s.Close()
	if err := s.SetRecoveryActions(recovery, recoveryReset); err != nil {
		return nil, fmt.Errorf("set recovery actions: %w", err)
	}
	// Also restart when the daemon exits with an error, not only on a
	// crash. (Wine lacks this setting; the crash restart still works.)
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		warnings = append(warnings, fmt.Sprintf("the service will be restarted after a crash but not after a failed exit: %v", err))
	}
	err = eventlog.InstallAsEventCreate(Name, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return warnings, fmt.Errorf("register the Event Log source: %w", err)
	}
	return warnings, nil
}

// update points an existing service at exe args, as LocalSystem starting
// at boot. It changes only these settings (mgr's UpdateConfig would also
// rewrite settings some hosts, such as Wine, do not have).
func update(s *mgr.Service, exe string, args []string) error {
	cmd := syscall.EscapeArg(exe)
	for _, a := range args {
		cmd += " " + syscall.EscapeArg(a)
	}
	ptr := windows.StringToUTF16Ptr
	err := windows.ChangeServiceConfig(s.Handle, windows.SERVICE_NO_CHANGE, mgr.StartAutomatic, windows.SERVICE_NO_CHANGE,
		ptr(cmd), nil, nil, nil, ptr("LocalSystem"), nil, ptr(DisplayName))
	if err != nil {
		return fmt.Errorf("update service %s: %w", Name, err)
	}
	desc := windows.SERVICE_DESCRIPTION{Description: ptr(Description)}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DESCRIPTION, (*byte)(unsafe.Pointer(&desc))); err != nil {
		return fmt.Errorf("update service %s's description: %w", Name, err)
	}
	return nil
}

// Uninstall stops and deletes the service and its Event Log source. A
// service that does not exist is already uninstalled.
func Uninstall() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open service %s: %w", Name, err)
	}
	defer s.Close()
	if err := stop(s); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service %s: %w", Name, err)
	}
	if err := eventlog.Remove(Name); err != nil && !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return fmt.Errorf("remove the Event Log source: %w", err)
	}
	return nil
}

// Start starts the service and waits until it runs or stops.
func Start() error {
	return withService(func(s *mgr.Service) error {
		if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return fmt.Errorf("start service %s: %w", Name, err)
		}
		st, err := waitWhile(s, svc.StartPending)
		if err != nil {
			return err
		}
		if st.State != svc.Running {
			return fmt.Errorf("service %s stopped while starting (exit code %d, service code %d): see the Event Log, or %s and %s in the state directory",
				Name, st.Win32ExitCode, st.ServiceSpecificExitCode, logfile.FileName, StderrFileName)
		}
		return nil
	})
}

// Stop stops the service and waits until it has.
func Stop() error { return withService(stop) }

func stop(s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query service %s: %w", Name, err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("stop service %s: %w", Name, err)
	}
	_, err = waitWhile(s, svc.StopPending, svc.Running)
	return err
}

func withService(f func(*mgr.Service) error) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return errNotInstalled
	}
	if err != nil {
		return fmt.Errorf("open service %s: %w", Name, err)
	}
	defer s.Close()
	return f(s)
}

// errNotInstalled is withService's error when there is no service.
var errNotInstalled = fmt.Errorf("service %s is not installed: run wslfwd-hostd install (elevated)", Name)

// waitWhile polls the service while its state is one of states, for at
// most 30 seconds, and returns the state it reached.
func waitWhile(s *mgr.Service, states ...svc.State) (svc.Status, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Query()
		if err != nil {
			return st, fmt.Errorf("query service %s: %w", Name, err)
		}
		pending := false
		for _, p := range states {
			pending = pending || st.State == p
		}
		if !pending {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("service %s still in state %d after 30s", Name, st.State)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// InstalledCommandLine is the command line the service manager runs for
// the service (its BinaryPathName), and false when no service is
// installed.
func InstalledCommandLine() (string, bool, error) {
	var line string
	err := withService(func(s *mgr.Service) error {
		var err error
		line, err = binaryPath(s)
		return err
	})
	switch {
	case errors.Is(err, errNotInstalled):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return line, true, nil
}

// State says whether the service is installed and whether it runs.
func State() (installed, running bool, err error) {
	err = withService(func(s *mgr.Service) error {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service %s: %w", Name, err)
		}
		installed, running = true, st.State == svc.Running
		return nil
	})
	if errors.Is(err, errNotInstalled) {
		return false, false, nil
	}
	return installed, running, err
}

// binaryPath reads the service's command line with QueryServiceConfig
// alone: mgr's Config also asks QueryServiceConfig2 for settings that not
// every host has (Wine answers "Invalid level").
func binaryPath(s *mgr.Service) (string, error) {
	n := uint32(1024)
	for {
		b := make([]byte, n)
		p := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0]))
		err := windows.QueryServiceConfig(s.Handle, p, n, &n)
		if err == nil {
			return windows.UTF16PtrToString(p.BinaryPathName), nil
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			return "", fmt.Errorf("read service %s's command line: %w", Name, err)
		}
	}
}
