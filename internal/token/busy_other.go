//go:build !windows

package token

// busy is Windows' sharing violation; other systems have none.
func busy(error) bool { return false }
