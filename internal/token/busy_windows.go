package token

import (
	"errors"

	"golang.org/x/sys/windows"
)

// busy reports whether err is Windows' sharing violation: another process
// holds the file open in a way that excludes ours, for now.
func busy(err error) bool { return errors.Is(err, windows.ERROR_SHARING_VIOLATION) }
