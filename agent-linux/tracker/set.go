package tracker

import (
	"iter"
	"maps"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// shards is how many parts a Set is split into. A change copies one part,
// so with a thousand listeners an event costs copying a handful of map
// entries instead of a thousand, and makes that much less garbage.
const shards = 64

// Set is an immutable set of listeners by Key: published states share it,
// and a change makes a new Set that shares the parts it did not touch.
// The zero Set is empty.
type Set struct {
	parts *[shards]map[Key]*wslfwdv1.Listener
	n     int
}

// shardOf picks a key's part by inode, so a socket closing, which the
// kernel names by inode, is found in one part.
func shardOf(inode uint64) int { return int(inode % shards) }

// Len returns how many listeners s holds.
func (s Set) Len() int { return s.n }

// Get returns the listener with key k.
func (s Set) Get(k Key) (*wslfwdv1.Listener, bool) {
	if s.parts == nil {
		return nil, false
	}
	l, ok := s.parts[shardOf(k.Inode)][k]
	return l, ok
}

// All iterates over s in no particular order.
func (s Set) All() iter.Seq2[Key, *wslfwdv1.Listener] {
	return func(yield func(Key, *wslfwdv1.Listener) bool) {
		if s.parts == nil {
			return
		}
		for _, p := range s.parts {
			for k, l := range p {
				if !yield(k, l) {
					return
				}
			}
		}
	}
}

// withInode iterates over the listeners of socket inode.
func (s Set) withInode(inode uint64) iter.Seq2[Key, *wslfwdv1.Listener] {
	return func(yield func(Key, *wslfwdv1.Listener) bool) {
		if s.parts == nil {
			return
		}
		for k, l := range s.parts[shardOf(inode)] {
			if k.Inode == inode && !yield(k, l) {
				return
			}
		}
	}
}

// builder makes a new Set from base, copying each part on its first
// change.
type builder struct {
	base   Set
	parts  *[shards]map[Key]*wslfwdv1.Listener // nil until the first change
	copied [shards]bool
	n      int
}

// changed reports whether the builder holds changes.
func (b *builder) changed() bool { return b.parts != nil }

// get looks k up in the Set being built.
func (b *builder) get(k Key) (*wslfwdv1.Listener, bool) {
	if b.parts == nil {
		return b.base.Get(k)
	}
	l, ok := b.parts[shardOf(k.Inode)][k]
	return l, ok
}

// view is the Set being built, valid until the next change.
func (b *builder) view() Set {
	if b.parts == nil {
		return b.base
	}
	return Set{parts: b.parts, n: b.n}
}

// part returns k's part, ready for writing.
func (b *builder) part(k Key) map[Key]*wslfwdv1.Listener {
	if b.parts == nil {
		b.parts = new([shards]map[Key]*wslfwdv1.Listener)
		if b.base.parts != nil {
			*b.parts = *b.base.parts
		}
		b.n = b.base.n
	}
	i := shardOf(k.Inode)
	if !b.copied[i] {
		b.parts[i] = maps.Clone(b.parts[i])
		if b.parts[i] == nil {
			b.parts[i] = map[Key]*wslfwdv1.Listener{}
		}
		b.copied[i] = true
	}
	return b.parts[i]
}

func (b *builder) put(k Key, l *wslfwdv1.Listener) {
	p := b.part(k)
	if _, ok := p[k]; !ok {
		b.n++
	}
	p[k] = l
}

func (b *builder) del(k Key) {
	p := b.part(k)
	if _, ok := p[k]; ok {
		b.n--
		delete(p, k)
	}
}

// set returns the Set built; the builder must not be used afterwards.
func (b *builder) set() Set {
	if b.parts == nil {
		return b.base
	}
	return Set{parts: b.parts, n: b.n}
}
