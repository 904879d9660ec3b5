package relay

import (
	"errors"
	"syscall"
)

// wsaeaddrinuse is Winsock's "address already in use"; the syscall
// package names no constant for it.
const wsaeaddrinuse syscall.Errno = 10048

func isAddrInUse(err error) bool { return errors.Is(err, wsaeaddrinuse) }

// isExcludedPort reports a bind refused with WSAEACCES, which is how
// Windows refuses a port inside an excluded port range (the ranges that
// Hyper-V and WinNAT reserve).
func isExcludedPort(err error) bool { return errors.Is(err, syscall.WSAEACCES) }
