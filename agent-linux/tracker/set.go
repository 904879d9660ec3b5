package tracker

import (
	"iter"
	"maps"
	"slices"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// shards is how many parts a Set is split into. A change copies one part,
// so with a thousand listeners an event costs copying a handful of map
// entries instead of a thousand, and makes that much less garbage.
const shards = 64

// Set is an immutable set of listeners by Key: published states share it,
// and a change makes a new Set that shares the parts it did not touch.
// The zero Set is empty.
//
// Each part maps a socket's inode to its listeners (one, as a rule), so
// a socket closing, which the kernel names by inode alone, is found by one
// lookup rather than a walk.
type Set struct {
	parts *[shards]part
	n     int
}

// part holds the listeners of some sockets, by inode. Its slices are
// never modified once the part is shared: a change replaces them.
type part map[uint64][]*wslfwdv1.Listener

// shardOf picks a socket's part by inode.
func shardOf(inode uint64) int { return int(inode % shards) }

// Len returns how many listeners s holds.
func (s Set) Len() int { return s.n }

// Get returns the listener with key k.
func (s Set) Get(k Key) (*wslfwdv1.Listener, bool) {
	if s.parts == nil {
		return nil, false
	}
	ls := s.parts[shardOf(k.Inode)][k.Inode]
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
		if s.parts == nil {
			return
		}
		for _, p := range s.parts {
			for _, ls := range p {
				for _, l := range ls {
					if !yield(KeyOf(l), l) {
						return
					}
				}
			}
		}
	}
}

// withInode returns the listeners of socket inode; the caller must not
// modify the slice.
func (s Set) withInode(inode uint64) []*wslfwdv1.Listener {
	if s.parts == nil {
		return nil
	}
	return s.parts[shardOf(inode)][inode]
}

// builder makes a new Set from base, copying each part on its first
// change.
type builder struct {
	base   Set
	parts  *[shards]part // nil until the first change
	copied [shards]bool
	n      int
}

// changed reports whether the builder holds changes.
func (b *builder) changed() bool { return b.parts != nil }

// get looks k up in the Set being built.
func (b *builder) get(k Key) (*wslfwdv1.Listener, bool) {
	return b.view().Get(k)
}

// view is the Set being built, valid until the next change.
func (b *builder) view() Set {
	if b.parts == nil {
		return b.base
	}
	return Set{parts: b.parts, n: b.n}
}

// part returns the part of socket inode, ready for writing.
func (b *builder) part(inode uint64) part {
	if b.parts == nil {
		b.parts = new([shards]part)
		if b.base.parts != nil {
			*b.parts = *b.base.parts
		}
		b.n = b.base.n
	}
	i := shardOf(inode)
	if !b.copied[i] {
		b.parts[i] = maps.Clone(b.parts[i])
		if b.parts[i] == nil {
			b.parts[i] = part{}
		}
		b.copied[i] = true
	}
	return b.parts[i]
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
