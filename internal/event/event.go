// Package event defines the frame stored in the bus: one JetStream message
// per accepted ingest request, carrying that request's validated events as
// compact JSON objects separated by '\n', with a few headers.
package event

import (
	"bytes"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Header names of a frame message.
const (
	HdrWorkspace = "Runnel-Workspace"
	HdrStream    = "Runnel-Stream"
	HdrCount     = "Runnel-Count"
	HdrReceived  = "Runnel-Received" // unix milliseconds
	HdrSource    = "Runnel-Dialect"  // which ingest dialect stored it
	// HdrOnlyDest limits a frame to one destination (dead-letter replay).
	HdrOnlyDest = "Runnel-Destination"
	// HdrMsgID is JetStream's de-duplication header (Idempotency-Key).
	HdrMsgID = nats.MsgIdHdr
)

// Frame is a decoded frame message.
type Frame struct {
	Workspace string
	Stream    string
	Count     int
	Received  time.Time
	OnlyDest  string
	Body      []byte
}

// Message builds the bus message for a frame.
func Message(subject string, f *Frame, msgID string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(HdrWorkspace, f.Workspace)
	m.Header.Set(HdrStream, f.Stream)
	m.Header.Set(HdrCount, strconv.Itoa(f.Count))
	m.Header.Set(HdrReceived, strconv.FormatInt(f.Received.UnixMilli(), 10))
	if f.OnlyDest != "" {
		m.Header.Set(HdrOnlyDest, f.OnlyDest)
	}
	if msgID != "" {
		m.Header.Set(HdrMsgID, msgID)
	}
	m.Data = f.Body
	return m
}

// Parse reads a frame from a message's headers and data. Data is not copied.
func Parse(h nats.Header, data []byte) Frame {
	f := Frame{Body: data}
	f.Workspace = h.Get(HdrWorkspace)
	f.Stream = h.Get(HdrStream)
	f.OnlyDest = h.Get(HdrOnlyDest)
	f.Count, _ = strconv.Atoi(h.Get(HdrCount))
	if ms, err := strconv.ParseInt(h.Get(HdrReceived), 10, 64); err == nil {
		f.Received = time.UnixMilli(ms)
	}
	return f
}

// Each calls fn for every event of a frame body, in order, until fn
// returns false. The slices alias body.
func Each(body []byte, fn func(i int, ev []byte) bool) {
	for i := 0; len(body) > 0; i++ {
		line := body
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			line, body = body[:j], body[j+1:]
		} else {
			body = nil
		}
		if len(line) == 0 {
			i--
			continue
		}
		if !fn(i, line) {
			return
		}
	}
}

// Split returns the events of a frame body.
func Split(body []byte) [][]byte {
	var out [][]byte
	Each(body, func(_ int, ev []byte) bool { out = append(out, ev); return true })
	return out
}
