// Package statuskey names the listener a ListenerStatus is about, alike at
// both ends of an agent's stream: the daemon keys what it told an agent by
// it, the agent what it was told. A status carries no socket inode, so it
// names a protocol, listen address and port, and outlives a socket
// re-opened on them until the removal of the old one is sent.
package statuskey

import wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"

// Key identifies a listener as statuses do.
type Key struct {
	Protocol wslfwdv1.Protocol
	Listen   string
	Port     uint32
}

// Of is the key of the listener s is about.
func Of(s *wslfwdv1.ListenerStatus) Key {
	return Key{s.GetProtocol(), s.GetListen(), s.GetPort()}
}

// OfListener is the key of l.
func OfListener(l *wslfwdv1.Listener) Key {
	return Key{l.GetProtocol(), l.GetListen(), l.GetPort()}
}
