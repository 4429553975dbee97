package processors

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// Stream-level stages run before the processors: the domain filter (SPEC §4
// domains: an event of a host not listed is filtered) and the stream's
// sampling_percent. Their drops have Result.Processor -1 and are counted
// by StageStats, not by a processor.

// DefaultHostPaths is where an event's host is read when Options.HostPaths
// is empty.
var DefaultHostPaths = []string{"host"}

// StageStats are the counters of the stream-level stages since Compile.
type StageStats struct {
	// DomainFiltered counts events whose host is not in Options.Hosts.
	DomainFiltered uint64
	// SampledOut counts events the stream's sampling_percent left out.
	SampledOut uint64
}

// hostFilter matches an event's host against the listed patterns.
type hostFilter struct {
	paths  []path
	exact  []string // lower case
	suffix []string // ".example.com" for "*.example.com", lower case
}

func newHostFilter(hosts, paths []string) (*hostFilter, error) {
	if len(paths) == 0 {
		paths = DefaultHostPaths
	}
	f := &hostFilter{}
	for _, p := range paths {
		pp, err := parsePath(p)
		if err != nil {
			return nil, fmt.Errorf("host path %q: %w", p, err)
		}
		f.paths = append(f.paths, pp)
	}
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if h == "" {
			return nil, fmt.Errorf("empty host")
		}
		if s, ok := strings.CutPrefix(h, "*"); ok {
			if !strings.HasPrefix(s, ".") || len(s) < 2 {
				return nil, fmt.Errorf("host %q: a wildcard must be a whole leading label (*.example.com)", h)
			}
			f.suffix = append(f.suffix, s)
			continue
		}
		if strings.Contains(h, "*") {
			return nil, fmt.Errorf("host %q: a wildcard must be a whole leading label (*.example.com)", h)
		}
		f.exact = append(f.exact, h)
	}
	return f, nil
}

// match reports whether the event's host (the first of the paths holding
// a string) is listed. Case and a port are ignored, as is a trailing dot.
func (f *hostFilter) match(root *object) bool {
	for _, p := range f.paths {
		v := lookup(root, p)
		if v == nil || v.kind != kString {
			continue
		}
		return f.matchHost(hostOnly(v.s))
	}
	return false
}

func (f *hostFilter) matchHost(h string) bool {
	if h == "" {
		return false
	}
	for _, e := range f.exact {
		if strings.EqualFold(h, e) {
			return true
		}
	}
	for _, s := range f.suffix {
		if len(h) > len(s) && strings.EqualFold(h[len(h)-len(s):], s) {
			return true
		}
	}
	return false
}

// hostOnly strips a port ("a.example.com:8443", "[::1]:80") and a trailing
// dot from a Host value.
func hostOnly(h string) string {
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// percentThreshold turns a percentage (two decimals at most) into a
// threshold out of 10000; ok is false when it is out of range.
func percentThreshold(pct float64) (uint64, bool) {
	if math.IsNaN(pct) || pct < 0 || pct > 100 {
		return 0, false
	}
	r := math.Round(pct * 100)
	if math.Abs(r-pct*100) > 1e-6 {
		return 0, false
	}
	return uint64(r), true
}

// mix64 is the splitmix64 finalizer: it spreads a key's bits so that
// h%10000 is uniform.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// draw is the random number of an unkeyed sampling decision: derived from
// the event's key when the caller gave one (so every destination, and a
// redelivery, decides alike), else from the chain's random source. stage
// tells the decisions of one event apart (0 the stream's sampling, i+1
// processor i).
func (st *state) draw(stage int) uint64 {
	if st.keyed {
		return mix64(st.key ^ st.chain.seed ^ (uint64(stage)+1)*0x9e3779b97f4a7c15)
	}
	return st.chain.rand()
}

// stages applies the stream-level stages; false when the event is dropped
// (st.res says why).
func (c *Chain) stages(st *state) bool {
	if c.hosts != nil && !c.hosts.match(st.root) {
		st.sh.domainFiltered.Add(1)
		st.res.Action, st.res.Reason = Drop, ReasonFiltered
		return false
	}
	if c.sampling < 10000 && st.draw(0)%10000 >= c.sampling {
		st.sh.sampledOut.Add(1)
		st.res.Action, st.res.Reason = Drop, ReasonSampledOut
		return false
	}
	return true
}

// Stages reports which stream-level stages the chain has: a domain list,
// a sampling share below 100%.
func (c *Chain) Stages() (domains, sampling bool) {
	if c == nil {
		return false, false
	}
	return c.hosts != nil, c.sampling < 10000
}

// StageStats returns the counters of the stream-level stages.
func (c *Chain) StageStats() StageStats {
	var s StageStats
	if c == nil {
		return s
	}
	for i := range c.shards {
		s.DomainFiltered += c.shards[i].domainFiltered.Load()
		s.SampledOut += c.shards[i].sampledOut.Load()
	}
	return s
}

// ApplyRenderKey is ApplyRender with the event's key: a number that
// identifies this event (the same on every destination and on every
// redelivery). Unkeyed sampling — the stream's sampling_percent and a
// sample processor without a key — then decides from the key and the
// chain's Options.Salt instead of at random, so all destinations of a
// stream keep the same events.
func (c *Chain) ApplyRenderKey(ctx context.Context, dst, event []byte, key uint64, r *Renderer) ([]byte, Result, error) {
	return c.applyRender(ctx, dst, event, r, key, true)
}

// empty reports whether the chain does nothing to any event.
func (c *Chain) empty() bool {
	return c == nil || len(c.procs)+len(c.routes) == 0 && c.hosts == nil && c.sampling >= 10000
}
