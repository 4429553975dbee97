package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram is a lock-free log-linear latency histogram in the spirit of
// HdrHistogram: values (nanoseconds) below 128 have a bucket each; above,
// every power of two is split into 64 sub-buckets, so a bucket is at most
// 1/64 (≈1.6 %) of its value wide. Any number of goroutines may record
// while another takes snapshots.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	subBits     = 6 // 64 sub-buckets per power of two
	subCount    = 1 << subBits
	histBuckets = subCount*(64-subBits-1) + 2*subCount
)

// bucketOf maps a non-negative value to its bucket index.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	s := bits.Len64(u) - (subBits + 1)
	if s < 0 {
		s = 0
	}
	return subCount*s + int(u>>uint(s))
}

// bucketRange is the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*subCount {
		return int64(i), int64(i)
	}
	s := i/subCount - 1
	m := int64(i - subCount*s)
	lo = m << uint(s)
	return lo, lo + (int64(1) << uint(s)) - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// snapshot copies the counts; max is the largest value recorded so far.
func (h *histogram) snapshot() histSnapshot {
	var s histSnapshot
	for i := range h.counts {
		s.counts[i] = h.counts[i].Load()
	}
	s.max = h.max.Load()
	return s
}

type histSnapshot struct {
	counts [histBuckets]uint64
	max    int64 // exact maximum when known, 0 otherwise
}

// sub returns the values recorded since prev (max is not known for an
// interval and is left 0; callers track the interval maximum themselves).
func (s *histSnapshot) sub(prev *histSnapshot) histSnapshot {
	var d histSnapshot
	for i := range s.counts {
		d.counts[i] = s.counts[i] - prev.counts[i]
	}
	return d
}

func (s *histSnapshot) total() uint64 {
	var n uint64
	for _, c := range s.counts {
		n += c
	}
	return n
}

// quantile returns the value at quantile q (0 < q ≤ 1): the highest value
// of the bucket holding the ceil(q·n)-th smallest value, capped at the
// exact maximum when one is known. 0 for an empty histogram.
func (s *histSnapshot) quantile(q float64) time.Duration {
	n := s.total()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			_, hi := bucketRange(i)
			if s.max > 0 && hi > s.max {
				hi = s.max
			}
			return time.Duration(hi)
		}
	}
	return time.Duration(s.max)
}
