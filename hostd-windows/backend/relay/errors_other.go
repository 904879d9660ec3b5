//go:build !windows

package relay

import (
	"errors"
	"syscall"
)

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// isExcludedPort reports false: excluded port ranges are a Windows notion.
func isExcludedPort(error) bool { return false }
