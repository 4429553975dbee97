package destinationtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/retry"
)

// Bounds of the suite.
const (
	deliverTimeout = 2 * time.Minute  // one Deliver of a normal batch
	probeTimeout   = 20 * time.Second // one Check or a Deliver to a dead address
	prompt         = 5 * time.Second  // how soon Deliver must return once ctx is done
	largeBytes     = 16 << 20         // limits above this need Harness.LargeBatches
	maxLargeBytes  = 256 << 20        // limits above this cannot be exercised
	bigRecordSize  = 64 << 10         // record size used to fill MaxBytes
)

// Run runs the conformance suite for h.Kind against the targets h.New
// returns. See the package documentation for what it checks.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("destinationtest: Harness.New is required")
	}
	if h.Kind.New == nil || h.Kind.Config == nil {
		t.Fatal("destinationtest: Harness.Kind must have Config and New")
	}
	if h.Deps.Logger == nil {
		h.Deps.Logger = slog.New(slog.DiscardHandler)
	}
	if h.Framer == nil {
		h.Framer = lineFramer{}
	}
	subs := []struct {
		name string
		fn   func(*suite)
	}{
		{SubDeliver, (*suite).deliver},
		{SubLimits, (*suite).limits},
		{SubTransientFailure, (*suite).transient},
		{SubPartialFailure, (*suite).partial},
		{SubPermanentRejection, (*suite).permanent},
		{SubOversizedRecord, (*suite).oversized},
		{SubCancel, (*suite).cancel},
		{SubSecrets, (*suite).secretsTest},
		{SubCheck, (*suite).check},
		{SubClose, (*suite).close},
		{SubConcurrent, (*suite).concurrent},
	}
	for _, sub := range subs {
		t.Run(sub.name, func(t *testing.T) {
			s := &suite{t: t, h: &h}
			if s.cannot(sub.name) {
				return
			}
			sub.fn(s)
		})
	}
}

// suite is the state of one sub-test.
type suite struct {
	t  *testing.T
	h  *Harness
	tg *Target
	// secrets collects every secret value seen in the settings used.
	secrets []string
}

// cannot reports (and logs) whether the harness declared key impossible.
func (s *suite) cannot(key string) bool {
	if why, ok := s.h.Cannot[key]; ok {
		s.t.Logf("skipped %s: the harness says the target cannot do it: %s", key, why)
		return true
	}
	return false
}

// need fails the sub-test when a hook is missing and no reason is given;
// it reports whether the part can run.
func (s *suite) need(present bool, key, hook string) bool {
	s.t.Helper()
	if present {
		return true
	}
	if s.cannot(key) {
		return false
	}
	s.t.Fatalf("harness: Target.%s is nil and Harness.Cannot[%q] gives no reason", hook, key)
	return false
}

// target gets a fresh target and remembers its secrets.
func (s *suite) target() *Target {
	s.t.Helper()
	tg := s.h.New(s.t)
	if tg == nil {
		s.t.Fatal("harness: New returned nil")
	}
	if tg.Settings == nil || tg.Received == nil {
		s.t.Fatal("harness: Target.Settings and Target.Received are required")
	}
	s.tg = tg
	for _, v := range tg.Secrets {
		s.addSecret(v)
	}
	s.collectSecrets(tg.Settings)
	s.collectSecrets(tg.DeadSettings)
	s.collectSecrets(tg.BadSecretSettings)
	return tg
}

func (s *suite) addSecret(v string) {
	if len(v) >= 4 && !slices.Contains(s.secrets, v) {
		s.secrets = append(s.secrets, v)
	}
}

// collectSecrets adds the string values the kind calls secret.
func (s *suite) collectSecrets(settings map[string]any) {
	if s.h.Kind.Secret == nil {
		return
	}
	for k, v := range settings {
		switch v := v.(type) {
		case string:
			if s.h.Kind.Secret(k) {
				s.addSecret(v)
			}
		case map[string]any:
			for sk, sv := range v {
				if str, ok := sv.(string); ok && s.h.Kind.Secret(k+"."+sk) {
					s.addSecret(str)
				}
			}
		case map[string]string:
			for sk, sv := range v {
				if s.h.Kind.Secret(k + "." + sk) {
					s.addSecret(sv)
				}
			}
		}
	}
}

