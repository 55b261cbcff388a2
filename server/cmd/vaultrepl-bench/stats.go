package main

import (
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of samples by the
// nearest-rank method: an observed value, never an interpolated one, so p99
// of a small run is a latency that really happened. It sorts samples in
// place and returns 0 for none.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	// rank = ceil(p/100 * n), 1-based.
	rank := int(p / 100 * float64(len(samples)))
	if float64(rank) < p/100*float64(len(samples)) {
		rank++
	}
	rank = min(max(rank, 1), len(samples))
	return samples[rank-1]
}

// ms is a duration in milliseconds for the report.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// us is a duration in microseconds for the report.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
