// Package tracker is the agent's core: it holds the distro's current
// network state and listeners, re-reads them when a trigger says they may
// have changed, and turns the difference between two states into the
// Snapshot and Changes messages of the agent protocol.
package tracker

import (
	"cmp"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Key identifies a listener, as the daemon does: a socket re-opened on the
// same address and port is a new listener because its inode differs.
type Key struct {
	Protocol wslfwdv1.Protocol
	Listen   string
	Port     uint32
	Inode    uint64
}

// KeyOf returns the key of l.
func KeyOf(l *wslfwdv1.Listener) Key {
	return Key{Protocol: l.GetProtocol(), Listen: l.GetListen(), Port: l.GetPort(), Inode: l.GetInode()}
}

// State is one view of the distro. A published State is never modified:
// hold on to it as long as needed.
type State struct {
	Network   *wslfwdv1.NetworkState
	Listeners Set

	gen uint64 // the tracker's number for this state; 0 if not published
}

// step is how the state numbered gen was made from the one before.
type step struct {
	gen            uint64
	added, removed []*wslfwdv1.Listener
}

// Snapshot returns the whole state as a Snapshot with sequence number seq,
// listeners sorted by protocol, port, address and inode.
func (s State) Snapshot(seq uint64) *wslfwdv1.Snapshot {
	return &wslfwdv1.Snapshot{Seq: seq, Network: s.Network, Listeners: sorted(maps.Collect(s.Listeners.All()))}
}

// Diff returns the Changes that turn old into cur, numbered seq, or nil
// when nothing changed. The network state is included whole when it
// differs. A listener whose owner cur names anew is listed as added: the
// daemon replaces what it holds under its key.
func Diff(old, cur State, seq uint64) *wslfwdv1.Changes {
	c := &wslfwdv1.Changes{Seq: seq}
	if !proto.Equal(old.Network, cur.Network) {
		c.Network = cur.Network
	}
	added := map[Key]*wslfwdv1.Listener{}
	for k, l := range cur.Listeners.All() {
		if prev, ok := old.Listeners.Get(k); !ok || ownerNews(prev, l) {
			added[k] = l // new, or an update of what old holds
		}
	}
	removed := map[Key]*wslfwdv1.Listener{}
	for k, l := range old.Listeners.All() {
		if _, ok := cur.Listeners.Get(k); !ok {
			removed[k] = l
		}
	}
	if c.Network == nil && len(added) == 0 && len(removed) == 0 {
		return nil
	}
	c.Added, c.Removed = sorted(added), sorted(removed)
	return c
}

func sorted(m map[Key]*wslfwdv1.Listener) []*wslfwdv1.Listener {
	return slices.SortedFunc(maps.Values(m), func(a, b *wslfwdv1.Listener) int {
		return cmp.Or(
			cmp.Compare(a.GetProtocol(), b.GetProtocol()),
			cmp.Compare(a.GetPort(), b.GetPort()),
			cmp.Compare(a.GetListen(), b.GetListen()),
			cmp.Compare(a.GetInode(), b.GetInode()),
		)
	})
}
