package server

import (
	"context"
	"sync"
)

// places counts, for each role rank, the calls that hold one of a bounded
// number of places. A call gives its place back when its context ends,
// which gRPC does for every call that ends, those that end before any
// interceptor runs included (a client that resets a half-sent request, a
// deadline already past), or earlier through the func take returns.
type places struct {
	mu  sync.Mutex
	n   [numRanks]int
	max [numRanks]int
}

// newPlaces bounds each role's places as max says; a role it does not
// name has none.
func newPlaces(max map[role]int) *places {
	p := &places{}
	for r, n := range max {
		p.max[r.rank()] = n
	}
	return p
}

// take takes a place for a call of ctx of the given rank and returns the
// func that gives it back early; false when the rank has none left.
func (p *places) take(ctx context.Context, rank int) (func(), bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[rank] >= p.max[rank] {
		return nil, false
	}
	p.n[rank]++
	var once sync.Once
	give := func() {
		once.Do(func() {
			p.mu.Lock()
			p.n[rank]--
			p.mu.Unlock()
		})
	}
	context.AfterFunc(ctx, give)
	return give, true
}
