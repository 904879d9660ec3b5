package tracker

import (
	"iter"
	"maps"
	"slices"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// A Set is split into shards parts, held in chunks of perChunk. A change
// copies the one part its socket is in, the chunk that holds that part
// (perChunk map references) and the array of chunks, so with a thousand
// listeners an event copies a few map entries and two small arrays
// instead of a thousand entries, and makes that much less garbage.
const (
	chunks   = 16
	perChunk = 16
	shards   = chunks * perChunk
)

// Set is an immutable set of listeners by Key: published states share it,
// and a change makes a new Set that shares the parts (and chunks) it did
// not touch. The zero Set is empty.
//
// Each part maps a socket's inode to its listeners (one, as a rule), so
// a socket closing, which the kernel names by inode alone, is found by one
// lookup rather than a walk.
type Set struct {
	chunks *[chunks]*chunk
	n      int
}

// chunk holds perChunk parts; a nil chunk has none.
type chunk [perChunk]part

// part holds the listeners of some sockets, by inode. Its slices are
// never modified once the part is shared: a change replaces them.
type part map[uint64][]*wslfwdv1.Listener

// shardOf picks a socket's part by inode: the chunk, and the part in it.
func shardOf(inode uint64) (int, int) {
	i := int(inode % shards)
	return i / perChunk, i % perChunk
}

// chunk returns chunk c of s, nil if s has none there.
func (s Set) chunk(c int) *chunk {
	if s.chunks == nil {
		return nil
	}
	return s.chunks[c]
}

// partOf returns the part of socket inode, nil if there is none.
func (s Set) partOf(inode uint64) part {
	c, i := shardOf(inode)
	if ch := s.chunk(c); ch != nil {
		return ch[i]
	}
	return nil
}

// Len returns how many listeners s holds.
func (s Set) Len() int { return s.n }

// Get returns the listener with key k.
func (s Set) Get(k Key) (*wslfwdv1.Listener, bool) {
	ls := s.partOf(k.Inode)[k.Inode]
	if i := index(ls, k); i >= 0 {
		return ls[i], true
	}
	return nil, false
}

// index returns where the listener with key k is in ls, or -1.
func index(ls []*wslfwdv1.Listener, k Key) int {
	return slices.IndexFunc(ls, func(l *wslfwdv1.Listener) bool {
		return l.GetProtocol() == k.Protocol && l.GetPort() == k.Port && l.GetListen() == k.Listen
	})
}

// All iterates over s in no particular order.
func (s Set) All() iter.Seq2[Key, *wslfwdv1.Listener] {
	return func(yield func(Key, *wslfwdv1.Listener) bool) {
		for _, ls := range s.sockets() {
			for _, l := range ls {
				if !yield(KeyOf(l), l) {
					return
				}
			}
		}
	}
}

// sockets iterates over the sockets of s, by inode, in no particular
// order.
func (s Set) sockets() iter.Seq2[uint64, []*wslfwdv1.Listener] {
	return func(yield func(uint64, []*wslfwdv1.Listener) bool) {
		if s.chunks == nil {
			return
		}
		for _, c := range s.chunks {
			if c == nil {
				continue
			}
			for _, p := range c {
				for inode, ls := range p {
					if !yield(inode, ls) {
						return
					}
				}
			}
		}
	}
}

// Keep returns at most max listeners of s and how many it left out:
// first those of the sockets prefer names (the ones the daemon was told
// of, so that no newer socket displaces them), then of the other
// sockets the oldest. Linux numbers inodes, sockets' included, from one
// counter in the order it makes them, so among the new sockets the lowest
// inodes are the oldest; the order is rough (each CPU takes a batch of
// 1,024 at a time) and wraps after 2^32, which is why the sockets already
// kept come first rather than being ranked by inode too. A socket's
// listeners are kept or left out together, and none after the first that
// does not fit. It costs a sort of all the sockets, paid only when s holds
// more than max.
func (s Set) Keep(prefer func(inode uint64) bool, max int) (Set, int) {
	if s.n <= max {
		return s, 0
	}
	var kept, others []uint64
	for inode := range s.sockets() {
		if prefer(inode) {
			kept = append(kept, inode)
		} else {
			others = append(others, inode)
		}
	}
	slices.Sort(kept)
	slices.Sort(others)
	var b builder
	n := 0
	for _, inode := range slices.Concat(kept, others) {
		ls := s.withInode(inode)
		if n+len(ls) > max {
			break
		}
		for _, l := range ls {
			b.put(KeyOf(l), l)
		}
		n += len(ls)
	}
	return b.set(), s.n - n
}

// Holds reports whether s holds a listener of socket inode.
func (s Set) Holds(inode uint64) bool { return len(s.withInode(inode)) > 0 }

// withInode returns the listeners of socket inode; the caller must not
// modify the slice.
func (s Set) withInode(inode uint64) []*wslfwdv1.Listener {
	return s.partOf(inode)[inode]
}

// builder makes a new Set from base, copying the array of chunks on the
// first change, and each chunk and part on its first change. A chunk is
// the builder's own once it differs from base's.
type builder struct {
	base        Set
	chunks      *[chunks]*chunk // nil until the first change
	copiedParts [chunks][perChunk]bool
	n           int
}

// changed reports whether the builder holds changes.
func (b *builder) changed() bool { return b.chunks != nil }

// get looks k up in the Set being built.
func (b *builder) get(k Key) (*wslfwdv1.Listener, bool) {
	return b.view().Get(k)
}

// view is the Set being built, valid until the next change.
func (b *builder) view() Set {
	if b.chunks == nil {
		return b.base
	}
	return Set{chunks: b.chunks, n: b.n}
}

// part returns the part of socket inode, ready for writing.
func (b *builder) part(inode uint64) part {
	if b.chunks == nil {
		b.chunks = new([chunks]*chunk)
		if b.base.chunks != nil {
			*b.chunks = *b.base.chunks
		}
		b.n = b.base.n
	}
	c, i := shardOf(inode)
	if b.chunks[c] == b.base.chunk(c) {
		copied := new(chunk)
		if b.chunks[c] != nil {
			*copied = *b.chunks[c]
		}
		b.chunks[c] = copied
	}
	if !b.copiedParts[c][i] {
		p := maps.Clone(b.chunks[c][i])
		if p == nil {
			p = part{}
		}
		b.chunks[c][i] = p
		b.copiedParts[c][i] = true
	}
	return b.chunks[c][i]
}

// put adds l under k, or replaces the listener k names.
func (b *builder) put(k Key, l *wslfwdv1.Listener) {
	p := b.part(k.Inode)
	ls := p[k.Inode]
	if i := index(ls, k); i >= 0 {
		ls = slices.Clone(ls)
		ls[i] = l
		p[k.Inode] = ls
		return
	}
	// Clip: appending must not write into an array a shared part holds.
	p[k.Inode] = append(slices.Clip(ls), l)
	b.n++
}

func (b *builder) del(k Key) {
	i := index(b.view().withInode(k.Inode), k)
	if i < 0 {
		return
	}
	p := b.part(k.Inode)
	if ls := p[k.Inode]; len(ls) == 1 {
		delete(p, k.Inode)
	} else {
		p[k.Inode] = slices.Delete(slices.Clone(ls), i, i+1)
	}
	b.n--
}

// set returns the Set built; the builder must not be used afterwards.
func (b *builder) set() Set {
	return b.view()
}