// build decodes settings and builds a destination, closed at cleanup.
func (s *suite) build(settings map[string]any) destination.Destination {
	s.t.Helper()
	if settings == nil {
		s.t.Fatal("harness: settings are nil")
	}
	k := s.h.Kind
	c, errs := k.Decode(settings)
	if len(errs) > 0 {
		s.t.Fatalf("settings do not validate: %v", s.clean(errs.Error()))
	}
	d, err := k.New(s.t.Context(), c, s.h.Deps)
	if err != nil {
		s.checkErr("New", err, 0)
		s.t.Fatalf("New: %v", s.clean(err.Error()))
	}
	if d == nil {
		s.t.Fatal("New returned a nil destination")
	}
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			s.t.Errorf("Close at cleanup: %v", s.clean(err.Error()))
		}
	})
	return d
}

// clean replaces secrets in a message before it is logged.
func (s *suite) clean(msg string) string {
	for _, v := range s.secrets {
		msg = strings.ReplaceAll(msg, v, "[secret]")
	}
	return msg
}

// send delivers records with a timeout and checks the error's shape.
func (s *suite) send(d destination.Destination, recs [][]byte) error {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), deliverTimeout)
	defer cancel()
	err := d.Deliver(ctx, destination.Batch{Records: recs, Framer: s.h.Framer})
	s.checkErr("Deliver", err, len(recs))
	return err
}

// checkErr checks what every returned error must satisfy: no secret in
// its text (nor in any BatchError item), and a well-formed BatchError.
func (s *suite) checkErr(op string, err error, n int) {
	s.t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error()}
	var be *destination.BatchError
	if errors.As(err, &be) {
		if retry.IsPermanent(err) {
			s.t.Errorf("%s: a *BatchError must not be wrapped in retry.Permanent (mark its items instead)", op)
		}
		if len(be.Failed) == 0 {
			s.t.Errorf("%s: *BatchError with no failed records (return nil instead)", op)
		}
		seen := map[int]bool{}
		for _, it := range be.Failed {
			if it.Index < 0 || it.Index >= n {
				s.t.Errorf("%s: *BatchError index %d outside the batch of %d", op, it.Index, n)
			}
			if seen[it.Index] {
				s.t.Errorf("%s: *BatchError lists index %d twice", op, it.Index)
			}
			seen[it.Index] = true
			if it.Err == nil {
				s.t.Errorf("%s: *BatchError index %d has no error", op, it.Index)
				continue
			}
			texts = append(texts, it.Err.Error())
		}
	}
	for _, txt := range texts {
		for i, v := range s.secrets {
			if strings.Contains(txt, v) {
				s.t.Errorf("%s: error contains secret #%d: %s", op, i, s.clean(txt))
			}
		}
	}
}

// failedIdx returns the indexes a BatchError lists, sorted, and which of
// them are permanent.
func failedIdx(be *destination.BatchError) (idx []int, perm map[int]error) {
	perm = map[int]error{}
	for _, it := range be.Failed {
		idx = append(idx, it.Index)
		if retry.IsPermanent(it.Err) {
			perm[it.Index] = it.Err
		}
	}
	slices.Sort(idx)
	return idx, perm
}

func statusOf(err error) string {
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return strconv.Itoa(sc.StatusCode())
	}
	return "none"
}

// --- sub-tests ---

func (s *suite) deliver() {
	tg := s.target()
	d := s.build(tg.Settings)
	if err := s.send(d, nil); err != nil {
		s.t.Errorf("Deliver of an empty batch: %v", s.clean(err.Error()))
	}
	first := makeRecords("deliver-a", 25, 0)
	if err := s.send(d, first); err != nil {
		s.t.Fatalf("Deliver: %v", s.clean(err.Error()))
	}
	second := makeRecords("deliver-b", 3, 0)
	if err := s.send(d, second); err != nil {
		s.t.Fatalf("second Deliver: %v", s.clean(err.Error()))
	}
	s.expect(false, first, second)
}

