package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wslfwd/wslfwd/internal/wsl"
)

// newSetupEnv is setup on this machine.
func newSetupEnv(a *app) (*setupEnv, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program's path: %w", err)
	}
	pf, err := windows.KnownFolderPath(windows.FOLDERID_ProgramFiles, 0)
	if err != nil {
		return nil, fmt.Errorf("find the Program Files folder: %w", err)
	}
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		return nil, fmt.Errorf("find the ProgramData folder: %w", err)
	}
	return &setupEnv{
		out:        a.stdout,
		wsl:        wsl.Run,
		exeDir:     filepath.Dir(exe),
		installDir: filepath.Join(pf, "wslfwd"),
		stateDir:   filepath.Join(pd, "wslfwd"),
		elevated:   windows.GetCurrentProcessToken().IsElevated(),
		elevate: func(ctx context.Context, args []string) (int, error) {
			return elevate(ctx, exe, args, a.stdout)
		},
		service:    installedService,
		run:        runProgram,
		remove:     os.Remove,
		removeAll:  os.RemoveAll,
		listAgents: a.listAgents,
		wait:       agentWait,
		poll:       500 * time.Millisecond,
	}, nil
}

// installedService reads the service's command line and state with the
// least access that does.
func installedService() (installedState, error) {
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return installedState{}, fmt.Errorf("open the service manager: %w", err)
	}
	defer windows.CloseServiceHandle(scm)
	name, _ := windows.UTF16PtrFromString(serviceName)
	h, err := windows.OpenService(scm, name, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return installedState{}, nil
	}
	if err != nil {
		return installedState{}, fmt.Errorf("open service %s: %w", serviceName, err)
	}
	defer windows.CloseServiceHandle(h)
	line, err := serviceCommandLine(h)
	if err != nil {
		return installedState{}, fmt.Errorf("read service %s: %w", serviceName, err)
	}
	var status windows.SERVICE_STATUS
	if err := windows.QueryServiceStatus(h, &status); err != nil {
		return installedState{}, fmt.Errorf("query service %s: %w", serviceName, err)
	}
	argv, err := windows.DecomposeCommandLine(line)
	if err != nil || len(argv) < 2 || argv[1] != "service" {
		return installedState{}, fmt.Errorf("service %s runs %q, not a program wslfwd-hostd install registered: remove it (sc delete %s) and run setup again",
			serviceName, line, serviceName)
	}
	return installedState{installed: true, running: status.CurrentState == windows.SERVICE_RUNNING, exe: argv[0], args: argv[2:]}, nil
}

// serviceCommandLine reads the service's command line with
// QueryServiceConfig alone (mgr's Config also asks for the description,
// at a level Wine does not know).
func serviceCommandLine(h windows.Handle) (string, error) {
	var need uint32
	buf := make([]byte, 1024)
	for {
		cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
		err := windows.QueryServiceConfig(h, cfg, uint32(len(buf)), &need)
		if err == nil {
			return windows.UTF16PtrToString(cfg.BinaryPathName), nil
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) || int(need) <= len(buf) {
			return "", err
		}
		buf = make([]byte, need)
	}
}

// pipePrefix starts the name of the pipe the elevated setup reports
// through; the elevated side writes to no other.
const pipePrefix = `\\.\pipe\wslfwd-setup-`

// reportTo sends everything the elevated setup prints to the user's
// setup, which shows it: a process started through UAC has no console of
// the user's. A pipe, not a file: an elevated process writing where the
// user chose could be steered onto a file the user may not write.
func (a *app) reportTo(pipe string) error {
	if !strings.HasPrefix(pipe, pipePrefix) {
		return usagef("--pipe %q: not setup's pipe", pipe)
	}
	f, err := os.OpenFile(pipe, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", pipe, err)
	}
	a.stdout, a.stderr = f, f
	return nil
}

