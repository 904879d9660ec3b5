//go:build linux

package sockdiag_test

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/internal/socktest"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
)

// Lookup finds the other end of a connection in the namespace, with its
// owner, or the listener a connection would reach, and nothing where
// neither is.
func TestLookup(t *testing.T) {
	s, err := sockdiag.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, loopback := range []string{"127.0.0.1", "::1"} {
		c, served := socktest.Pair(t, loopback)
		server := served.LocalAddr().(*net.TCPAddr).AddrPort()
		client := c.LocalAddr().(*net.TCPAddr).AddrPort()
		sk, found, err := s.Lookup(server, client)
		if err != nil || !found || sk.UID != uint32(os.Getuid()) || sk.Inode == 0 {
			t.Errorf("%s: the other end of a connection: %+v, found %v, %v; want uid %d", loopback, sk, found, err, os.Getuid())
		}
		// The client's own end, seen from the server's side, is found too.
		if _, found, err := s.Lookup(client, server); err != nil || !found {
			t.Errorf("%s: the client's end: found %v, %v", loopback, found, err)
		}
		// No connection from there, but a listener would take one.
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		listening := ln.Addr().(*net.TCPAddr).AddrPort()
		if _, found, err := s.Lookup(listening, client); err != nil || !found {
			t.Errorf("%s: a listener for a connection not made: found %v, %v", loopback, found, err)
		}
	}
	// Nothing there at all.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := free.Addr().(*net.TCPAddr).AddrPort()
	free.Close()
	if sk, found, err := s.Lookup(nothing, netip.MustParseAddrPort("127.0.0.1:40000")); err != nil || found {
		t.Errorf("no socket: %+v, found %v, %v; want not found", sk, found, err)
	}
}
