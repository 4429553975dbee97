package destination

// Results collects the outcome of each record of a batch for kinds that
// split a batch into several requests or judge records one by one, and
// turns it into the Deliver error the deliverer expects.
type Results struct {
	errs   []error
	failed int
}

// NewResults is the collector of a batch of n records.
func NewResults(n int) *Results { return &Results{errs: make([]error, n)} }

// Fail records that record i failed with err (the last error wins).
func (r *Results) Fail(i int, err error) {
	if r.errs[i] == nil {
		r.failed++
	}
	r.errs[i] = err
}

// Err returns nil when every record went, the error itself when every
// record failed with the same error (a whole-request failure, so its
// status and Retry-After apply to the batch), and a *BatchError otherwise.
func (r *Results) Err() error {
	if r.failed == 0 {
		return nil
	}
	if r.failed == len(r.errs) {
		first, same := r.errs[0], true
		for _, e := range r.errs[1:] {
			if e != first {
				same = false
				break
			}
		}
		if same {
			return first
		}
	}
	be := &BatchError{Failed: make([]ItemError, 0, r.failed)}
	for i, e := range r.errs {
		if e != nil {
			be.Failed = append(be.Failed, ItemError{Index: i, Err: e})
		}
	}
	return be
}
