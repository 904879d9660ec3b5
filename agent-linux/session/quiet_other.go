//go:build !linux

package session

import "net"

// quiet leaves c as it is outside Linux, where the agent does not run.
func quiet(c net.Conn) (net.Conn, error) { return c, nil }
