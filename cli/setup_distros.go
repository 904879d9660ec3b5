package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslfwd/wslfwd/internal/wsl"
)

// distro is one registered distro as setup found it.
type distro struct {
	name   string
	kernel wsl.Kernel
	// err says why the distro could not be asked (it does not start).
	err error
}

// listNames lists every registered distro by name (`wsl.exe -l -q`). An
// empty list is no error: wsl.exe's sentence is shown with it.
func (e *setupEnv) listNames(ctx context.Context) ([]string, error) {
	r, err := e.wsl(ctx, nil, wsl.ListArgs...)
	if err != nil {
		return nil, err
	}
	l := wsl.ParseNames(r.Stdout)
	if len(l.Names) == 0 && l.Said != "" {
		e.say("wsl.exe lists no distros: %s", l.Said)
	}
	return l.Names, nil
}

// discover lists the distros setup may touch, only when only is set,
// each asked for its kernel (`uname -r -m`, which starts it). Docker
// Desktop's are left out.
func (e *setupEnv) discover(ctx context.Context, only string) ([]distro, error) {
	names, err := e.listNames(ctx)
	if err != nil {
		return nil, err
	}
	if only != "" {
		i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, only) })
		if i < 0 {
			return nil, fmt.Errorf("no distro %q: wsl.exe lists %s", only, orNoneList(names))
		}
		names = names[i : i+1]
	}
	var out []distro
	for _, n := range names {
		if wsl.Infrastructure(n) {
			continue
		}
		out = append(out, e.probe(ctx, n))
	}
	return out, nil
}

// probe asks a distro for its kernel.
func (e *setupEnv) probe(ctx context.Context, name string) distro {
	d := distro{name: name}
	r, err := e.wsl(ctx, nil, wsl.ExecArgs(name, "", "uname", "-r", "-m")...)
	if err == nil {
		err = r.Err()
	}
	if err == nil {
		d.kernel, err = wsl.ParseUname(r.Stdout)
	}
	if err != nil {
		d.err = fmt.Errorf("ask %s for its kernel: %w", name, err)
	}
	return d
}

// targets are the distros that get an agent: those running WSL 2. The
// others are said, and with only set, refused.
func (e *setupEnv) targets(ds []distro, only string) ([]distro, error) {
	var out []distro
	for _, d := range ds {
		switch {
		case d.err != nil && only != "":
			return nil, d.err
		case d.err != nil:
			e.say("Skipping %s: %v", d.name, d.err)
		case d.kernel.WSL1() && only != "":
			return nil, fmt.Errorf("%s runs WSL 1 (kernel %s): the agent needs WSL 2; convert it with 'wsl --set-version %s 2'", d.name, d.kernel.Release, d.name)
		case d.kernel.WSL1():
			e.say("Skipping %s: it runs WSL 1, which the agent does not support ('wsl --set-version %s 2' converts it).", d.name, d.name)
		default:
			out = append(out, d)
		}
	}
	return out, nil
}

// agentDirs names the release folder holding the agent built for each
// machine `uname -m` names.
var agentDirs = map[string]string{"x86_64": "linux-amd64", "aarch64": "linux-arm64"}

// agentName is the agent program's name in a release folder and in the
// distro, and agentPath where `wslfwd-agent install` puts it.
const (
	agentName = "wslfwd-agent"
	agentPath = "/usr/local/bin/" + agentName
)

