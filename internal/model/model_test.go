package model

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// paths returns the Path of each error, in order.
func paths(errs FieldErrors) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Path
	}
	return out
}

func samePaths(got FieldErrors, want []string) bool {
	p := paths(got)
	if len(p) != len(want) {
		return false
	}
	for i := range p {
		if p[i] != want[i] {
			return false
		}
	}
	return true
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		s             string
		name, wsValid bool
	}{
		{"payments", true, true},
		{"a", true, true},
		{"0", true, true},
		{"team-b_2", true, true},
		{"A-b_c.d", true, false},
		{"Team", true, false},
		{"x.", true, false},
		{"a.b", true, false},
		{strings.Repeat("a", 64), true, true},
		{strings.Repeat("a", 65), false, false},
		{"", false, false},
		{"-a", false, false},
		{"_a", false, false},
		{".a", false, false},
		{"a b", false, false},
		{"a/b", false, false},
		{"a:b", false, false},
		{"a*", false, false},
		{"é", false, false},
		{"a\n", false, false},
	} {
		if got := ValidName(tc.s); got != tc.name {
			t.Errorf("ValidName(%q) = %v, want %v", tc.s, got, tc.name)
		}
		if got := ValidWorkspaceName(tc.s); got != tc.wsValid {
			t.Errorf("ValidWorkspaceName(%q) = %v, want %v", tc.s, got, tc.wsValid)
		}
	}
	if !ValidWorkspaceName(DefaultWorkspace) {
		t.Error("the default workspace name is invalid")
	}
}

func TestNewID(t *testing.T) {
	id := NewID("str_")
	if !regexp.MustCompile(`^str_[0-9a-f]{24}$`).MatchString(id) {
		t.Errorf("NewID = %q", id)
	}
	if a, b := NewID("tok_"), NewID("tok_"); a == b {
		t.Error("NewID repeats")
	}
	in := NewInletID()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(in) || in == NewInletID() {
		t.Errorf("NewInletID = %q", in)
	}
}

func TestToken(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	tok := Token{Scopes: []string{ScopeIngest}, Streams: []string{"str_a"}}
	if !tok.Has(ScopeIngest) || tok.Has(ScopeStreamsWrite) || tok.Has(ScopeAdmin) {
		t.Error("Has without admin")
	}
	admin := Token{Scopes: []string{ScopeAdmin}}
	for _, s := range AllScopes {
		if !admin.Has(s) {
			t.Errorf("admin lacks %s", s)
		}
	}
	if !tok.AllowsStream("str_a") || tok.AllowsStream("str_b") || !admin.AllowsStream("str_b") {
		t.Error("AllowsStream")
	}
	if tok.Expired(now) {
		t.Error("a token without expiry expired")
	}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{past, true}, {now, true}, {future, false}} {
		tk := Token{ExpiresAt: &tc.at}
		if got := tk.Expired(now); got != tc.want {
			t.Errorf("expires %v: Expired(now) = %v, want %v", tc.at.Sub(now), got, tc.want)
		}
	}
	// The hash is stored but the limits are left out when zero.
	b, _ := json.Marshal(Token{ID: "tok_1", Hash: "ab"})
	if !strings.Contains(string(b), `"hash":"ab"`) || strings.Contains(string(b), "limits") || strings.Contains(string(b), "expires_at") {
		t.Errorf("Marshal = %s", b)
	}
}

func TestRateLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		r    RateLimit
		want []string
	}{
		{RateLimit{}, nil},
		{RateLimit{EventsPerSecond: 0.5, Burst: 10}, nil},
		{RateLimit{EventsPerSecond: -1}, []string{"events_per_second"}},
		{RateLimit{Burst: -1}, []string{"burst"}},
		{RateLimit{EventsPerSecond: -0.1, Burst: -5}, []string{"events_per_second", "burst"}},
	} {
		if got := tc.r.Validate(); !samePaths(got, tc.want) {
			t.Errorf("%+v: errors %v, want paths %v", tc.r, got, tc.want)
		}
	}
}

