package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// useLogFile makes path the agent's standard error, where it logs (and
// where the Go runtime writes a crash), when openLogFile takes it.
func useLogFile(path string) error {
	f, err := openLogFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Dup3(int(f.Fd()), 2, 0); err != nil {
		return fmt.Errorf("--log-file %s: %w", path, err)
	}
	return nil
}

// openLogFile opens path to append to as root, when that is safe: the
// boot command used to append with the shell's ">>", which follows a
// symlink, in /var/log, a directory group syslog may write on Ubuntu, so
// that user could have root append to any file at every boot.
//
// The file is opened without following a symlink, without blocking on a
// FIFO, made 0600, and taken only when it is a regular file the agent's
// user owns with one link: another user's file, or a hard link to one,
// is refused. The caller runs on without it, unlogged, rather than not
// at all.
func openLogFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--log-file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := checkLogFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--log-file %s: %w", path, err)
	}
	return f, nil
}

// checkLogFile refuses an open log file that is not a regular file of
// this process's user with one link, and makes it 0600.
func checkLogFile(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("not a regular file")
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("owned by uid %d, not the agent's: not appended to", st.Uid)
	case st.Nlink != 1:
		return fmt.Errorf("%d links: not appended to", st.Nlink)
	}
	return f.Chmod(0o600)
}
