// Package retry classifies delivery errors once, where they arise, so that
// the deliverer — the only place that retries — can decide what to do:
// Permanent errors dead-letter, After errors wait at least the given time,
// and everything else is retried with exponential backoff and jitter.
package retry

import (
	"errors"
	"math/rand/v2"
	"time"
)

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err (or an error it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

type after struct {
	d   time.Duration
	err error
}

func (a *after) Error() string { return a.err.Error() }
func (a *after) Unwrap() error { return a.err }

// After marks err as retryable no sooner than d (a Retry-After).
func After(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &after{d, err}
}

// RetryAfter returns the wait requested by an After error.
func RetryAfter(err error) (time.Duration, bool) {
	var a *after
	if errors.As(err, &a) {
		return a.d, true
	}
	return 0, false
}

// Backoff computes retry delays: Base·2^attempt, capped at Max, with full
// jitter in [d/2, d]. A Retry-After longer than that wins.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// DefaultBackoff is used by the deliverer: 500ms doubling up to 5 minutes.
var DefaultBackoff = Backoff{Base: 500 * time.Millisecond, Max: 5 * time.Minute}

// Delay returns the wait before retry number attempt (1-based) after err.
func (b Backoff) Delay(attempt int, err error) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	d = d/2 + rand.N(d/2+1)
	if ra, ok := RetryAfter(err); ok && ra > d {
		d = min(ra, time.Hour)
	}
	return d
}
