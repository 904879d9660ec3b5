//go:build linux

package main

import (
	"net"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/internal/socktest"
)

// The session asks about its own connection (local, remote): the lookup
// must name the socket at the other end, the daemon's side, not the
// agent's own.
func TestPeerLookupNamesTheOtherEnd(t *testing.T) {
	owner, err := peerOwner()
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	c, served := socktest.Pair(t, "127.0.0.1")
	local, remote := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
	sk, found, err := owner.other(local, remote)
	if err != nil || !found {
		t.Fatalf("the other end of %v -> %v: found %v, %v", local, remote, found, err)
	}
	if want := socktest.Inode(t, served); sk.Inode != want {
		t.Errorf("the other end is inode %d, want the daemon side's %d (the agent's own is %d)", sk.Inode, want, socktest.Inode(t, c))
	}
}
