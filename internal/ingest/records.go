package ingest

import (
	"bytes"
	"errors"
	"sync"

	"github.com/runnel/runnel/internal/accesslog"
	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/catalog"
	"github.com/runnel/runnel/internal/ingest/decode"
	"github.com/runnel/runnel/internal/model"
)

// Native ingest by data source (SPEC §4 data_source; docs/ingest.md,
// "Streams of a catalog data source").
//
// A custom stream takes events in the native envelope (decode.Envelope).
// A stream of a catalog data source stores its events flat: the record's
// top-level keys are the catalog's variables (remote_addr, status, …),
// which is what its templates, presets, processors and routes read. So
// the native dialect takes, per data source:
//
//   - edge_applications, edge_functions, waf_events: records, as
//     application/json (one object or an array) or NDJSON. A record is any
//     JSON object (decode.Records: syntax, depth, UTF-8 as for envelopes);
//     no key is required and values are stored as sent, not checked
//     against the catalog's types. A record that is not an object is a 400
//     naming its index.
//   - edge_applications also: text/plain, one access-log line per line,
//     parsed with the stream's log_format (default combined) by package
//     accesslog into records with the catalog's names and types. A line
//     whose first non-blank byte is '{' is a JSON record instead (unless
//     the log_format itself starts with '{', as nginx escape=json formats
//     do: then every line is parsed with it). Blank lines are skipped. One
//     bad line rejects the request, naming the line (1-based) and the
//     column. Content-Type parameters (charset, …) are ignored: the
//     stream's log_format is the only format, compiled once and cached.
//   - activity_history: nothing. Its events are the workspace's own
//     management activity, which Runnel produces; ingest is refused with
//     400 invalid_format before the body is read.
//
// The other dialects (collection, events v2, HEC, _bulk, OTLP) do not
// look at the data source: they store their own shapes (the collection
// envelope, HEC/bulk/OTLP envelopes) in any stream but activity_history's
// like in a custom one, so catalog variables read from them are absent.
//
// A record made of an access-log line is longer than the line (its keys
// are written out), so the frame of a text/plain body can outgrow its
// body: it is refused with 400 payload_too_large past maxLinesFrame.

// formatLines is the body format of text/plain (access-log lines), beside
// decode.FormatJSON and decode.FormatNDJSON; only this file handles it.
const formatLines decode.Format = 100

// maxLinesFrame bounds the frame made of access-log lines: the largest
// bus message less room for headers.
const maxLinesFrame = bus.MaxMessage - 64<<10

// hasCatalog reports whether streams of data source ds store flat records.
func hasCatalog(ds string) bool {
	return ds == catalog.EdgeApplications || ds == catalog.EdgeFunctions || ds == catalog.WAFEvents
}

// checkDataSource refuses, before the body is read, what the stream's data
// source cannot take: any ingest into activity_history, text/plain into
// anything but edge_applications.
func checkDataSource(st *model.Stream, format decode.Format) *rejection {
	switch {
	case st.DataSource == catalog.ActivityHistory:
		return reject(apierr.InvalidFormat, "stream %s is of data source activity_history: it receives the workspace's own management activity and takes no ingest", quoteClient(st.Name))
	case format == formatLines && st.DataSource != catalog.EdgeApplications:
		ds := st.DataSource
		if ds == "" {
			ds = catalog.Custom
		}
		return reject(apierr.InvalidFormat, "Content-Type text/plain (access-log lines) is accepted only by streams of data source %s; stream %s is of data source %s: send %s",
			catalog.EdgeApplications, quoteClient(st.Name), ds, nativeTypes)
	}
	return nil
}

// decodeNative validates body into the frame body, appended to
// (*frame)[:0]: envelopes for a custom stream, records for a stream of a
// catalog data source, access-log lines for text/plain. The caller stores
// the result in *frame, so that a buffer grown here goes back to the pool.
func (h *Handler) decodeNative(frame *[]byte, body []byte, format decode.Format, st *model.Stream) ([]byte, int, *rejection) {
	var out []byte
	var n int
	var err error
	switch {
	case format == formatLines:
		return h.decodeLines(frame, body, st)
	case hasCatalog(st.DataSource):
		out, n, err = decode.Records((*frame)[:0], body, format, decode.Limits{MaxDepth: MaxDepth})
	default:
		out, n, err = decode.Envelope((*frame)[:0], body, format, decode.Limits{MaxDepth: MaxDepth})
	}
	if err != nil {
		return out, 0, reject(apierr.InvalidFormat, "%s", decodeDetail(err))
	}
	return out, n, nil
}

