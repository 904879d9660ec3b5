package tracker

import (
	"slices"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func listener(p wslfwdv1.Protocol, listen string, port uint32, inode uint64) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: p, Listen: listen, Port: port, Inode: inode}
}

// setOf builds a Set of n TCP listeners with inodes 1..n.
func setOf(n int) Set {
	var b builder
	for i := 1; i <= n; i++ {
		l := listener(wslfwdv1.Protocol_PROTOCOL_TCP, "0.0.0.0", uint32(i), uint64(i))
		b.put(KeyOf(l), l)
	}
	return b.set()
}

// sharedParts counts the parts a and b share (the same map).
func sharedParts(a, b Set) int {
	n := 0
	for inode := range uint64(shards) {
		pa, pb := a.partOf(inode), b.partOf(inode)
		if len(pa) > 0 && pb != nil && isSame(pa, pb) {
			n++
		}
	}
	return n
}

// isSame reports whether two parts are one map: a write to one shows in
// the other. Probing with a key no socket has leaves both as they were.
func isSame(a, b part) bool {
	const probe = ^uint64(0)
	a[probe] = nil
	_, same := b[probe]
	delete(a, probe)
	return same
}

// An event's change copies the one part its socket is in: closing a socket
// by inode and opening another touch two parts of a thousand-listener set
// and leave the published set as it was.
func TestChangeCopiesOnlyTouchedParts(t *testing.T) {
	old := setOf(1000)
	c := change{b: builder{base: old}}
	c.closed(wslfwdv1.Protocol_PROTOCOL_TCP, 7)
	c.add(listener(wslfwdv1.Protocol_PROTOCOL_TCP, "0.0.0.0", 5000, 2000+shards+9)) // another part than 7's
	next := c.b.set()

	if old.Len() != 1000 || next.Len() != 1000 {
		t.Fatalf("lengths: old %d, next %d; want 1000 and 1000", old.Len(), next.Len())
	}
	k7 := Key{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 7, Inode: 7}
	if _, ok := old.Get(k7); !ok {
		t.Error("the published set lost the closed listener")
	}
	if _, ok := next.Get(k7); ok {
		t.Error("the closed listener is still in the new set")
	}
	if len(c.removed) != 1 || c.removed[0].GetInode() != 7 || len(c.added) != 1 {
		t.Errorf("change noted removed %v, added %v", c.removed, c.added)
	}
	if got := sharedParts(old, next); got != shards-2 {
		t.Errorf("the new set shares %d parts with the old, want %d", got, shards-2)
	}
}

// One socket may carry several keys (protocols, addresses): closing it
// removes the listener of the protocol named, and removing one key keeps
// the others.
func TestSameInodeSeveralListeners(t *testing.T) {
	tcpL := listener(wslfwdv1.Protocol_PROTOCOL_TCP, "0.0.0.0", 80, 5)
	udpL := listener(wslfwdv1.Protocol_PROTOCOL_UDP, "0.0.0.0", 80, 5)
	var b builder
	b.put(KeyOf(tcpL), tcpL)
	b.put(KeyOf(udpL), udpL)
	b.put(KeyOf(udpL), udpL) // again: replaces, does not add
	base := b.set()
	if base.Len() != 2 {
		t.Fatalf("Len = %d, want 2", base.Len())
	}
	c := change{b: builder{base: base}}
	c.closed(wslfwdv1.Protocol_PROTOCOL_UDP, 5)
	next := c.b.set()
	if _, ok := next.Get(KeyOf(udpL)); ok || next.Len() != 1 {
		t.Errorf("after closing the UDP socket: Len %d, UDP still there: %v", next.Len(), ok)
	}
	if _, ok := next.Get(KeyOf(tcpL)); !ok {
		t.Error("closing the UDP socket removed the TCP listener of the same inode")
	}
	if _, ok := base.Get(KeyOf(udpL)); !ok || base.Len() != 2 {
		t.Error("the change modified the set it started from")
	}
	c.closed(wslfwdv1.Protocol_PROTOCOL_UDP, 99) // unknown: nothing happens
	if c.b.set().Len() != 1 || len(c.removed) != 1 {
		t.Errorf("closing an unknown socket changed the set: %v", c.removed)
	}
}

// Show and Hide replace the shown set, so one handed out earlier (to a
// scan in progress) does not change under it.
func TestShownSetNotModifiedInPlace(t *testing.T) {
	tr := New(Config{})
	tr.Show(1)
	before, _ := tr.shownNow()
	tr.Show(2)
	tr.Hide(1)
	if !before[1] || before[2] || len(before) != 1 {
		t.Errorf("a shown set handed out changed: %v", before)
	}
	if now, _ := tr.shownNow(); now[1] || !now[2] {
		t.Errorf("shown now: %v, want only 2", now)
	}
}

// Keep keeps the sockets prefer holds, then the lowest inodes, a socket's
// listeners together, and counts the rest; a set within the limit is
// itself.
func TestKeepPrefersThenOldest(t *testing.T) {
	if got, left := setOf(5).Keep(Set{}.Holds, 5); got.Len() != 5 || left != 0 {
		t.Errorf("Keep(5) of 5: %d kept, %d left out; want 5 and 0", got.Len(), left)
	}
	var b builder
	for _, l := range []*wslfwdv1.Listener{
		listener(wslfwdv1.Protocol_PROTOCOL_TCP, "0.0.0.0", 9000, 900), // newest
		listener(wslfwdv1.Protocol_PROTOCOL_TCP, "0.0.0.0", 8080, 12),
		listener(wslfwdv1.Protocol_PROTOCOL_TCP, "127.0.0.1", 5432, 40),
		listener(wslfwdv1.Protocol_PROTOCOL_UDP, "0.0.0.0", 53, 7), // oldest
		listener(wslfwdv1.Protocol_PROTOCOL_UDP, "127.0.0.1", 53, 7),
		listener(wslfwdv1.Protocol_PROTOCOL_TCP, "0.0.0.0", 3000, 12+shards), // same part as 8080, newer
	} {
		b.put(KeyOf(l), l)
	}
	s := b.set()
	var pb builder
	for _, inode := range []uint64{900, 40} { // told of before: 9000 and 5432
		for _, l := range s.withInode(inode) {
			pb.put(KeyOf(l), l)
		}
	}
	told := pb.set()
	for _, tc := range []struct {
		prefer Set
		max    int
		inodes []uint64 // of the listeners kept
	}{
		{Set{}, 4, []uint64{7, 7, 12, 40}},
		{Set{}, 3, []uint64{7, 7, 12}},
		{Set{}, 1, nil}, // socket 7's two listeners do not fit: none after it either
		{Set{}, 0, nil},
		{told, 3, []uint64{40, 900}}, // the sockets told of first; then socket 7's two do not fit
		{told, 4, []uint64{7, 7, 40, 900}},
		{told, 1, []uint64{40}}, // fewer places than sockets told of: the oldest of those
	} {
		got, left := s.Keep(tc.prefer.Holds, tc.max)
		var inodes []uint64
		for k := range got.All() {
			inodes = append(inodes, k.Inode)
		}
		slices.Sort(inodes)
		if !slices.Equal(inodes, tc.inodes) || left != s.Len()-len(tc.inodes) || got.Len() != len(tc.inodes) {
			t.Errorf("Keep(%d listeners preferred, %d): inodes %v (Len %d), %d left out; want %v, %d",
				tc.prefer.Len(), tc.max, inodes, got.Len(), left, tc.inodes, s.Len()-len(tc.inodes))
		}
	}
	if s.Len() != 6 {
		t.Errorf("Keep changed the set: Len %d", s.Len())
	}
}
