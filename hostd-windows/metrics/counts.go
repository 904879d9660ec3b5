package metrics

import (
	"cmp"
	"slices"
	"sync"
)

// byCode counts events by gRPC code name (a fixed set, so the map stays
// small whatever peers send). The zero value is ready to use.
type byCode struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (b *byCode) add(code string) {
	b.mu.Lock()
	if b.n == nil {
		b.n = make(map[string]uint64)
	}
	b.n[code]++
	b.mu.Unlock()
}

// snapshot returns the counts sorted by code.
func (b *byCode) snapshot() []RefusalCount {
	b.mu.Lock()
	out := make([]RefusalCount, 0, len(b.n))
	for c, n := range b.n {
		out = append(out, RefusalCount{Code: c, Count: n})
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, b RefusalCount) int { return cmp.Compare(a.Code, b.Code) })
	return out
}

// RefusalCount is how many sessions or calls were refused with one code.
type RefusalCount struct {
	Code  string
	Count uint64
}
