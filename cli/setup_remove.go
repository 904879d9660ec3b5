package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// installedFiles are what wslfwd-hostd install and a release put in the
// install folder, relative to it: the programs, the copies an update
// leaves while a program runs, and the Linux agents. Only these are
// removed, then installedDirs (the folder itself last) if nothing else is
// left in them.
var (
	installedFiles = []string{
		hostdExe, hostdExe + ".old", hostdExe + ".new",
		cliExe, cliExe + ".old", cliExe + ".new",
		filepath.Join("linux-amd64", agentName), filepath.Join("linux-arm64", agentName),
	}
	installedDirs = []string{"linux-amd64", "linux-arm64", "."}
)

// removeService runs `wslfwd-hostd uninstall` (the service, the
// portproxy entries in its ledger, its firewall rules), deletes the
// programs in the install folder and, with purge, the default state
// directory; then says what it left.
func (e *setupEnv) removeService(ctx context.Context, purge bool) error {
	st, err := e.service()
	if err != nil {
		return err
	}
	var errs []error
	dir := e.installDir
	if st.installed {
		dir = filepath.Dir(st.exe)
		if err := e.hostd(ctx, st.exe, "uninstall"); err != nil {
			errs = append(errs, err)
		}
	} else {
		e.say("Service %s: not installed.", serviceName)
	}
	left := e.removeFiles(dir)
	left = append(left, e.removeState(st, purge)...)
	for _, l := range left {
		e.say("Left: %s", l)
	}
	return errors.Join(errs...)
}

// removeFiles deletes installedFiles and installedDirs from dir and
// returns what it could not delete, with why.
func (e *setupEnv) removeFiles(dir string) []string {
	var left []string
	n := 0
	for i, rel := range append(slices.Clone(installedFiles), installedDirs...) {
		p := filepath.Join(dir, rel)
		switch err := e.remove(p); {
		case err == nil:
			n++
		case errors.Is(err, fs.ErrNotExist):
		case i >= len(installedFiles):
			left = append(left, fmt.Sprintf("%s: it holds files wslfwd did not put there", p))
		default:
			left = append(left, fmt.Sprintf("%s: %v", p, err))
		}
	}
	e.say("Removed %d of wslfwd's files and folders from %s.", n, dir)
	return left
}

// removeState deletes the state directory with purge, but only the
// default one: a folder named by --state-dir or a config file was the
// user's choice and may hold more than wslfwd's files.
func (e *setupEnv) removeState(st installedState, purge bool) []string {
	custom := slices.ContainsFunc(st.args, func(a string) bool {
		return flagName(a) == "--state-dir" || flagName(a) == "--config"
	})
	switch {
	case custom:
		return []string{fmt.Sprintf("the state directory the service's flags chose (%q): delete it by hand", st.args)}
	case !purge:
		return []string{e.stateDir + " (tokens, ledger, log): delete it, or run setup --uninstall --purge"}
	}
	if err := e.removeAll(e.stateDir); err != nil {
		return []string{fmt.Sprintf("%s: %v", e.stateDir, err)}
	}
	e.say("Removed the state directory %s.", e.stateDir)
	return nil
}

// flagName is the name part of a flag argument: --state-dir of
// --state-dir=X.
func flagName(arg string) string {
	name, _, _ := strings.Cut(arg, "=")
	return name
}