// decodeLines turns a text/plain body of access-log lines (and JSON
// records) into a frame body.
func (h *Handler) decodeLines(frame *[]byte, body []byte, st *model.Stream) ([]byte, int, *rejection) {
	f, err := logFormat(st.LogFormat)
	if err != nil {
		return (*frame)[:0], 0, reject(apierr.InvalidFormat, "stream %s has an invalid log_format, so it cannot take access-log lines: %v; correct the stream's log_format", quoteClient(st.Name), err)
	}
	// Records are about twice as long as their lines: start with room
	// for that, from the pool (the smaller buffer goes back).
	if want := min(2*len(body)+len(body)/2, maxLinesFrame+1); cap(*frame) < want {
		nb := h.bufs.get(want)
		*frame, *nb = *nb, *frame
		h.bufs.put(nb)
	}
	jsonLines := len(f.String()) == 0 || f.String()[0] != '{'
	lim := decode.Limits{MaxDepth: MaxDepth}
	dst := (*frame)[:0]
	n, lineNo := 0, 0
	for start := 0; start < len(body); {
		lineNo++
		end := len(body)
		if k := bytes.IndexByte(body[start:], '\n'); k >= 0 {
			end = start + k
		}
		line := body[start:end]
		start = end + 1
		line = bytes.TrimSuffix(line, []byte{'\r'})
		t := bytes.TrimLeft(line, " \t")
		if len(t) == 0 {
			continue // blank line
		}
		if n > 0 {
			dst = append(dst, '\n')
		}
		if jsonLines && t[0] == '{' {
			t = bytes.TrimRight(t, " \t")
			if err := decode.Valid(t, lim); err != nil {
				return dst[:0], 0, reject(apierr.InvalidFormat, "line %d: a JSON record, but %s", lineNo, decodeDetail(err))
			}
			dst = append(dst, t...)
		} else if dst, err = f.AppendJSON(dst, line); err != nil {
			return dst[:0], 0, lineError(lineNo, err, st)
		}
		n++
		if len(dst) > maxLinesFrame {
			return dst[:0], 0, reject(apierr.PayloadTooLarge,
				"the records made of the first %d access-log lines already exceed %d bytes, the most one request can store; send fewer lines per request", n, maxLinesFrame)
		}
	}
	if n == 0 {
		return dst[:0], 0, reject(apierr.InvalidFormat, "no events: the body holds no access-log lines")
	}
	return dst, n, nil
}

// lineError is the 400 of a line that does not fit the log_format.
func lineError(lineNo int, err error, st *model.Stream) *rejection {
	var pe *accesslog.ParseError
	if !errors.As(err, &pe) {
		return reject(apierr.InvalidFormat, "line %d: %v", lineNo, err)
	}
	lf := "combined"
	if st.LogFormat != "" {
		lf = quoteClient(st.LogFormat)
	}
	return reject(apierr.InvalidFormat, "line %d: %v (the stream's log_format is %s)", lineNo, pe, lf)
}

// logFormats caches compiled log_formats by their text: a stream's
// format is compiled once, not per request. Streams are few; the cache is
// emptied if it ever holds maxLogFormats.
var logFormats struct {
	sync.RWMutex
	m map[string]*accesslog.Format
}

const maxLogFormats = 1024

func logFormat(src string) (*accesslog.Format, error) {
	logFormats.RLock()
	f := logFormats.m[src]
	logFormats.RUnlock()
	if f != nil {
		return f, nil
	}
	f, err := accesslog.Compile(src)
	if err != nil {
		return nil, err
	}
	logFormats.Lock()
	if logFormats.m == nil || len(logFormats.m) >= maxLogFormats {
		logFormats.m = map[string]*accesslog.Format{}
	}
	logFormats.m[src] = f
	logFormats.Unlock()
	return f, nil
}