// elevate runs exe with args through UAC (ShellExecuteEx, verb runas),
// hidden, copies what it reports through a named pipe to out, waits for
// it and returns its exit status.
func elevate(ctx context.Context, exe string, args []string, out io.Writer) (int, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	name := pipePrefix + hex.EncodeToString(b[:])
	copied, unblock, err := relayPipe(name, out)
	if err != nil {
		return 0, err
	}
	defer func() { unblock(); <-copied }()
	args = append([]string{args[0], "--pipe=" + name}, args[1:]...)
	proc, err := shellExecuteRunas(exe, args)
	if err != nil {
		return 0, err
	}
	defer windows.CloseHandle(proc)
	done := make(chan error, 1)
	go func() {
		_, err := windows.WaitForSingleObject(proc, windows.INFINITE)
		done <- err
	}()
	select {
	case <-ctx.Done():
		return 0, fmt.Errorf("stopped waiting for the elevated setup, which goes on by itself: %w", ctx.Err())
	case err := <-done:
		if err != nil {
			return 0, fmt.Errorf("wait for the elevated setup: %w", err)
		}
	}
	var code uint32
	if err := windows.GetExitCodeProcess(proc, &code); err != nil {
		return 0, fmt.Errorf("exit status of the elevated setup: %w", err)
	}
	return int(code), nil
}

// relayPipe makes the pipe and copies what its one client writes to out
// until the client closes it. unblock releases a pipe no client opened
// (the elevated process died first) by opening it once itself; copied is
// closed when the copy ends.
func relayPipe(name string, out io.Writer) (copied chan struct{}, unblock func(), err error) {
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, nil, err
	}
	h, err := windows.CreateNamedPipe(n, windows.PIPE_ACCESS_INBOUND|windows.FILE_FLAG_FIRST_PIPE_INSTANCE,
		windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS, 1, 4096, 4096, 0, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("create pipe %s: %w", name, err)
	}
	copied = make(chan struct{})
	go func() {
		defer close(copied)
		f := os.NewFile(uintptr(h), name)
		defer f.Close()
		if err := windows.ConnectNamedPipe(h, nil); err != nil && !errors.Is(err, windows.ERROR_PIPE_CONNECTED) {
			return
		}
		io.Copy(out, f) // ends when the client closes its end
	}()
	unblock = func() {
		if f, err := os.OpenFile(name, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
	}
	return copied, unblock, nil
}

// shellExecuteInfo is SHELLEXECUTEINFOW.
type shellExecuteInfo struct {
	size        uint32
	mask        uint32
	hwnd        windows.Handle
	verb        *uint16
	file        *uint16
	parameters  *uint16
	directory   *uint16
	show        int32
	instApp     windows.Handle
	idList      uintptr
	class       *uint16
	keyClass    windows.Handle
	hotKey      uint32
	iconMonitor windows.Handle
	process     windows.Handle
}

var procShellExecuteExW = windows.NewLazySystemDLL("shell32.dll").NewProc("ShellExecuteExW")

// shellExecuteRunas starts exe elevated and returns its process handle.
// A declined UAC prompt is said as such.
func shellExecuteRunas(exe string, args []string) (windows.Handle, error) {
	const seeMaskNoCloseProcess, seeMaskNoAsync = 0x40, 0x100
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = windows.EscapeArg(a)
	}
	verb, _ := windows.UTF16PtrFromString("runas")
	file, err := windows.UTF16PtrFromString(exe)
	if err != nil {
		return 0, err
	}
	params, err := windows.UTF16PtrFromString(strings.Join(quoted, " "))
	if err != nil {
		return 0, err
	}
	info := shellExecuteInfo{mask: seeMaskNoCloseProcess | seeMaskNoAsync, verb: verb, file: file,
		parameters: params, show: windows.SW_HIDE}
	info.size = uint32(unsafe.Sizeof(info))
	if ok, _, err := procShellExecuteExW.Call(uintptr(unsafe.Pointer(&info))); ok == 0 {
		if errors.Is(err, windows.ERROR_CANCELLED) {
			return 0, errors.New("the UAC prompt was declined: setup needs administrator rights to install the service and read the agents' token; nothing was changed on Windows")
		}
		return 0, fmt.Errorf("start setup elevated: %w", err)
	}
	if info.process == 0 {
		return 0, errors.New("start setup elevated: no process handle came back")
	}
	return info.process, nil
}