func (s *suite) limits() {
	l := s.h.Kind.Limits
	if l.MaxEvents <= 0 && l.MaxBytes <= 0 {
		s.t.Logf("kind %s declares no per-request limits (MaxEvents, MaxBytes): nothing to split", s.h.Kind.Name)
		return
	}
	if l.MaxEvents > 0 {
		s.t.Run("MaxEvents", func(t *testing.T) {
			s := &suite{t: t, h: s.h}
			if l.MaxEvents > 200_000 {
				t.Fatalf("Limits.MaxEvents %d: more than the suite sends", l.MaxEvents)
			}
			s.overLimit(makeRecords("max-events", l.MaxEvents+1, 0), "MaxEvents", l.MaxEvents)
		})
	}
	if l.MaxBytes > 0 {
		s.t.Run("MaxBytes", func(t *testing.T) {
			s := &suite{t: t, h: s.h}
			if !s.largeOK(l.MaxBytes) {
				return
			}
			size := bigRecordSize
			if l.MaxRecord > 0 && l.MaxRecord/2 < size {
				size = max(l.MaxRecord/2, 256)
			}
			if l.MaxBytes/4 < size {
				size = max(l.MaxBytes/4, 256)
			}
			n := l.MaxBytes/size + 2
			if l.MaxEvents > 0 && n > l.MaxEvents {
				t.Logf("MaxBytes/record size needs %d records, over MaxEvents %d: the batch is over both", n, l.MaxEvents)
			}
			s.overLimit(makeRecords("max-bytes", n, size), "MaxBytes", l.MaxBytes)
		})
	}
}

// largeOK reports whether a limit of n bytes may be exercised.
func (s *suite) largeOK(n int) bool {
	s.t.Helper()
	if n <= largeBytes {
		return true
	}
	if s.h.LargeBatches && n <= maxLargeBytes {
		return true
	}
	if s.cannot(CanLargeLimits) {
		return false
	}
	s.t.Fatalf("limit of %d bytes is above %d: set Harness.LargeBatches (up to %d) or give Harness.Cannot[%q] a reason",
		n, largeBytes, maxLargeBytes, CanLargeLimits)
	return false
}

// overLimit delivers a batch over one limit: it must arrive whole, or be
// rejected permanently with an error naming the limit, sending nothing.
func (s *suite) overLimit(recs [][]byte, what string, limit int) {
	tg := s.target()
	d := s.build(tg.Settings)
	err := s.send(d, recs)
	switch {
	case err == nil:
		s.t.Logf("%s: the kind split the batch of %d records itself", what, len(recs))
		s.expect(false, recs)
	case retry.IsPermanent(err):
		if !strings.Contains(err.Error(), strconv.Itoa(limit)) {
			s.t.Errorf("%s: rejection does not name the limit %d: %v", what, limit, s.clean(err.Error()))
		}
		if got := tg.Received(s.t); len(got) != 0 {
			s.t.Errorf("%s: batch rejected but the target received %d records", what, len(got))
		}
	default:
		s.t.Errorf("%s: batch of %d records over the limit %d: want nil (split) or retry.Permanent, got %T: %v",
			what, len(recs), limit, err, s.clean(err.Error()))
	}
}

func (s *suite) transient() {
	tg := s.target()
	if !s.need(tg.FailNext != nil, SubTransientFailure, "FailNext") {
		return
	}
	d := s.build(tg.Settings)
	recs := makeRecords("transient", 10, 0)
	tg.FailNext(1)
	err := s.send(d, recs)
	if err == nil {
		s.t.Fatal("Deliver succeeded although the target failed the request")
	}
	s.t.Logf("transient failure: status %s: %v", statusOf(err), s.clean(err.Error()))
	var be *destination.BatchError
	var again [][]byte
	if errors.As(err, &be) {
		idx, perm := failedIdx(be)
		if len(perm) > 0 {
			s.t.Errorf("transient failure reported records %v as permanent", slices.Sorted(mapsKeys(perm)))
		}
		var ok [][]byte
		for i, r := range recs {
			if slices.Contains(idx, i) {
				again = append(again, r)
			} else {
				ok = append(ok, r)
			}
		}
		if err := s.send(d, again); err != nil {
			s.t.Fatalf("re-delivering the failed records: %v", s.clean(err.Error()))
		}
		s.expect(false, ok, again)
		return
	}
	if retry.IsPermanent(err) {
		s.t.Fatalf("a transient (503-like) failure is permanent: %v", s.clean(err.Error()))
	}
	// A whole-batch error may follow a partial send: at least once.
	if err := s.send(d, recs); err != nil {
		s.t.Fatalf("re-delivering the batch: %v", s.clean(err.Error()))
	}
	s.expect(true, recs)
}