// agentBinary finds the agent for machine: beside wslfwd.exe (a release
// just unpacked), else in the install folder (setup run from there later,
// for a new distro).
func (e *setupEnv) agentBinary(machine string) (string, error) {
	dir, ok := agentDirs[machine]
	if !ok {
		return "", fmt.Errorf("no wslfwd agent is built for %s machines (only x86_64 and aarch64)", machine)
	}
	var tried []string
	for _, base := range []string{e.exeDir, e.installDir} {
		p := filepath.Join(base, dir, agentName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("the agent for %s is not at %s: run setup from the folder the release was unpacked into", machine, strings.Join(tried, " or "))
}

// installAgent puts the agent into a distro with `wslfwd-agent install
// --token-stdin`, run as root from the Windows folder as the distro sees
// it (wslpath), the token on its standard input. The install is
// idempotent, so running it on a distro that is right changes nothing.
func (e *setupEnv) installAgent(ctx context.Context, d distro, tok string) error {
	bin, err := e.agentBinary(d.kernel.Machine)
	if err != nil {
		return err
	}
	r, err := e.wsl(ctx, nil, wsl.ExecArgs(d.name, "", "wslpath", "-a", "-u", bin)...)
	if err == nil {
		err = r.Err()
	}
	linux := strings.TrimSpace(string(r.Stdout))
	if err == nil && !strings.HasPrefix(linux, "/") {
		err = fmt.Errorf("printed %q, not a path", linux)
	}
	if err != nil {
		return fmt.Errorf("find %s inside %s (wslpath): %w", bin, d.name, err)
	}
	r, err = e.wsl(ctx, []byte(tok+"\n"), wsl.ExecArgs(d.name, "root", linux, "install", "--token-stdin")...)
	if err == nil {
		e.sayLines(d.name+": ", r.Stdout)
		err = r.Err()
	}
	if err != nil {
		return fmt.Errorf("wslfwd-agent install in %s: %w", d.name, err)
	}
	return nil
}

// lookForAgent asks a distro whether the agent is installed, and has it
// answer in words of its own: wsl.exe's exit status for its own failures
// is undocumented, and the 1 of `test -e` could not be told from them, so
// a failure to look would have read as "no agent", and uninstall would
// have gone on to remove the service, leaving the agent in the distro.
var lookForAgent = []string{"sh", "-c", "if [ -e " + agentPath + " ]; then echo present; else echo absent; fi"}

// uninstallAgent runs `wslfwd-agent uninstall` as root in a distro that
// has the agent, and says whether it had one.
func (e *setupEnv) uninstallAgent(ctx context.Context, d distro) (bool, error) {
	r, err := e.wsl(ctx, nil, wsl.ExecArgs(d.name, "", lookForAgent...)...)
	if err != nil {
		return false, fmt.Errorf("look for %s in %s: %w", agentPath, d.name, err)
	}
	switch said := strings.TrimSpace(string(r.Stdout)); {
	case r.Code == 0 && said == "absent":
		return false, nil
	case r.Code != 0:
		return false, fmt.Errorf("look for %s in %s: %w", agentPath, d.name, r.Err())
	case said != "present":
		return false, fmt.Errorf("look for %s in %s: the check printed %q, not present or absent", agentPath, d.name, said)
	}
	r, err = e.wsl(ctx, nil, wsl.ExecArgs(d.name, "root", agentPath, "uninstall")...)
	if err == nil {
		e.sayLines(d.name+": ", r.Stdout)
		err = r.Err()
	}
	if err != nil {
		return true, fmt.Errorf("wslfwd-agent uninstall in %s: %w", d.name, err)
	}
	return true, nil
}

// sameDistros refuses to go on when the elevated process sees other
// distros than the user's: UAC then asked another account for its
// password, and that account's distros are not the ones to set up.
func sameDistros(user, elevated []string) error {
	if slices.Equal(sorted(user), sorted(elevated)) {
		return nil
	}
	return errors.New("the elevated process sees other WSL distros (" + orNoneList(elevated) + ") than you do (" +
		orNoneList(user) + "): the administrator who approved the UAC prompt is another Windows account, and " +
		"distros belong to each account. Nothing was changed. Run wslfwd setup as a user who is an administrator " +
		"(approving UAC with your own account), or have the administrator install the service " +
		"and set up each distro by hand (see README)")
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	for i := range s {
		s[i] = strings.ToLower(s[i])
	}
	slices.Sort(s)
	return s
}

func orNoneList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
