package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslfwd/wslfwd/agent-linux/wslconf"
)

// boot has WSL's boot command start the agent, and starts it now; a
// unit installed before (when systemd ran the distro) is taken out.
func (r *run) boot(changed bool) error {
	if err := r.removeUnit(); err != nil {
		return err
	}
	cmd := bootCommand(r.Distro, r.Host)
	edited, err := r.addBoot(cmd)
	if err != nil {
		return err
	}
	// The boot command appends to the log: it is ours unless it was
	// there before an install named it.
	if _, err := os.Lstat(r.path(logPath)); errors.Is(err, fs.ErrNotExist) {
		r.m.addFile(logPath)
	}
	pids, err := r.System.Agents(binPath)
	if err != nil {
		return fmt.Errorf("find a running agent: %w", err)
	}
	if len(pids) > 0 && !changed && !edited {
		return nil
	}
	if err := r.stop(pids, "to start the new one"); err != nil {
		return err
	}
	switch err := r.System.Start(cmd); {
	case errors.Is(err, ErrOffline):
		r.say("not run (--root): %s", cmd)
	case err != nil:
		return err
	default:
		r.say("started the agent: %s", cmd)
	}
	return nil
}

// addBoot puts cmd in front of the boot command of wsl.conf, replacing
// what an earlier install put there.
func (r *run) addBoot(cmd string) (bool, error) {
	path := r.path(wslConfPath)
	conf, err := readFile(path)
	if err != nil {
		return false, err
	}
	base := conf
	switch {
	case conf == nil:
		r.m.WSLConf, r.m.CreatedWSLConf = nil, true
	case r.m.WSLConf != nil:
		if base, err = wslconf.Remove(conf, *r.m.WSLConf); err != nil {
			return false, handEdited(path, err)
		}
	}
	out, edit, err := wslconf.Add(base, cmd)
	if err != nil {
		return false, err
	}
	r.m.WSLConf = &edit
	if string(out) == string(conf) {
		return false, nil
	}
	if _, err := writeFile(path, out, filePerm(path, 0o644)); err != nil {
		return false, err
	}
	r.say("added the agent to the [boot] command of %s", path)
	return true, nil
}

// removeBoot takes out of wsl.conf what install added, and stops the
// agent the boot command started.
func (r *run) removeBoot() error {
	if r.m.WSLConf == nil {
		return nil
	}
	path := r.path(wslConfPath)
	conf, err := readFile(path)
	if err != nil {
		return err
	}
	if conf != nil {
		out, err := wslconf.Remove(conf, *r.m.WSLConf)
		if err != nil {
			return handEdited(path, err)
		}
		if err := r.restoreWSLConf(path, out); err != nil {
			return err
		}
	}
	r.m.WSLConf, r.m.CreatedWSLConf = nil, false
	pids, err := r.System.Agents(binPath)
	if err != nil {
		return fmt.Errorf("find a running agent: %w", err)
	}
	if err := r.stop(pids, "started by the boot command"); err != nil {
		return err
	}
	return r.remove(logPath)
}

// restoreWSLConf writes out back, or removes the file when install
// created it and nothing else is in it.
func (r *run) restoreWSLConf(path string, out []byte) error {
	if r.m.CreatedWSLConf && len(out) == 0 {
		if _, err := removeFile(path); err != nil {
			return err
		}
		r.say("removed %s (install had created it)", path)
		return nil
	}
	if _, err := writeFile(path, out, filePerm(path, 0o644)); err != nil {
		return err
	}
	r.say("took the agent out of the [boot] command of %s", path)
	return nil
}

func handEdited(path string, err error) error {
	return fmt.Errorf("%s: %w; take the wslfwd-agent command out of [boot] command by hand, then run this again", path, err)
}

// filePerm is path's permission bits, or def when it does not exist.
func filePerm(path string, def fs.FileMode) fs.FileMode {
	if fi, err := os.Stat(path); err == nil {
		return fi.Mode().Perm()
	}
	return def
}

// removeUnit disables the unit if install wrote or enabled it, and
// removes the files of it install wrote.
func (r *run) removeUnit() error {
	if !r.m.has(unitPath) && !r.m.EnabledUnit {
		return nil
	}
	if r.System.Systemd() {
		if err := r.systemctl("disable", "--now", unitName); err != nil {
			return err
		}
	} else if err := r.removeWantsLink(); err != nil {
		return err
	}
	r.m.EnabledUnit = false
	if err := r.remove(unitPath); err != nil {
		return err
	}
	if err := r.remove(envPath); err != nil {
		return err
	}
	if r.System.Systemd() {
		return r.systemctl("daemon-reload")
	}
	return nil
}

// removeWantsLink does what systemctl disable would, when systemd is not
// running to do it: remove the link enable made to the unit.
func (r *run) removeWantsLink() error {
	link := r.path(filepath.Join(filepath.Dir(unitPath), "multi-user.target.wants", unitName))
	if dest, err := os.Readlink(link); err != nil || !strings.HasSuffix(dest, "/"+unitName) {
		return nil
	}
	if _, err := removeFile(link); err != nil {
		return err
	}
	r.say("removed %s", link)
	return nil
}

// stop stops the agents pids, saying why.
func (r *run) stop(pids []int, why string) error {
	for _, pid := range pids {
		if err := r.System.Stop(pid); err != nil {
			return err
		}
		r.say("stopped the agent (pid %d) %s", pid, why)
	}
	return nil
}

// remove removes a file of ours and forgets it; a file the manifest does
// not name is someone else's and stays.
func (r *run) remove(path string) error {
	if !r.m.has(path) {
		return nil
	}
	removed, err := removeFile(r.path(path))
	if err != nil {
		return err
	}
	if removed {
		r.say("removed %s", r.path(path))
	}
	r.m.dropFile(path)
	return nil
}