func mapsKeys(m map[int]error) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (s *suite) partial() {
	tg := s.target()
	if !s.need(tg.FailRecords != nil && tg.Reject != nil, SubPartialFailure, "FailRecords or Target.Reject") {
		return
	}
	d := s.build(tg.Settings)
	recs := makeRecords("partial", 8, 0)
	transient := []int{1, 4, 6}
	permanent := []int{2}
	var armed atomic.Bool
	armed.Store(true)
	tg.FailRecords(func(r []byte) bool { return armed.Load() && hasID(r, recs, transient) })
	reason := tg.Reject(func(r []byte) bool { return hasID(r, recs, permanent) })
	err := s.send(d, recs)
	var be *destination.BatchError
	if !errors.As(err, &be) {
		s.t.Fatalf("want *destination.BatchError, got %T: %v", err, errText(s, err))
	}
	idx, perm := failedIdx(be)
	if want := []int{1, 2, 4, 6}; !slices.Equal(idx, want) {
		s.t.Errorf("failed indexes %v, want %v", idx, want)
	}
	for _, i := range transient {
		if perm[i] != nil {
			s.t.Errorf("record %d failed transiently but is reported permanent: %v", i, s.clean(perm[i].Error()))
		}
	}
	for _, i := range permanent {
		e, ok := perm[i]
		if !ok {
			s.t.Errorf("record %d was rejected permanently but is reported retryable", i)
			continue
		}
		if reason != "" && !strings.Contains(e.Error(), reason) {
			s.t.Errorf("record %d: error %q does not carry the target's reason %q", i, s.clean(e.Error()), reason)
		}
	}
	armed.Store(false)
	retryRecs := pick(recs, transient)
	if err := s.send(d, retryRecs); err != nil {
		s.t.Fatalf("re-delivering the retryable records: %v", s.clean(err.Error()))
	}
	s.expect(false, pick(recs, []int{0, 3, 5, 7}), retryRecs)
}

func errText(s *suite, err error) string {
	if err == nil {
		return "<nil>"
	}
	return s.clean(err.Error())
}

func (s *suite) permanent() {
	tg := s.target()
	if !s.need(tg.Reject != nil, SubPermanentRejection, "Reject") {
		return
	}
	d := s.build(tg.Settings)
	recs := makeRecords("rejected", 3, 0)
	reason := tg.Reject(func(r []byte) bool { return hasID(r, recs, []int{0, 1, 2}) })
	err := s.send(d, recs)
	if err == nil {
		s.t.Fatal("Deliver succeeded although the target rejected every record")
	}
	s.t.Logf("rejection: status %s: %v", statusOf(err), s.clean(err.Error()))
	var be *destination.BatchError
	switch {
	case errors.As(err, &be):
		idx, perm := failedIdx(be)
		if !slices.Equal(idx, []int{0, 1, 2}) {
			s.t.Errorf("failed indexes %v, want [0 1 2]", idx)
		}
		for i, e := range perm {
			if reason != "" && !strings.Contains(e.Error(), reason) {
				s.t.Errorf("record %d: error %q does not carry the target's reason %q", i, s.clean(e.Error()), reason)
			}
		}
		if len(perm) != len(idx) {
			s.t.Errorf("only %d of %d rejected records are permanent", len(perm), len(idx))
		}
	case retry.IsPermanent(err):
		if reason != "" && !strings.Contains(err.Error(), reason) {
			s.t.Errorf("error %q does not carry the target's reason %q", s.clean(err.Error()), reason)
		}
	default:
		s.t.Errorf("want retry.Permanent or a *BatchError of permanent items, got %T: %v", err, s.clean(err.Error()))
	}
	// The destination keeps working after a rejection.
	ok := makeRecords("after-rejection", 2, 0)
	if err := s.send(d, ok); err != nil {
		s.t.Fatalf("Deliver after a rejection: %v", s.clean(err.Error()))
	}
	s.expect(false, ok)
}

