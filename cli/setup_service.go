package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The service and its programs, as wslfwd-hostd install makes them.
const (
	serviceName = "wslfwd-hostd" // hostd-windows/winsvc.Name
	hostdExe    = "wslfwd-hostd.exe"
	cliExe      = "wslfwd.exe"
)

// installedState is the installed service as the service manager has it.
type installedState struct {
	installed, running bool
	// exe is the program it runs, and args the daemon flags it runs
	// with (what follows `service` on its command line).
	exe  string
	args []string
}

// serviceStep is what setup does to the service.
type serviceStep int

const (
	serviceKeep    serviceStep = iota // same programs, same flags, running
	serviceStart                      // right but stopped
	serviceInstall                    // missing, other programs or other flags
)

// planService decides. The service is installed (or updated) when it is
// missing, when the programs in the install folder differ from the ones
// beside wslfwd.exe (a new release: compared by content, so a rebuild of
// the same version counts too), or when the daemon flags differ; else it
// is only started when stopped. So a second run touches nothing.
func planService(st installedState, args []string, sameFiles bool) serviceStep {
	switch {
	case !st.installed || !sameFiles || !slices.Equal(st.args, args):
		return serviceInstall
	case !st.running:
		return serviceStart
	default:
		return serviceKeep
	}
}

// ensureService brings the service to the programs beside wslfwd.exe and
// the wanted daemon flags (the installed ones when none are given), and
// running, and returns it as it now is.
func (e *setupEnv) ensureService(ctx context.Context, want []string) (installedState, error) {
	st, err := e.service()
	if err != nil {
		return st, err
	}
	if len(want) == 0 && st.installed {
		want = st.args
	}
	src := filepath.Join(e.exeDir, hostdExe)
	same, err := e.sameFiles(st)
	if err != nil {
		return st, err
	}
	switch planService(st, want, same) {
	case serviceKeep:
		e.say("Service %s: up to date and running (%s).", serviceName, st.exe)
		return st, nil
	case serviceStart:
		e.say("Service %s: up to date, starting it.", serviceName)
		return st, e.hostd(ctx, st.exe, "start")
	}
	e.say("Service %s: installing from %s.", serviceName, src)
	if err := e.hostd(ctx, src, append([]string{"install", "--"}, want...)...); err != nil {
		return st, err
	}
	if st.running { // it runs the old program until restarted
		if err := e.hostd(ctx, src, "stop"); err != nil {
			return st, err
		}
	}
	if err := e.hostd(ctx, src, "start"); err != nil {
		return st, err
	}
	return e.service()
}

// hostd runs a wslfwd-hostd.exe command and shows what it printed.
func (e *setupEnv) hostd(ctx context.Context, exe string, args ...string) error {
	out, err := e.run(ctx, nil, exe, args...)
	e.sayLines("", out)
	if err != nil {
		return fmt.Errorf("wslfwd-hostd %s: %w", args[0], err)
	}
	return nil
}

// sameFiles reports whether the installed service runs the programs
// beside wslfwd.exe: the same folder, or copies of the same content.
func (e *setupEnv) sameFiles(st installedState) (bool, error) {
	if !st.installed {
		return false, nil
	}
	dir := filepath.Dir(st.exe)
	if strings.EqualFold(filepath.Clean(dir), filepath.Clean(e.exeDir)) {
		return true, nil
	}
	for _, name := range []string{hostdExe, cliExe} {
		src := filepath.Join(e.exeDir, name)
		a, err := fileSum(src)
		if err != nil {
			return false, fmt.Errorf("%s must lie beside wslfwd.exe (run setup from the folder the release was unpacked into): %w", name, err)
		}
		b, err := fileSum(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil || !bytes.Equal(a, b) {
			return false, err
		}
	}
	return true, nil
}

func fileSum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// agentToken reads the agents' token with `wslfwd-hostd token --agent`
// (administrators only), given the service's flags so it finds the files
// the service uses.
func (e *setupEnv) agentToken(ctx context.Context, st installedState) (string, error) {
	out, err := e.run(ctx, nil, st.exe, append([]string{"token", "--agent", "--"}, st.args...)...)
	if err != nil {
		return "", fmt.Errorf("read the agents' token: %w", err)
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" || strings.ContainsAny(tok, " \r\n") {
		return "", fmt.Errorf("read the agents' token: wslfwd-hostd token --agent printed %q", out)
	}
	return tok, nil
}
