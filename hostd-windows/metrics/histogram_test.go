package metrics

import (
	"testing"
	"time"
)

// A duration lands in the first bucket whose bound is at least it, and
// the snapshot's buckets are cumulative; past the last bound it is in
// count only.
func TestHistogramBuckets(t *testing.T) {
	h := newHistogram([]float64{0.001, 0.01, 1})
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, time.Minute} {
		h.Observe(d)
	}
	s := h.snapshot()
	want := []Bucket{{0.001, 1}, {0.01, 3}, {1, 3}}
	if s.Count != 4 || len(s.Buckets) != len(want) {
		t.Fatalf("snapshot %+v", s)
	}
	for i, b := range want {
		if s.Buckets[i] != b {
			t.Errorf("bucket %d = %+v, want %+v", i, s.Buckets[i], b)
		}
	}
	if got := s.SumSeconds; got < 60.015 || got > 60.017 {
		t.Errorf("sum %v, want 60.016", got)
	}
}

// The bounds are ascending: a histogram with them out of order would
// count wrong without a word.
func TestBucketsAscend(t *testing.T) {
	for name, bs := range map[string][]float64{"reconcile": ReconcileBuckets, "event to active": EventToActiveBuckets} {
		for i := 1; i < len(bs); i++ {
			if bs[i] <= bs[i-1] {
				t.Errorf("%s buckets not ascending at %d: %v", name, i, bs)
			}
		}
	}
}
