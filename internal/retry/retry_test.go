package retry

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	p := fmt.Errorf("send: %w", Permanent(base))
	if !IsPermanent(p) || !errors.Is(p, base) {
		t.Fatalf("wrapped permanent not detected")
	}
	if IsPermanent(base) || IsPermanent(nil) || Permanent(nil) != nil {
		t.Fatalf("plain error classified permanent")
	}
	a := fmt.Errorf("x: %w", After(3*time.Second, base))
	if d, ok := RetryAfter(a); !ok || d != 3*time.Second {
		t.Fatalf("RetryAfter = %v %v", d, ok)
	}
	if _, ok := RetryAfter(base); ok {
		t.Fatalf("RetryAfter on plain error")
	}
}

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt := 1; attempt < 20; attempt++ {
		want := b.Base << (attempt - 1)
		if attempt > 5 || want > b.Max {
			want = b.Max
		}
		for range 50 {
			d := b.Delay(attempt, nil)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := b.Delay(1, After(30*time.Second, errors.New("x"))); d != 30*time.Second {
		t.Fatalf("Retry-After not honoured: %v", d)
	}
}
