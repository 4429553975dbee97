package processors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/runnel/runnel/internal/expr"
	"github.com/runnel/runnel/internal/model"
)

// MaxProcessors bounds the length of a stream's processor list.
const MaxProcessors = 256

// Options are the per-stream inputs of Compile.
type Options struct {
	// Salt is prepended to a value before hashing (mask method hash).
	Salt []byte
	// Vars are the CEL variables: the event's top-level fields. Default
	// expr.DefaultVars.
	Vars []string
	// LookupDir is where enrich lookup CSV files and GeoIP databases are
	// read from. Paths in settings are relative to it and may not leave it.
	// Empty: enrich lookup and geoip are rejected.
	LookupDir string
	// Now is the clock of the CEL function now(). Default time.Now.
	Now func() time.Time
	// Rand is the source of random (unkeyed) sampling. Default: the
	// math/rand/v2 global generator. A source given here is used under a
	// mutex; tests pass a seeded one.
	Rand rand.Source
	// Routes are destination routes (CEL conditions) evaluated on each
	// kept event after the processors; Result.Routed(i) answers for
	// Routes[i]. At most MaxRoutes.
	Routes []Route

	// Hosts, when not empty, keeps only the events whose host matches one
	// of them (SPEC §4 domains list): "a.example.com", or "*.example.com"
	// for every subdomain. The others are dropped as filtered before the
	// processors run.
	Hosts []string
	// HostPaths are where an event's host is read, the first holding a
	// string wins (default DefaultHostPaths).
	HostPaths []string
	// SamplingPercent is the share of events the stream keeps (SPEC §4
	// domains.sampling_percent), decided before the processors; 0 means
	// 100.
	SamplingPercent float64
}

// Route is one destination's condition.
type Route struct {
	// Path names the condition in errors, e.g. destinations[1].route.
	Path string
	// Expr is the CEL condition; empty means every event.
	Expr string
}

// MaxRoutes bounds Options.Routes.
const MaxRoutes = 64

// RouteError is a route condition's runtime failure on one event: that
// destination does not get the event and should dead-letter it with the
// error; other destinations are not affected.
type RouteError struct {
	Index int // in Options.Routes
	Err   error
}

func (e *RouteError) Error() string { return fmt.Sprintf("routes[%d]: %v", e.Index, e.Err) }

func (e *RouteError) Unwrap() error { return e.Err }

// Action is what happens to an event after the chain.
type Action uint8

const (
	Keep Action = iota
	Drop
)

func (a Action) String() string {
	if a == Drop {
		return "drop"
	}
	return "keep"
}

// Reason says why an event was dropped.
type Reason string

const (
	ReasonFiltered   Reason = "filtered"    // a filter's condition was false
	ReasonSampledOut Reason = "sampled_out" // a sample processor did not pick it
)

// Result is the outcome of one event.
type Result struct {
	Action Action
	Reason Reason // set when Action is Drop
	// Processor is the index of the processor that dropped the event or
	// failed on it; -1 otherwise.
	Processor int
	// Masked is how many values mask processors changed.
	Masked int
	// ParseErrors is how many parse processors failed on the event (with
	// on_error: skip the event goes on; otherwise Apply returns an error).
	ParseErrors int
	// Modified is whether any processor changed the event.
	Modified bool
	// routed has bit i set when Routes[i] selects the kept event.
	routed uint64
	// RouteErr joins a *RouteError for every route that failed on the
	// event (those routes are not selected); nil normally.
	RouteErr error
}

// Routed reports whether Options.Routes[i] selects the event (a kept
// event; a route without an expression selects every kept event).
func (r Result) Routed(i int) bool {
	return r.Action == Keep && i >= 0 && i < 64 && r.routed&(1<<i) != 0
}

