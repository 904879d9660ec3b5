//go:build !windows

package backend

import (
	"errors"
	"syscall"
)

func addrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// excludedPort reports false: excluded port ranges are a Windows notion.
func excludedPort(error) bool { return false }
