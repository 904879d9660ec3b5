package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslfwd/wslfwd/agent-linux/dist"
	"github.com/wslfwd/wslfwd/internal/token"
)

// Config says what to install, and where.
type Config struct {
	// Root is the tree to install into: "/" for the running distro.
	Root string
	// Binary is the wslfwd-agent to install, usually the running one.
	Binary string
	// Token is the agent token, as token.Parse returns it; empty keeps
	// the installed one.
	Token string
	// Distro is the distro's name as WSL shows it; the agent names
	// itself so.
	Distro string
	// Host is the agent's --host; empty lets it find the daemon.
	Host string
	// System runs what is not a file; NewSystem(Root) when nil.
	System System
	// Out gets one line per change.
	Out io.Writer
}

// run is one install or uninstall under way.
type run struct {
	Config
	m     *manifest
	acted bool // something was changed (and said)
}

func (r *run) say(format string, args ...any) {
	fmt.Fprintf(r.Out, format+"\n", args...)
	r.acted = true
}

// path is p (a path inside the distro) under the root.
func (r *run) path(p string) string { return under(r.Root, p) }

func under(root, p string) string { return filepath.Join(root, p) }

// Install installs the agent and starts it. Bad input (distro, host,
// token, binary) is refused before anything changes.
func Install(c Config) (err error) {
	bin, err := c.check()
	if err != nil {
		return err
	}
	r, err := start(c)
	if err != nil {
		return err
	}
	if r.m == nil {
		r.m = &manifest{}
	}
	if r.Token == "" {
		if r.Token, err = token.Load(r.path(tokenPath)); err != nil {
			return fmt.Errorf("no token given (--token-stdin or --token-file) and none installed: %w", err)
		}
	}
	defer func() { err = errors.Join(err, r.m.save(r.Root)) }()
	changed, err := r.files(bin)
	if err != nil {
		return err
	}
	if r.System.Systemd() {
		err = r.systemd(changed)
	} else {
		err = r.boot(changed)
	}
	if err == nil && !r.acted {
		fmt.Fprintln(r.Out, "wslfwd-agent is installed and running: nothing to change")
	}
	return err
}

// check refuses bad input and returns the binary to install.
func (c *Config) check() ([]byte, error) {
	if c.Root == "" {
		c.Root = "/"
	}
	if c.System == nil {
		c.System = NewSystem(c.Root)
	}
	if err := checkDistro(c.Distro); err != nil {
		return nil, err
	}
	if err := checkHost(c.Host); err != nil {
		return nil, err
	}
	if c.Token != "" {
		if _, err := token.Parse(c.Token); err != nil {
			return nil, fmt.Errorf("agent token: %w", err)
		}
	}
	bin, err := os.ReadFile(c.Binary)
	if err != nil {
		return nil, fmt.Errorf("the agent binary to install: %w", err)
	}
	return bin, nil
}

func start(c Config) (*run, error) {
	m, err := loadManifest(c.Root)
	if err != nil {
		return nil, err
	}
	return &run{Config: c, m: m}, nil
}

// files writes the binary and the token; changed reports whether either
// was not as it should be, so a running agent must restart.
func (r *run) files(bin []byte) (changed bool, err error) {
	if err := r.mkdir(configDir, 0o700); err != nil {
		return false, err
	}
	for _, f := range []struct {
		path, what string
		data       []byte
		perm       fs.FileMode
	}{
		{binPath, "the agent", bin, 0o755},
		{tokenPath, "the agent token", []byte(r.Token + "\n"), 0o600},
	} {
		c, err := r.put(f.path, f.data, f.perm, f.what)
		if err != nil {
			return false, err
		}
		changed = changed || c
	}
	return changed, nil
}

// put writes one file of ours, recorded in the manifest first. A file
// that was there before and that no install made is someone else's: when
// it already holds what install would write it is left (its mode made
// perm) and not recorded, so uninstall leaves it too; otherwise install
// stops rather than replace it.
func (r *run) put(path string, data []byte, perm fs.FileMode, what string) (bool, error) {
	if err := r.mkdir(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	mine, err := r.claim(path, data)
	if err != nil {
		return false, err
	}
	if mine {
		r.m.addFile(path)
	}
	changed, err := writeFile(r.path(path), data, perm)
	if changed {
		r.say("wrote %s: %s", r.path(path), what)
	}
	return changed, err
}

// claim reports whether path is wslfwd's to record: an install made it,
// or nothing is there yet (not even a dangling symbolic link). A file of
// someone else's is an error unless it holds want already.
func (r *run) claim(path string, want []byte) (bool, error) {
	if r.m.has(path) {
		return true, nil
	}
	have, err := readFile(r.path(path))
	if err != nil {
		return false, err
	}
	if have != nil && bytes.Equal(have, want) {
		return false, nil
	}
	if _, err := os.Lstat(r.path(path)); errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	return false, fmt.Errorf("%s is there and wslfwd-agent install did not make it: move it away and run install again", r.path(path))
}

// mkdir creates dir (and its parents) when missing, recording each one
// it made.
func (r *run) mkdir(dir string, perm fs.FileMode) error {
	if _, err := os.Stat(r.path(dir)); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := r.mkdir(parent, 0o755); err != nil {
			return err
		}
	}
	r.m.Dirs = append(r.m.Dirs, dir)
	if err := os.Mkdir(r.path(dir), perm); err != nil {
		return fmt.Errorf("create %s: %w", r.path(dir), err)
	}
	r.say("created %s", r.path(dir))
	return nil
}

// systemd installs the unit and has systemd run the agent; an agent the
// boot command started before is replaced.
func (r *run) systemd(changed bool) error {
	if err := r.removeBoot(); err != nil {
		return err
	}
	env, err := r.put(envPath, []byte(envFile(r.Distro, r.Host)), 0o600, "the agent's distro name and flags")
	if err != nil {
		return err
	}
	unit, err := r.put(unitPath, []byte(dist.Unit), 0o644, "the systemd unit")
	if err != nil {
		return err
	}
	if unit {
		if err := r.systemctl("daemon-reload"); err != nil {
			return err
		}
	}
	if r.System.Systemctl("is-enabled", "--quiet", unitName) != nil {
		r.m.EnabledUnit = true // recorded first, as files are
		if err := r.systemctl("enable", unitName); err != nil {
			return err
		}
	}
	switch {
	case r.System.Systemctl("is-active", "--quiet", unitName) != nil:
		return r.systemctl("start", unitName)
	case changed || env || unit:
		return r.systemctl("restart", unitName)
	}
	return nil
}

// systemctl runs systemctl and says so; under --root it says it did not.
func (r *run) systemctl(args ...string) error {
	err := r.System.Systemctl(args...)
	if errors.Is(err, ErrOffline) {
		r.say("not run (--root): systemctl %s", strings.Join(args, " "))
		return nil
	}
	if err != nil {
		return err
	}
	r.say("ran systemctl %s", strings.Join(args, " "))
	return nil
}