func (s *suite) oversized() {
	limit := s.h.Kind.Limits.MaxRecord
	if limit <= 0 {
		s.t.Logf("kind %s declares no record limit (Limits.MaxRecord is 0): nothing to reject", s.h.Kind.Name)
		return
	}
	if !s.largeOK(limit) {
		return
	}
	tg := s.target()
	d := s.build(tg.Settings)
	recs := makeRecords("oversized", 3, 0)
	recs[1] = makeRecord("oversized-big", limit+1)
	err := s.send(d, recs)
	var be *destination.BatchError
	if !errors.As(err, &be) {
		s.t.Fatalf("want *destination.BatchError for record 1 of %d bytes over the limit %d, got %T: %v",
			limit+1, limit, err, errText(s, err))
	}
	idx, perm := failedIdx(be)
	if !slices.Equal(idx, []int{1}) {
		s.t.Errorf("failed indexes %v, want [1]", idx)
	}
	if e, ok := perm[1]; !ok {
		s.t.Error("the oversized record is not a permanent failure")
	} else if msg := e.Error(); !strings.Contains(msg, strconv.Itoa(limit)) && !strings.Contains(msg, strconv.Itoa(limit+1)) {
		s.t.Errorf("error %q names neither the limit %d nor the record size %d", s.clean(msg), limit, limit+1)
	}
	s.expect(false, pick(recs, []int{0, 2}))
}

func (s *suite) cancel() {
	tg := s.target()
	d := s.build(tg.Settings)
	recs := makeRecords("cancel", 3, 0)

	ctx, cancel := context.WithCancel(s.t.Context())
	cancel()
	s.promptCtxErr(d, ctx, recs, context.Canceled, "already cancelled context")

	if !s.need(tg.Hang != nil, CanHang, "Hang") {
		return
	}
	release := tg.Hang()
	defer release()
	ctx, cancel = context.WithCancel(s.t.Context())
	timer := time.AfterFunc(200*time.Millisecond, cancel)
	defer timer.Stop()
	s.promptCtxErr(d, ctx, recs, context.Canceled, "context cancelled during the request")
	ctx, cancel = context.WithTimeout(s.t.Context(), 200*time.Millisecond)
	defer cancel()
	s.promptCtxErr(d, ctx, recs, context.DeadlineExceeded, "deadline during the request")
	release()

	// The destination still works once the target answers again.
	ok := makeRecords("after-cancel", 2, 0)
	if err := s.send(d, ok); err != nil {
		s.t.Fatalf("Deliver after cancellations: %v", s.clean(err.Error()))
	}
}

func (s *suite) promptCtxErr(d destination.Destination, ctx context.Context, recs [][]byte, want error, what string) {
	s.t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- d.Deliver(ctx, destination.Batch{Records: recs, Framer: s.h.Framer}) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Second + prompt):
		s.t.Fatalf("%s: Deliver did not return within %s", what, time.Second+prompt)
	}
	s.checkErr("Deliver", err, len(recs))
	switch {
	case err == nil:
		s.t.Errorf("%s: Deliver returned nil", what)
	case !errors.Is(err, want):
		s.t.Errorf("%s: error %q is not errors.Is %v", what, s.clean(err.Error()), want)
	case retry.IsPermanent(err):
		s.t.Errorf("%s: error is permanent: %v", what, s.clean(err.Error()))
	}
	if el := time.Since(start); el > prompt {
		s.t.Errorf("%s: Deliver took %s", what, el)
	}
}

func (s *suite) secretsTest() {
	tg := s.target()
	if tg.DeadSettings == nil {
		s.t.Fatal("harness: Target.DeadSettings is required")
	}
	dead := s.build(tg.DeadSettings)
	ctx, cancel := context.WithTimeout(s.t.Context(), probeTimeout)
	defer cancel()
	recs := makeRecords("secrets", 2, 0)
	err := dead.Deliver(ctx, destination.Batch{Records: recs, Framer: s.h.Framer})
	s.checkErr("Deliver to a dead address", err, len(recs))
	if err == nil {
		s.t.Error("Deliver to a dead address returned nil")
	} else if retry.IsPermanent(err) {
		s.t.Errorf("Deliver to a dead address is permanent (should be retried): %v", s.clean(err.Error()))
	}
	if c, ok := dead.(destination.Checker); ok {
		s.checkErr("Check of a dead address", c.Check(ctx), 0)
	}
	if !s.need(tg.BadSecretSettings != nil, CanBadSecret, "BadSecretSettings") {
		return
	}
	bad := s.build(tg.BadSecretSettings)
	err = bad.Deliver(ctx, destination.Batch{Records: recs, Framer: s.h.Framer})
	s.checkErr("Deliver with a wrong secret", err, len(recs))
	var be *destination.BatchError
	switch {
	case err == nil:
		s.t.Error("Deliver with a wrong secret returned nil")
	case errors.As(err, &be):
		if idx, perm := failedIdx(be); len(idx) != len(recs) || len(perm) != len(idx) {
			s.t.Errorf("wrong secret: want every record failed permanently, got %v (%d permanent)", idx, len(perm))
		}
	case !retry.IsPermanent(err):
		s.t.Errorf("Deliver with a wrong secret is not permanent: %v", s.clean(err.Error()))
	}
	if err != nil {
		s.t.Logf("wrong secret: status %s: %v", statusOf(err), s.clean(err.Error()))
	}
	if c, ok := bad.(destination.Checker); ok {
		s.checkErr("Check with a wrong secret", c.Check(ctx), 0)
	}
}

