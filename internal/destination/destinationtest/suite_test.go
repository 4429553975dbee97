package destinationtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/destination"
	"github.com/runnel/runnel/internal/destination/destinationtest"
	"github.com/runnel/runnel/internal/model"
	"github.com/runnel/runnel/internal/retry"
)

// memTarget is an in-memory target with every fault the suite can ask for.
type memTarget struct {
	mu        sync.Mutex
	secret    string
	recs      [][]byte
	failNext  int
	transient []func([]byte) bool
	reject    []func([]byte) bool
	hang      chan struct{}
}

var (
	targetsMu sync.Mutex
	targets   = map[string]*memTarget{}
)

// memConfig names a target; flaw makes the destination misbehave.
type memConfig struct {
	Target string `json:"target"`
	Secret string `json:"secret"`
	Flaw   string `json:"flaw,omitempty"`
}

func (c *memConfig) Validate() model.FieldErrors {
	var errs model.FieldErrors
	if c.Target == "" {
		errs.Add("target", "is required")
	}
	return errs
}

type memDest struct {
	cfg memConfig
}

const memMaxRecord = 1000

func memKind() destination.Kind {
	return destination.Kind{
		Name:   "mem",
		Config: func() destination.Config { return &memConfig{} },
		New: func(_ context.Context, c destination.Config, _ destination.Deps) (destination.Destination, error) {
			return &memDest{cfg: *c.(*memConfig)}, nil
		},
		Batch:  model.Batch{MaxEvents: 10, MaxAge: model.Duration(time.Second)},
		Limits: destination.Limits{MaxEvents: 10, MaxRecord: memMaxRecord},
		Secret: func(p string) bool { return p == "secret" },
	}
}

type statusErr struct {
	code int
	msg  string
}

func (e *statusErr) Error() string   { return e.msg }
func (e *statusErr) StatusCode() int { return e.code }

func (d *memDest) target() (*memTarget, error) {
	targetsMu.Lock()
	tg := targets[d.cfg.Target]
	targetsMu.Unlock()
	if tg == nil {
		return nil, errors.New("connection refused")
	}
	return tg, nil
}

func (d *memDest) Deliver(ctx context.Context, b destination.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	tg, err := d.target()
	if err != nil {
		return err
	}
	if d.cfg.Flaw == "leak" {
		return fmt.Errorf("failed with key %s", d.cfg.Secret)
	}
	tg.mu.Lock()
	hang := tg.hang
	tg.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return fmt.Errorf("aborted: %w", ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not sent: %w", err)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if d.cfg.Secret != tg.secret {
		return retry.Permanent(&statusErr{401, "unauthorized"})
	}
	if tg.failNext > 0 {
		tg.failNext--
		return &statusErr{503, "busy"}
	}
	be := &destination.BatchError{}
	for i := 0; i < len(b.Records); i += 10 {
		chunk := b.Records[i:min(i+10, len(b.Records))]
		for k, r := range chunk {
			switch {
			case len(r) > memMaxRecord:
				be.Failed = append(be.Failed, destination.ItemError{Index: i + k,
					Err: retry.Permanent(fmt.Errorf("record of %d bytes over the %d-byte limit", len(r), memMaxRecord))})
			case slices.ContainsFunc(tg.reject, func(m func([]byte) bool) bool { return m(r) }):
				be.Failed = append(be.Failed, destination.ItemError{Index: i + k, Err: retry.Permanent(&statusErr{400, "rejected: bad_field"})})
			case slices.ContainsFunc(tg.transient, func(m func([]byte) bool) bool { return m(r) }):
				be.Failed = append(be.Failed, destination.ItemError{Index: i + k, Err: &statusErr{429, "slow down"}})
			case d.cfg.Flaw == "drop" && i+k == 1:
			default:
				tg.recs = append(tg.recs, r)
			}
		}
	}
	if len(be.Failed) > 0 {
		return be
	}
	return nil
}

func (d *memDest) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tg, err := d.target()
	if err != nil {
		return err
	}
	if d.cfg.Secret != tg.secret {
		return errors.New("unauthorized")
	}
	return nil
}

func (d *memDest) Close(context.Context) error { return nil }

func memHarness(flaw string, cannot map[string]string) destinationtest.Harness {
	return destinationtest.Harness{
		Kind:   memKind(),
		Cannot: cannot,
		New: func(t *testing.T) *destinationtest.Target {
			name := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
			tg := &memTarget{secret: "s3cr3t-value"}
			targetsMu.Lock()
			targets[name] = tg
			targetsMu.Unlock()
			set := func(target, secret string) map[string]any {
				return map[string]any{"target": target, "secret": secret, "flaw": flaw}
			}
			target := &destinationtest.Target{
				Settings: set(name, tg.secret),
				Received: func(testing.TB) [][]byte {
					tg.mu.Lock()
					defer tg.mu.Unlock()
					return slices.Clone(tg.recs)
				},
				FailNext: func(n int) { tg.mu.Lock(); tg.failNext += n; tg.mu.Unlock() },
				FailRecords: func(m func([]byte) bool) {
					tg.mu.Lock()
					tg.transient = append(tg.transient, m)
					tg.mu.Unlock()
				},
				Reject: func(m func([]byte) bool) string {
					tg.mu.Lock()
					tg.reject = append(tg.reject, m)
					tg.mu.Unlock()
					return "bad_field"
				},
				Hang: func() func() {
					tg.mu.Lock()
					tg.hang = make(chan struct{})
					ch := tg.hang
					tg.mu.Unlock()
					var once sync.Once
					return func() {
						once.Do(func() {
							tg.mu.Lock()
							close(ch)
							tg.hang = nil
							tg.mu.Unlock()
						})
					}
				},
				DeadSettings:      set("nowhere", tg.secret),
				BadSecretSettings: set(name, "wrong-secret"),
			}
			if flaw == "nohook" {
				target.FailNext = nil
			}
			return target
		},
	}
}

// TestSuitePassesCorrectKind: a kind that does everything right passes
// every sub-test, partial failures included.
func TestSuitePassesCorrectKind(t *testing.T) {
	destinationtest.Run(t, memHarness("", nil))
}

// TestSuiteCatchesFlaws runs the suite against broken kinds in a child
// process and checks that it fails, saying why.
func TestSuiteCatchesFlaws(t *testing.T) {
	if flaw := os.Getenv("DESTINATIONTEST_FLAW"); flaw != "" {
		return // the child's own copy of this test
	}
	for flaw, want := range map[string]string{
		"leak":   "error contains secret",
		"drop":   "not received",
		"nohook": `Target.FailNext is nil and Harness.Cannot["TransientFailure"] gives no reason`,
	} {
		t.Run(flaw, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawedChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "DESTINATIONTEST_FLAW="+flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a kind with flaw %q:\n%s", flaw, out)
			}
			if !strings.Contains(string(out), want) {
				t.Errorf("the suite failed without saying %q:\n%s", want, out)
			}
			if strings.Contains(string(out), "s3cr3t-value") {
				t.Errorf("the suite printed the secret:\n%s", out)
			}
		})
	}
}

func TestFlawedChild(t *testing.T) {
	flaw := os.Getenv("DESTINATIONTEST_FLAW")
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesFlaws")
	}
	destinationtest.Run(t, memHarness(flaw, nil))
}
