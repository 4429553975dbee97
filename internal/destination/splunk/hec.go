package splunk

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// HEC status codes (Splunk "Troubleshoot HTTP Event Collector": possible
// error codes). Each comes with a fixed HTTP status.
const (
	CodeSuccess              = 0  // 200
	CodeTokenDisabled        = 1  // 403
	CodeTokenRequired        = 2  // 401
	CodeInvalidAuthorization = 3  // 401
	CodeInvalidToken         = 4  // 403
	CodeNoData               = 5  // 400
	CodeInvalidDataFormat    = 6  // 400, with invalid-event-number
	CodeIncorrectIndex       = 7  // 400
	CodeInternalError        = 8  // 500
	CodeServerBusy           = 9  // 503
	CodeChannelMissing       = 10 // 400
	CodeInvalidChannel       = 11 // 400
	CodeEventRequired        = 12 // 400, with invalid-event-number
	CodeEventBlank           = 13 // 400, with invalid-event-number
	CodeACKDisabled          = 14 // 400
	CodeIndexedFields        = 15 // 400, with invalid-event-number
	CodeQueryStringAuth      = 16 // 400
	CodeHealthy              = 17 // 200 (health endpoint)
	CodeQueuesFull           = 18 // 503 (health endpoint)
	CodeAckUnavailable       = 19 // 503 (health endpoint)
	CodeQueuesFullAckUnavail = 20 // 503 (health endpoint)
)

// CodeInfo is what the destination knows about one HEC code.
type CodeInfo struct {
	Status    int    // the HTTP status Splunk answers with
	Text      string // Splunk's text
	Retryable bool
	PerEvent  bool   // names the failing event (invalid-event-number)
	Hint      string // what the user should do, "" if nothing
}

// Codes is the HEC code table. Codes not listed are classified by their
// HTTP status (408, 429 and 5xx retryable, other 4xx permanent).
var Codes = map[int]CodeInfo{
	CodeSuccess:              {200, "Success", false, false, ""},
	CodeTokenDisabled:        {403, "Token disabled", false, false, "enable the HEC token in Splunk or set api_key to an enabled one"},
	CodeTokenRequired:        {401, "Token is required", false, false, "set api_key"},
	CodeInvalidAuthorization: {401, "Invalid authorization", false, false, "api_key must be the token alone"},
	CodeInvalidToken:         {403, "Invalid token", false, false, "check api_key"},
	CodeNoData:               {400, "No data", false, false, ""},
	CodeInvalidDataFormat:    {400, "Invalid data format", false, true, ""},
	CodeIncorrectIndex:       {400, "Incorrect index", false, false, "the token may not write to the index in the url (?index=): allow it on the token or change it"},
	CodeInternalError:        {500, "Internal server error", true, false, ""},
	CodeServerBusy:           {503, "Server is busy", true, false, ""},
	CodeChannelMissing:       {400, "Data channel is missing", false, false, "the token has indexer acknowledgement enabled: disable it for this token"},
	CodeInvalidChannel:       {400, "Invalid data channel", false, false, "the token has indexer acknowledgement enabled: disable it for this token"},
	CodeEventRequired:        {400, "Event field is required", false, true, ""},
	CodeEventBlank:           {400, "Event field cannot be blank", false, true, ""},
	CodeACKDisabled:          {400, "ACK is disabled", false, false, ""},
	CodeIndexedFields:        {400, "Error in handling indexed fields", false, true, ""},
	CodeQueryStringAuth:      {400, "Query string authorization is not enabled", false, false, "remove ?token= from the url"},
	CodeHealthy:              {200, "HEC is healthy", false, false, ""},
	CodeQueuesFull:           {503, "HEC is unhealthy, queues are full", true, false, ""},
	CodeAckUnavailable:       {503, "HEC is unhealthy, ack service unavailable", true, false, ""},
	CodeQueuesFullAckUnavail: {503, "HEC is unhealthy, queues are full, ack service unavailable", true, false, ""},
}

// Response is a HEC answer: {"text":"…","code":N} with, for per-event
// errors, "invalid-event-number" (0-based, in the request), and ackId when
// indexer acknowledgement is on.
type Response struct {
	Text               string `json:"text"`
	Code               *int   `json:"code"`
	InvalidEventNumber *int   `json:"invalid-event-number,omitempty"`
	AckID              *int64 `json:"ackId,omitempty"`
}

// DecodeResponse decodes a HEC response body. A body without a numeric
// "code" is an error (not a HEC answer: a proxy's page, say).
func DecodeResponse(b []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return Response{}, fmt.Errorf("not a HEC response: %v", err)
	}
	if r.Code == nil {
		return Response{}, fmt.Errorf("not a HEC response: no code")
	}
	r.Text = clean(r.Text, 256)
	return r, nil
}

// HECError is a HEC answer other than success.
type HECError struct {
	// Status is the HTTP status.
	Status int
	// Code is the HEC code, -1 when the body was not a HEC answer.
	Code int
	// Text is Splunk's text (or the start of the body).
	Text string
	// Event is the index in the batch of the event the error names, -1
	// when it names none.
	Event     int
	retryable bool
	hint      string
}

func (e *HECError) Error() string {
	var b strings.Builder
	if e.Code >= 0 {
		fmt.Fprintf(&b, "HEC code %d", e.Code)
		if e.Text != "" {
			fmt.Fprintf(&b, " (%s)", e.Text)
		}
		fmt.Fprintf(&b, ", status %d", e.Status)
	} else {
		fmt.Fprintf(&b, "status %d", e.Status)
		if t := http.StatusText(e.Status); t != "" {
			b.WriteString(" " + t)
		}
		if e.Text != "" {
			b.WriteString(": " + e.Text)
		}
	}
	if e.Event >= 0 {
		fmt.Fprintf(&b, ", event %d of the batch", e.Event)
	}
	if e.hint != "" {
		b.WriteString(": " + e.hint)
	}
	return b.String()
}

// StatusCode is the HTTP status.
func (e *HECError) StatusCode() int { return e.Status }

// Retryable reports whether sending again can help.
func (e *HECError) Retryable() bool { return e.retryable }

// classify builds the error for an answer (status, body); r is the decoded
// body, ok false when it was not a HEC answer.
func classify(status int, r Response, ok bool, rawBody string) *HECError {
	e := &HECError{Status: status, Code: -1, Event: -1}
	if !ok {
		e.Text = rawBody
		e.retryable = statusRetryable(status)
		return e
	}
	e.Code = *r.Code
	e.Text = r.Text
	if info, known := Codes[e.Code]; known {
		e.retryable = info.Retryable
		e.hint = info.Hint
		if e.Text == "" {
			e.Text = info.Text
		}
	} else {
		e.retryable = statusRetryable(status)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.retryable = true
	}
	return e
}

func statusRetryable(s int) bool {
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
}

// clean makes s one line of at most n bytes of valid UTF-8.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