func TestTokenRequestValidate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	many := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = NewID("str_")
		}
		return s
	}
	valid := func(mod func(r *TokenRequest)) TokenRequest {
		r := TokenRequest{Name: "ci", Scopes: []string{ScopeIngest}}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		req  TokenRequest
		want []string
		msg  string // substring of the first error's message
	}{
		{"minimal", valid(nil), nil, ""},
		{"every scope", valid(func(r *TokenRequest) { r.Scopes = AllScopes }), nil, ""},
		{"name 128", valid(func(r *TokenRequest) { r.Name = strings.Repeat("n", 128) }), nil, ""},
		{"name free text", valid(func(r *TokenRequest) { r.Name = "CI token for team b / prod" }), nil, ""},
		{"1000 streams", valid(func(r *TokenRequest) { r.Streams = many(1000) }), nil, ""},
		{"expires later", valid(func(r *TokenRequest) { r.ExpiresAt = at(time.Nanosecond) }), nil, ""},
		{"limits", valid(func(r *TokenRequest) { r.Limits = RateLimit{EventsPerSecond: 100, Burst: 200} }), nil, ""},

		{"no name", valid(func(r *TokenRequest) { r.Name = "" }), []string{"name"}, "is required"},
		{"name 129", valid(func(r *TokenRequest) { r.Name = strings.Repeat("n", 129) }), []string{"name"}, "at most 128"},
		{"no scopes", valid(func(r *TokenRequest) { r.Scopes = nil }), []string{"scopes"}, "at least one scope"},
		{"empty scopes", valid(func(r *TokenRequest) { r.Scopes = []string{} }), []string{"scopes"}, "events.ingest"},
		{"unknown scope", valid(func(r *TokenRequest) { r.Scopes = []string{ScopeIngest, "events.read", ScopeAdmin, ""} }),
			[]string{"scopes[1]", "scopes[3]"}, `unknown scope "events.read"`},
		{"1001 streams", valid(func(r *TokenRequest) { r.Streams = many(1001) }), []string{"streams"}, "at most 1000"},
		{"expired", valid(func(r *TokenRequest) { r.ExpiresAt = at(-time.Hour) }), []string{"expires_at"}, "in the future"},
		{"expires now", valid(func(r *TokenRequest) { r.ExpiresAt = at(0) }), []string{"expires_at"}, "in the future"},
		{"negative limits", valid(func(r *TokenRequest) { r.Limits = RateLimit{EventsPerSecond: -1, Burst: -1} }),
			[]string{"limits.events_per_second", "limits.burst"}, "negative"},
		{"everything", TokenRequest{
			Name:      strings.Repeat("n", 200),
			Scopes:    []string{"root"},
			Streams:   many(1001),
			ExpiresAt: at(-time.Minute),
			Limits:    RateLimit{Burst: -3},
		}, []string{"name", "scopes[0]", "streams", "expires_at", "limits.burst"}, ""},
	} {
		got := tc.req.Validate(now)
		if !samePaths(got, tc.want) {
			t.Errorf("%s: errors %v, want paths %q", tc.name, got, tc.want)
			continue
		}
		if tc.msg != "" && !strings.Contains(got[0].Message, tc.msg) {
			t.Errorf("%s: message %q does not contain %q", tc.name, got[0].Message, tc.msg)
		}
	}
}

func TestTokenRequestJSON(t *testing.T) {
	var r TokenRequest
	body := `{"name":"ci","scopes":["events.ingest"],"expires_at":"2026-02-01T00:00:00Z","limits":{"events_per_second":10,"burst":20}}`
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.ExpiresAt == nil || !r.ExpiresAt.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) || r.Limits.Burst != 20 {
		t.Fatalf("decoded %+v", r)
	}
	if errs := r.Validate(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); len(errs) != 0 {
		t.Errorf("Validate: %v", errs)
	}
	if errs := r.Validate(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); !samePaths(errs, []string{"expires_at"}) {
		t.Errorf("Validate after expiry: %v", errs)
	}
}
