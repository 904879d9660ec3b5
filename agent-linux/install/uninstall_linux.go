package install

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
)

// Uninstall stops the agent and removes what Install made, as its
// manifest says: nothing else.
func Uninstall(c Config) (err error) {
	if c.Root == "" {
		c.Root = "/"
	}
	if c.System == nil {
		c.System = NewSystem(c.Root)
	}
	r, err := start(c)
	if err != nil {
		return err
	}
	if r.m == nil {
		fmt.Fprintf(r.Out, "wslfwd-agent is not installed here (no %s): nothing to do\n", r.path(manifestPath))
		return nil
	}
	// A failure leaves the manifest saying what is still there, so
	// uninstall can be run again.
	defer func() {
		if err != nil {
			err = errors.Join(err, r.m.save(r.Root))
		}
	}()
	if err := r.removeUnit(); err != nil {
		return err
	}
	if err := r.removeBoot(); err != nil {
		return err
	}
	for _, f := range slices.Backward(slices.Clone(r.m.Files)) {
		if err := r.remove(f); err != nil {
			return err
		}
	}
	return r.removeDirs()
}

// removeDirs removes the manifest, then the directories install created,
// deepest first, each only when empty.
func (r *run) removeDirs() error {
	if _, err := removeFile(r.path(manifestPath)); err != nil {
		return err
	}
	for len(r.m.Dirs) > 0 {
		dir := r.m.Dirs[len(r.m.Dirs)-1]
		err := os.Remove(r.path(dir))
		switch {
		case err == nil:
			r.say("removed %s", r.path(dir))
		case errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST):
			r.say("kept %s: it holds files install did not make", r.path(dir))
		case !os.IsNotExist(err):
			return fmt.Errorf("remove %s: %w", r.path(dir), err)
		}
		r.m.Dirs = r.m.Dirs[:len(r.m.Dirs)-1]
	}
	return nil
}
