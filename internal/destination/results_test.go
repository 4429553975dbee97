package destination

import (
	"errors"
	"testing"
)

func TestResults(t *testing.T) {
	if err := NewResults(3).Err(); err != nil {
		t.Fatalf("nothing failed: %v", err)
	}
	whole := errors.New("503")
	r := NewResults(2)
	r.Fail(0, whole)
	r.Fail(1, whole)
	if err := r.Err(); err != whole {
		t.Fatalf("same error for every record must come back as itself, got %v", err)
	}
	r = NewResults(3)
	r.Fail(2, errors.New("a"))
	r.Fail(2, errors.New("b")) // counted once, last wins
	var be *BatchError
	if !errors.As(r.Err(), &be) || len(be.Failed) != 1 || be.Failed[0].Index != 2 || be.Failed[0].Err.Error() != "b" {
		t.Fatalf("partial failure: %v", r.Err())
	}
}
