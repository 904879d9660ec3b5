package bench

import (
	"math"
	"slices"
	"time"
)

// Spread is the lowest and the highest value a figure took over a run's
// repeats: the run-to-run spread printed beside its median.
type Spread [2]float64

// spread returns the median of xs and their range; zeros for none.
func spread(xs []float64) (float64, Spread) {
	if len(xs) == 0 {
		return 0, Spread{}
	}
	return round3(middle(xs)), Spread{round3(slices.Min(xs)), round3(slices.Max(xs))}
}

// middle returns the median of xs (the mean of the two middle ones for an
// even count), or 0 for none.
func middle(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// percentile returns the nearest-rank p-th percentile of sorted, which
// must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// round3 keeps three decimals, enough for every figure and readable JSON.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
