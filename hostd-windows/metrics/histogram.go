package metrics

import (
	"slices"
	"sync"
	"time"
)

// Bucket bounds, in seconds, chosen for what each histogram measures.
var (
	// ReconcileBuckets span a relay run (tens of microseconds) to a
	// portproxy run that starts netsh more than once (seconds).
	ReconcileBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// EventToActiveBuckets span an in-memory relay forward (a quarter of a
	// millisecond) to a slow netsh start (seconds); past 10 s something
	// failed first and a retry made the forward (+Inf).
	EventToActiveBuckets = []float64{0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Histogram counts durations in fixed buckets. Safe for concurrent use;
// the zero value is not usable: make one with newHistogram.
type Histogram struct {
	bounds []float64 // upper bounds in seconds, ascending; +Inf implied

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
}

func newHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i, _ := slices.BinarySearch(h.bounds, s) // first bound >= s
	h.mu.Lock()
	h.counts[i]++
	h.sum += s
	h.mu.Unlock()
}

// HistogramSnapshot is a histogram at one moment, in Prometheus' form.
type HistogramSnapshot struct {
	Count      uint64
	SumSeconds float64
	// Buckets are cumulative: how many durations were at most each bound.
	Buckets []Bucket
}

// Bucket is one cumulative bucket.
type Bucket struct {
	UpperBoundSeconds float64
	Count             uint64
}

func (h *Histogram) snapshot() HistogramSnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := HistogramSnapshot{SumSeconds: h.sum, Buckets: make([]Bucket, len(h.bounds))}
	for i, b := range h.bounds {
		s.Count += h.counts[i]
		s.Buckets[i] = Bucket{UpperBoundSeconds: b, Count: s.Count}
	}
	s.Count += h.counts[len(h.bounds)]
	return s
}
