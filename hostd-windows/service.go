package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
)

// This file is the OS-neutral part of the Windows service commands
// (commands_windows.go): how the service's command line is read, and how
// a failure to start is put in words, so Linux tests reach it.

// parseRunFlags parses the flags the service passes to the daemon.
func parseRunFlags(args []string) (*pflag.FlagSet, *runFlags, error) {
	f := &runFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, fmt.Errorf("daemon flags: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("daemon flags: unexpected arguments %q", fs.Args())
	}
	return fs, f, nil
}

// checkServicePaths refuses a relative path among the flags given for the
// service: the service manager starts it in %SystemRoot%\System32, where
// a relative --config or --state-dir would name another file than the one
// install was given and checked.
func checkServicePaths(fs *pflag.FlagSet) error {
	var err error
	for _, name := range []string{"config", "state-dir", "token-file", "read-token-file", "agent-token-file", "log-file"} {
		if v := fs.Lookup(name).Value.String(); fs.Changed(name) && !filepath.IsAbs(v) {
			err = errors.Join(err, fmt.Errorf("--%s %s: the service does not start in this folder, so give the full path", name, v))
		}
	}
	return err
}

// quiet is the logger of the parts the service commands and the daemon's
// own firewall rule use, whose callers say in words what happened: a nil
// logger would mean slog.Default().
var quiet = slog.New(slog.DiscardHandler)

// serviceVerb is the hidden command the service manager runs; install
// registers `<exe> service <daemon flags>`.
const serviceVerb = "service"

// installedDaemonArgs returns the daemon flags of an installed service's
// command line, split as Windows splits it (argv[0] the program): what
// follows serviceVerb. uninstall resolves them as the service does, so it
// cleans up the state directory the service used, not the default one.
func installedDaemonArgs(argv []string) ([]string, error) {
	if len(argv) < 2 || argv[1] != serviceVerb {
		return nil, fmt.Errorf("the service's command line %q is not <program> %s [daemon flags]: it was not installed by wslfwd-hostd install", argv, serviceVerb)
	}
	return argv[2:], nil
}

// stateDirOf is the state directory of the service installed with the
// command line argv, resolved as the service resolves it (its config
// file, then its flags, then the default).
func stateDirOf(argv []string) (string, error) {
	s, err := installedSettings(argv)
	if err != nil {
		return "", err
	}
	return s.stateDir, nil
}

// installedSettings resolves the settings of the service installed with
// the command line argv.
func installedSettings(argv []string) (*settings, error) {
	args, err := installedDaemonArgs(argv)
	if err != nil {
		return nil, err
	}
	fs, f, err := parseRunFlags(args)
	if err != nil {
		return nil, fmt.Errorf("the installed service's flags: %w", err)
	}
	s, err := resolve(fs, f)
	if err != nil {
		return nil, fmt.Errorf("the installed service's settings (fix them, or give --state-dir): %w", err)
	}
	return s, nil
}

// serviceLogPath is where the service logs, as far as its flags alone
// tell: --log-file, else the log file in --state-dir or the default state
// directory. It is what a start that failed before the config was read
// (a broken config file) can still write to.
func serviceLogPath(args []string) string {
	var f runFlags
	fs := pflag.NewFlagSet(serviceVerb, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	_ = fs.Parse(args) // best effort: the flags parsed before an error count
	switch {
	case f.logFile != "":
		return f.logFile
	case f.stateDir != "":
		return filepath.Join(f.stateDir, logfile.FileName)
	}
	return filepath.Join(defaultStateDir(), logfile.FileName)
}

// logStartFailure appends why the daemon could not run to the log file,
// in words: a service has no console, and without this a broken config
// left only "error 1053" in the service manager. The file is written only
// when its folder exists: the state directory is made (with its access
// list) by install or a good start, never here.
func logStartFailure(path string, err error) error {
	if _, serr := os.Stat(filepath.Dir(path)); serr != nil {
		return fmt.Errorf("log the failure to %s: %w", path, serr)
	}
	lf := logfile.Open(path)
	slog.New(slog.NewTextHandler(lf, nil)).Error("wslfwd-hostd cannot run", "err", err.Error())
	if cerr := lf.Close(); cerr != nil {
		return fmt.Errorf("log the failure to %s: %w", path, cerr)
	}
	return nil
}
