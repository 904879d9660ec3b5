//go:build linux

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
