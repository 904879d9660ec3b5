package bench

import "testing"

func TestMiddle(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{0.7}, 0.7},
		{[]float64{0.9, 0.3, 0.6}, 0.6},
		{[]float64{0.8, 0.2, 0.4, 0.6}, 0.5},
	} {
		if got := middle(tc.xs); got != tc.want {
			t.Errorf("middle(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestSpread(t *testing.T) {
	m, r := spread([]float64{0.031, 0.012, 0.0504})
	if m != 0.031 || r != (Spread{0.012, 0.05}) {
		t.Errorf("spread = %v, %v; want 0.031, [0.012 0.05]", m, r)
	}
	if m, r := spread(nil); m != 0 || r != (Spread{}) {
		t.Errorf("spread(nil) = %v, %v; want zeros", m, r)
	}
	xs := []float64{3, 1, 2}
	spread(xs)
	if xs[0] != 3 {
		t.Error("spread reordered its input")
	}
}