func (s *suite) check() {
	tg := s.target()
	d := s.build(tg.Settings)
	c, ok := d.(destination.Checker)
	if !s.need(ok, SubCheck, "(destination.Checker implementation)") {
		return
	}
	ctx, cancel := context.WithTimeout(s.t.Context(), probeTimeout)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		s.checkErr("Check", err, 0)
		s.t.Errorf("Check against the live target: %v", s.clean(err.Error()))
	}

	if tg.DeadSettings == nil {
		s.t.Fatal("harness: Target.DeadSettings is required")
	}
	dead := s.build(tg.DeadSettings).(destination.Checker)
	start := time.Now()
	err := dead.Check(ctx)
	s.checkErr("Check of a dead address", err, 0)
	if err == nil || strings.TrimSpace(err.Error()) == "" {
		s.t.Errorf("Check of a dead address: want a clear error, got %v", err)
	} else {
		s.t.Logf("Check of a dead address (%s): %v", time.Since(start).Round(time.Millisecond), s.clean(err.Error()))
	}

	cctx, ccancel := context.WithCancel(s.t.Context())
	ccancel()
	if err := c.Check(cctx); err == nil {
		s.t.Error("Check with a cancelled context returned nil")
	} else {
		s.checkErr("Check", err, 0)
	}

	if !s.need(tg.BadSecretSettings != nil, CanBadSecret, "BadSecretSettings") {
		return
	}
	bad := s.build(tg.BadSecretSettings).(destination.Checker)
	err = bad.Check(ctx)
	s.checkErr("Check with a wrong secret", err, 0)
	if err == nil {
		s.t.Error("Check with a wrong secret returned nil")
	} else {
		s.t.Logf("Check with a wrong secret: %v", s.clean(err.Error()))
	}
}

func (s *suite) close() {
	tg := s.target()
	ctx, cancel := context.WithTimeout(s.t.Context(), probeTimeout)
	defer cancel()
	unused := s.build(tg.Settings)
	for i := range 2 {
		if err := unused.Close(ctx); err != nil {
			s.t.Errorf("Close #%d before any Deliver: %v", i+1, s.clean(err.Error()))
		}
	}
	used := s.build(tg.Settings)
	recs := makeRecords("close", 2, 0)
	if err := s.send(used, recs); err != nil {
		s.t.Fatalf("Deliver: %v", s.clean(err.Error()))
	}
	for i := range 2 {
		if err := used.Close(ctx); err != nil {
			s.t.Errorf("Close #%d after Deliver: %v", i+1, s.clean(err.Error()))
		}
	}
	s.expect(false, recs)
}

func (s *suite) concurrent() {
	tg := s.target()
	d := s.build(tg.Settings)
	const workers, batches = 4, 3
	groups := make([][][]byte, workers*batches)
	for i := range groups {
		groups[i] = makeRecords(fmt.Sprintf("concurrent-%d", i), 5, 0)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(groups))
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				i := w*batches + b
				ctx, cancel := context.WithTimeout(s.t.Context(), deliverTimeout)
				errs[i] = d.Deliver(ctx, destination.Batch{Records: groups[i], Framer: s.h.Framer})
				cancel()
			}
		})
	}
	if c, ok := d.(destination.Checker); ok {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(s.t.Context(), probeTimeout)
			defer cancel()
			if err := c.Check(ctx); err != nil {
				s.t.Errorf("concurrent Check: %v", s.clean(err.Error()))
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		s.checkErr("Deliver", err, len(groups[i]))
		if err != nil {
			s.t.Fatalf("concurrent Deliver %d: %v", i, s.clean(err.Error()))
		}
	}
	s.expect(false, groups...)
}

func pick(recs [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = recs[j]
	}
	return out
}

// lineFramer joins records with "\n", like the default payload options.
type lineFramer struct{}

func (lineFramer) Frame(dst []byte, records [][]byte) []byte {
	for i, r := range records {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, r...)
	}
	return dst
}
