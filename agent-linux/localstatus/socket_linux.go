package localstatus

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/wslfwd/wslfwd/internal/filelock"
	"github.com/wslfwd/wslfwd/internal/fileperm"
)

// ErrInUse: another live agent serves its status on the same path.
var ErrInUse = errors.New("another wslfwd-agent serves its status there")

// socket is the listening status socket and the lock that makes it ours.
type socket struct {
	path string
	ln   *net.UnixListener
	lock *os.File
}

// listen makes path's directory (private to this process's user: the
// listeners and processes of the whole distro are root's to see), takes
// the lock beside the socket, replaces a socket a crashed agent left and
// listens, owner-only. The lock, not a trial connection, tells a live
// agent from a dead one: it goes with its process, so two agents starting
// at once cannot both decide the socket is stale.
func listen(path string) (_ *socket, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("status socket directory: %w", err)
	}
	if err := fileperm.CheckPrivate(dir); err != nil {
		return nil, fmt.Errorf("status socket directory: %w", err)
	}
	lock, err := takeLock(path + ".lock")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			dropLock(lock)
		}
	}()
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	// The directory already keeps others out; the mode says so again.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return &socket{path: path, ln: ln, lock: lock}, nil
}

// takeLock opens and locks path without waiting.
func takeLock(path string) (*os.File, error) {
	f, err := filelock.Lock(path)
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("%w (%s is locked)", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return f, nil
}

// dropLock removes the lock file, then lets go of the lock: whoever
// locks the path next makes a new file.
func dropLock(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}

// removeStale removes what a dead agent left at path; anything but a
// socket is not ours to remove.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("status socket %s: exists and is not a socket (%s); remove it or choose another --status-socket", path, fi.Mode().Type())
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("status socket: remove the one a stopped agent left: %w", err)
	}
	return nil
}

// close stops listening and removes the socket, then the lock.
func (s *socket) close() {
	s.ln.Close() // removes the socket file too
	dropLock(s.lock)
}
