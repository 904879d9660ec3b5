package backend

import (
	"errors"
	"syscall"
)

// wsaeaddrinuse is Winsock's "address already in use"; the syscall
// package names no constant for it.
const wsaeaddrinuse syscall.Errno = 10048

func addrInUse(err error) bool { return errors.Is(err, wsaeaddrinuse) }

// excludedPort reports a bind refused with WSAEACCES, which is how
// Windows refuses a port inside an excluded port range (the ranges that
// Hyper-V and WinNAT reserve). Go's listeners on Windows set no
// SO_REUSEADDR, so the other cause of WSAEACCES, a second socket that asks
// to share a port held with SO_EXCLUSIVEADDRUSE, does not arise.
func excludedPort(err error) bool { return errors.Is(err, syscall.WSAEACCES) }
