//go:build unix

package session

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// inodeOf returns the socket inode of c, by which the tracker recognises
// the agent's own echo listener among its sockets.
func inodeOf(c io.Closer) (uint64, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("socket inode: %w", err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		return 0, fmt.Errorf("socket inode: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("socket inode: %w", serr)
	}
	return uint64(st.Ino), nil
}
