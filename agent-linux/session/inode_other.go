//go:build !unix

package session

import (
	"errors"
	"io"
)

// inodeOf has no meaning outside Linux, where the agent runs.
func inodeOf(io.Closer) (uint64, error) {
	return 0, errors.New("socket inodes exist only on Linux")
}