// Error is a processor's failure on one event; the caller dead-letters the
// event with it.
type Error struct {
	Index int    // position in the processor list
	Name  string // processor name (parse, set, ...)
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("processors[%d] (%s): %v", e.Index, e.Name, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrInvalidEvent is returned (wrapped) by ApplyJSON when the event is not a
// valid JSON object.
var ErrInvalidEvent = errors.New("processors: event is not a valid JSON object")

// ProcessorStats are one processor's counters since Compile.
type ProcessorStats struct {
	Name  string
	Index int
	// Processed is how many events reached this processor.
	Processed uint64
	// Dropped is how many events it dropped: filtered for a filter,
	// sampled_out for a sample.
	Dropped uint64
	// Errors is how many events it failed on (dead-lettered).
	Errors uint64
	// ParseErrors is how many events a parse processor could not parse,
	// skipped (on_error: skip) or not.
	ParseErrors uint64
	// Masked is how many values a mask processor changed.
	Masked uint64
}

// DropReason is the reason this processor's drops are counted under, or
// "" for processors that never drop.
func (s ProcessorStats) DropReason() Reason {
	switch s.Name {
	case "filter":
		return ReasonFiltered
	case "sample":
		return ReasonSampledOut
	}
	return ""
}

// outcome of one processor on one event.
type outcome uint8

const (
	pass outcome = iota
	filtered
	sampledOut
)

// processor is one compiled entry of the list.
type processor interface {
	apply(st *state) (outcome, error)
}

// Chain is a compiled processor list; immutable and safe for concurrent
// use. A nil or empty Chain keeps every event unchanged.
type Chain struct {
	procs     []processor
	routes    []*program // nil entry: no condition
	names     []string
	vars      []string
	shards    []shard
	nextShard atomic.Uint32 // for new states
	pool      sync.Pool
	// mask hashing
	salt []byte
	// random sampling
	rand func() uint64
	seed uint64 // from the salt: keyed draws (ApplyRenderKey)
	// stream-level stages (stream.go)
	hosts    *hostFilter
	sampling uint64 // out of 10000
}

// counters of one processor in one shard, padded to a cache line.
type counters struct {
	dropped, errors, parseErrors, masked atomic.Uint64
	_                                    [32]byte
}

// shard is one stripe of the counters; each pooled state uses one, so that
// concurrent callers rarely share a cache line.
type shard struct {
	entered        atomic.Uint64
	domainFiltered atomic.Uint64
	sampledOut     atomic.Uint64
	_              [40]byte
	procs          []counters
	routes         []routeCounters
}

type routeCounters struct {
	selected, away, errors atomic.Uint64
	_                      [40]byte
}

// RouteStats are one route's counters since Compile (kept events only).
type RouteStats struct {
	Index      int
	Selected   uint64 // events the route selected
	RoutedAway uint64 // events it did not select
	Errors     uint64 // events it failed on
}

// state is the per-call scratch: pooled per chain.
type state struct {
	ctx      context.Context
	chain    *Chain
	root     *object
	act      activation
	arena    arena
	res      Result
	sh       *shard
	cur      int
	buf      []byte // masking scratch
	buf2     []byte
	matches  []span
	modified bool
	key      uint64 // ApplyRenderKey's key
	keyed    bool
}

func (st *state) countMasked(n int) {
	if n > 0 {
		st.res.Masked += n
		st.sh.procs[st.cur].masked.Add(uint64(n))
		st.modified = true
	}
}

func (st *state) countParseError() {
	st.res.ParseErrors++
	st.sh.procs[st.cur].parseErrors.Add(1)
}

// Compile compiles a stream's `processors` value (a JSON array of one-key
// objects). An empty or null value gives an empty chain. Errors name the
// setting, e.g. processors[2].mask.method, and carry the CEL message for
// expressions.
func Compile(raw json.RawMessage, opts Options) (*Chain, model.FieldErrors) {
	var errs model.FieldErrors
	if opts.Vars == nil {
		opts.Vars = expr.DefaultVars
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Chain{vars: opts.Vars, salt: bytes.Clone(opts.Salt), sampling: 10000}
	c.seed = mix64(fnv1a(string(opts.Salt)))
	if len(opts.Hosts) > 0 {
		f, err := newHostFilter(opts.Hosts, opts.HostPaths)
		if err != nil {
			errs.Add("domains.list", "%v", err)
		}
		c.hosts = f
	}
	if pct := opts.SamplingPercent; pct != 0 {
		t, ok := percentThreshold(pct)
		if !ok || t == 0 {
			errs.Add("domains.sampling_percent", "must be more than 0 and at most 100, with at most two decimals (%v)", pct)
		}
		c.sampling = t
	}
	if src := opts.Rand; src != nil {
		var mu sync.Mutex
		c.rand = func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			return src.Uint64()
		}
	} else {
		c.rand = rand.Uint64
	}
	raw = bytes.TrimSpace(raw)
	var entries []json.RawMessage
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &entries); err != nil {
			errs.Add("processors", "must be a list of processors")
			return nil, errs
		}
	}
	if len(entries) > MaxProcessors {
		errs.Add("processors", "at most %d processors", MaxProcessors)
		return nil, errs
	}
	cc := &compiler{opts: opts, errs: &errs}
	for i, e := range entries {
		at := fmt.Sprintf("processors[%d]", i)
		name, settingsRaw, ok := oneKey(e)
		if !ok {
			errs.Add(at, "must be an object with exactly one key, the processor's name (one of %s)", strings.Join(processorNames, ", "))
			continue
		}
		build, known := builders[name]
		if !known {
			errs.Add(at, "unknown processor %q (one of %s)", name, strings.Join(processorNames, ", "))
			continue
		}
		n := len(errs)
		s := newSettings(at+"."+name, settingsRaw, &errs)
		if s == nil {
			continue
		}
		p := build(cc, s)
		if len(errs) > n || p == nil {
			continue
		}
		c.procs = append(c.procs, p)
		c.names = append(c.names, name)
	}
	if len(opts.Routes) > MaxRoutes {
		errs.Add("routes", "at most %d routes", MaxRoutes)
	} else {
		for i, r := range opts.Routes {
			at := r.Path
			if at == "" {
				at = fmt.Sprintf("routes[%d]", i)
			}
			if strings.TrimSpace(r.Expr) == "" {
				c.routes = append(c.routes, nil)
				continue
			}
			if cc.env == nil {
				env, err := newCELEnv(cc.opts.Vars, cc.opts.Now)
				if err != nil {
					errs.Add(at, "%v", err)
					continue
				}
				cc.env = env
			}
			p, err := cc.env.compile(r.Expr, true)
			if err != nil {
				errs.Add(at, "%v", err)
				continue
			}
			c.routes = append(c.routes, p)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	nshards := 1
	for nshards < 2*runtime.GOMAXPROCS(0) && nshards < 64 {
		nshards *= 2
	}
	c.shards = make([]shard, nshards)
	for i := range c.shards {
		c.shards[i].procs = make([]counters, len(c.procs))
		c.shards[i].routes = make([]routeCounters, len(c.routes))
	}
	c.pool.New = func() any {
		// Each state keeps one shard: the pool hands states out per P,
		// so concurrent callers rarely share a shard, without drawing a
		// random number per call.
		i := c.nextShard.Add(1)
		return &state{chain: c, sh: &c.shards[i&uint32(len(c.shards)-1)]}
	}
	return c, nil
}

// oneKey splits {"name": settings}.
func oneKey(raw json.RawMessage) (string, json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 {
		return "", nil, false
	}
	keys, err := objectKeys(raw)
	if err != nil || len(keys) != 1 {
		return "", nil, false
	}
	return keys[0], m[keys[0]], true
}

// compiler carries what builders need.
type compiler struct {
	opts Options
	errs *model.FieldErrors
	env  *celEnv
}

// cel compiles an expression setting, recording the CEL message at the
// setting's path.
func (cc *compiler) cel(s *settings, key string, wantBool bool) *program {
	src, ok := s.str(key, true)
	if !ok {
		return nil
	}
	if cc.env == nil {
		env, err := newCELEnv(cc.opts.Vars, cc.opts.Now)
		if err != nil {
			s.fail(key, "%v", err)
			return nil
		}
		cc.env = env
	}
	p, err := cc.env.compile(src, wantBool)
	if err != nil {
		s.fail(key, "%v", err)
		return nil
	}
	return p
}

type builder func(cc *compiler, s *settings) processor

var builders map[string]builder

var processorNames = []string{"parse", "set", "rename", "remove", "keep", "enrich", "mask", "filter", "sample"}

func init() {
	builders = map[string]builder{
		"parse":  buildParse,
		"set":    buildSet,
		"rename": buildRename,
		"remove": buildRemove,
		"keep":   buildKeep,
		"enrich": buildEnrich,
		"mask":   buildMask,
		"filter": buildFilter,
		"sample": buildSample,
	}
}

// RouteStats returns every route's counters.
func (c *Chain) RouteStats() []RouteStats {
	if c == nil {
		return nil
	}
	out := make([]RouteStats, len(c.routes))
	for i := range out {
		out[i].Index = i
		for si := range c.shards {
			rc := &c.shards[si].routes[i]
			out[i].Selected += rc.selected.Load()
			out[i].RoutedAway += rc.away.Load()
			out[i].Errors += rc.errors.Load()
		}
	}
	return out
}

// Len is the number of processors.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.procs)
}

// Names lists the processors' names in order.
func (c *Chain) Names() []string {
	if c == nil {
		return nil
	}
	return append([]string(nil), c.names...)
}

// Stats returns every processor's counters.
func (c *Chain) Stats() []ProcessorStats {
	if c == nil {
		return nil
	}
	out := make([]ProcessorStats, len(c.procs))
	for i := range out {
		out[i] = ProcessorStats{Name: c.names[i], Index: i}
	}
	// Read the per-processor counters before `entered`: every drop or error
	// seen was entered before, so Processed never goes negative.
	for si := range c.shards {
		sh := &c.shards[si]
		for i := range sh.procs {
			pc := &sh.procs[i]
			out[i].Dropped += pc.dropped.Load()
			out[i].Errors += pc.errors.Load()
			out[i].ParseErrors += pc.parseErrors.Load()
			out[i].Masked += pc.masked.Load()
		}
	}
	var entered uint64
	for si := range c.shards {
		entered += c.shards[si].entered.Load()
	}
	for i := range out {
		out[i].Processed = entered
		entered -= min(entered, out[i].Dropped+out[i].Errors)
	}
	return out
}

func (c *Chain) getState(ctx context.Context) *state {
	st := c.pool.Get().(*state)
	st.ctx = ctx
	st.res = Result{Processor: -1}
	st.modified = false
	st.keyed = false
	st.act.vars = c.vars
	return st
}

func (c *Chain) putState(st *state) {
	st.ctx = nil
	st.root = nil
	st.act.root = nil
	st.arena.reset()
	clear(st.matches)
	st.matches = st.matches[:0]
	if cap(st.buf) > 64<<10 {
		st.buf = nil
	}
	if cap(st.buf2) > 64<<10 {
		st.buf2 = nil
	}
	c.pool.Put(st)
}

// decodeEvent decodes a stored event into st's arena.
func (c *Chain) decodeEvent(st *state, event []byte) (*object, error) {
	// Nothing made during the call outlives it: the output is copied into
	// dst, errors format what they quote. So the tree's strings may point
	// into event itself and into the arena.
	st.arena.ephemeral = true
	var data string
	if len(event) > 0 {
		data = unsafe.String(&event[0], len(event))
	}
	v, err := decodeJSON(data, &st.arena)
	if err == nil && v.kind != kObject {
		err = errors.New("not an object")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return v.obj(), nil
}

// run applies every processor to st.root.
func (c *Chain) run(st *state) (Result, error) {
	st.act.root = st.root
	if !c.stages(st) {
		return st.res, nil
	}
	st.sh.entered.Add(1)
	for i, p := range c.procs {
		st.cur = i
		out, err := p.apply(st)
		if err != nil {
			st.sh.procs[i].errors.Add(1)
			st.res.Action = Drop
			st.res.Processor = i
			st.res.Modified = st.modified
			return st.res, &Error{Index: i, Name: c.names[i], Err: err}
		}
		if out != pass {
			st.sh.procs[i].dropped.Add(1)
			st.res.Action = Drop
			st.res.Processor = i
			st.res.Reason = ReasonFiltered
			if out == sampledOut {
				st.res.Reason = ReasonSampledOut
			}
			st.res.Modified = st.modified
			return st.res, nil
		}
	}
	st.res.Modified = st.modified
	c.route(st)
	return st.res, nil
}

// route evaluates the destination routes on a kept event.
func (c *Chain) route(st *state) {
	var errs []error
	for i, p := range c.routes {
		rc := &st.sh.routes[i]
		if p == nil {
			st.res.routed |= 1 << i
			rc.selected.Add(1)
			continue
		}
		ok, err := p.match(st.ctx, &st.act)
		switch {
		case err != nil:
			rc.errors.Add(1)
			errs = append(errs, &RouteError{Index: i, Err: err})
		case ok:
			st.res.routed |= 1 << i
			rc.selected.Add(1)
		default:
			rc.away.Add(1)
		}
	}
	if errs != nil {
		st.res.RouteErr = errors.Join(errs...)
	}
}

// Apply runs the chain over a decoded event. Numbers may be json.Number
// (as from a json.Decoder with UseNumber), float64 or any Go integer type;
// other values are converted through encoding/json. On Keep, ev is
// rewritten in place with the processed event: nested objects are new
// maps (the caller's nested maps are never modified) and numbers are
// json.Number, so integers round-trip exactly. On Drop or error ev is left
// as it was. An error means this event failed (an *Error naming the
// processor); the caller dead-letters it with the error.
//
// ApplyJSON is the fast path; Apply converts ev to the chain's internal
// tree and back.
func (c *Chain) Apply(ctx context.Context, ev map[string]any) (Result, error) {
	if c.empty() {
		return Result{Processor: -1}, nil
	}
	st := c.getState(ctx)
	defer c.putState(st)
	st.arena.ephemeral = false // the strings end up in ev
	root, err := objectFromNative(ev, 0)
	if err != nil {
		return Result{Processor: -1, Action: Drop}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	st.root = root
	res, err := c.run(st)
	if err != nil || res.Action == Drop || !res.Modified {
		return res, err
	}
	clear(ev)
	for i := range st.root.m {
		ev[st.root.m[i].key] = toNative(&st.root.m[i].val)
	}
	return res, nil
}

// ApplyJSON runs the chain over one event given as a JSON object and, when
// the event is kept, appends the processed event to dst as compact JSON
// with the keys in their original order (keys a processor adds come after
// the existing ones, in the order added). When no processor changed the
// event the input is appended as given. On Drop or error dst is returned
// unchanged. Errors are as for Apply, plus ErrInvalidEvent (wrapped) for
// input that is not a JSON object. ApplyJSON neither modifies nor retains
// event; it must not be modified during the call.
func (c *Chain) ApplyJSON(ctx context.Context, dst, event []byte) ([]byte, Result, error) {
	return c.applyJSON(ctx, dst, event, 0, false)
}

func (c *Chain) applyJSON(ctx context.Context, dst, event []byte, key uint64, keyed bool) ([]byte, Result, error) {
	if c.empty() {
		return append(dst, event...), Result{Processor: -1}, nil
	}
	st := c.getState(ctx)
	defer c.putState(st)
	st.key, st.keyed = key, keyed
	root, err := c.decodeEvent(st, event)
	if err != nil {
		return dst, Result{Processor: -1, Action: Drop}, err
	}
	st.root = root
	res, err := c.run(st)
	if err != nil || res.Action == Drop {
		return dst, res, err
	}
	if !res.Modified {
		return append(dst, event...), res, nil
	}
	return appendObject(dst, st.root), res, nil
}
