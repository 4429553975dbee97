package ingest

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/runnel/runnel/internal/apierr"
	"github.com/runnel/runnel/internal/ingest/decode"
)

// Reading a _bulk body: NDJSON lines, an action line then (for index,
// create and update) its document line. Lines end with LF or CRLF; blank
// lines between items are skipped; the last line needs no newline.

// bulkLine returns the line at pos (without its LF or CRLF) and where the
// next one starts.
func bulkLine(body []byte, pos int) (line []byte, next int) {
	rest := body[pos:]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		line, next = rest[:j], pos+j+1
	} else {
		line, next = rest, len(body)
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, next
}

func bulkMalformed(line int, format string, args ...any) *esError {
	rj := reject(apierr.InvalidFormat, "Malformed action/metadata line ["+strconv.Itoa(line)+"], "+format, args...)
	return &esError{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: rj.detail, rj: rj}
}

// bulkAction reads an action line: {"<op>":{"_index":…,"_id":…,…}}.
// Other metadata (routing, pipeline, _type, …) is accepted and ignored.
func bulkAction(line []byte, n int) (op, index, id string, e *esError) {
	i := cjWS(line, 0)
	if line[i] != '{' {
		return "", "", "", bulkMalformed(n, "expected START_OBJECT but found %s", compatKind(line[i]))
	}
	if err := decode.Valid(line, decode.Limits{MaxDepth: MaxDepth}); err != nil {
		return "", "", "", bulkMalformed(n, "it is not valid JSON: %s", decodeDetail(err))
	}
	it := cjNewObject(line, i)
	key, val, ok := it.Next()
	if !ok {
		return "", "", "", bulkMalformed(n, "expected FIELD_NAME but found [END_OBJECT]")
	}
	switch {
	case cjKeyIs(key, "index"):
		op = "index"
	case cjKeyIs(key, "create"):
		op = "create"
	case cjKeyIs(key, "update"):
		op = "update"
	case cjKeyIs(key, "delete"):
		op = "delete"
	default:
		k, _ := cjUnquote(key)
		return "", "", "", bulkMalformed(n, "expected field [create], [delete], [index] or [update] but found [%s]", k)
	}
	if val[0] != '{' {
		return "", "", "", bulkMalformed(n, "expected START_OBJECT after [%s] but found %s", op, compatKind(val[0]))
	}
	if _, _, more := it.Next(); more {
		return "", "", "", bulkMalformed(n, "expected END_OBJECT after the [%s] object but found another field", op)
	}
	meta := cjNewObject(val, 0)
	for {
		k, v, ok := meta.Next()
		if !ok {
			break
		}
		var dst *string
		name := "_index"
		switch {
		case cjKeyIs(k, "_index"):
			dst = &index
		case cjKeyIs(k, "_id"):
			dst, name = &id, "_id"
		default:
			continue
		}
		switch {
		case v[0] == '"':
			s, _ := cjUnquote(v[1 : len(v)-1])
			*dst = s
		case v[0] == '-' || '0' <= v[0] && v[0] <= '9':
			*dst = string(v)
		case string(v) == "null":
		default:
			return "", "", "", bulkMalformed(n, "the [%s] of the action must be a string, got %s", name, compatKind(v[0]))
		}
	}
	return op, index, id, nil
}

// decode reads every item of the body: stored items go into their
// group's frame, the others get their per-item error. An *esError refuses
// the whole request.
func (b *bulk) decode(body []byte) *esError {
	docLim := decode.Limits{MaxDepth: MaxDepth - 1} // the document nests one level deeper in the envelope
	received := cjAppendTime(make([]byte, 0, 40), b.base.now)
	n := 0
	for pos := 0; pos < len(body); {
		act, next := bulkLine(body, pos)
		pos = next
		n++
		if hecBlank(act) {
			continue
		}
		op, index, id, e := bulkAction(act, n)
		if e != nil {
			return e
		}
		var doc []byte
		if op != "delete" {
			if pos >= len(body) {
				return bulkMalformed(n, "the [%s] action has no document line after it", op)
			}
			doc, pos = bulkLine(body, pos)
			n++
		}
		if index == "" {
			index = b.urlIndex
		}
		name := b.name(index)
		gi := name.group
		g := b.groups[gi]
		it := bulkItem{op: op, index: index, id: id, group: gi}
		if it.index == "" && g.q.st != nil {
			it.index = g.q.st.Name
		}
		if it.id == "" {
			it.id = b.newID(len(b.items))
		}
		switch {
		case op == "update" || op == "delete":
			it.status, it.typ = http.StatusBadRequest, "illegal_argument_exception"
			it.reason = "[" + op + "] is not supported: Runnel streams are append-only; use [index] or [create]"
			b.countInvalid(g)
		case g.rj != nil:
			it.status, it.typ, it.reason = esGroupError(g.rj, it.index)
		default:
			doc = bytes.TrimRight(doc[cjWS(doc, 0):], " \t\r")
			reason, cause := bulkDocError(doc, docLim)
			if reason != "" {
				it.status, it.typ, it.reason, it.cause = http.StatusBadRequest, "mapper_parsing_exception", reason, cause
				b.countInvalid(g)
				break
			}
			b.appendDoc(g, name, &it, doc, received)
			g.raw += len(act) + len(doc) + 2
		}
		b.items = append(b.items, it)
	}
	return nil
}

// bulkDocError says why a document cannot be stored ("" when it can).
func bulkDocError(doc []byte, lim decode.Limits) (reason, cause string) {
	if len(doc) == 0 {
		return "failed to parse: the document line is empty", ""
	}
	if err := decode.Valid(doc, lim); err != nil {
		return "failed to parse", decodeDetail(err)
	}
	if doc[0] != '{' {
		return "failed to parse: the document must be a JSON object, got " + compatKind(doc[0]), ""
	}
	return "", ""
}

func (b *bulk) countInvalid(g *bulkGroup) {
	var ws, name string
	if g.q.st != nil {
		ws, name = g.q.st.Workspace, g.q.st.Name
	} else {
		ws = b.base.ws
	}
	b.h.metrics.Rejected.WithLabelValues(ws, name, apierr.InvalidFormat.Name).Inc()
}

// appendDoc appends the envelope of a stored document to its group's frame.
func (b *bulk) appendDoc(g *bulkGroup, n *bulkName, it *bulkItem, doc, received []byte) {
	if g.frame == nil {
		nl := bytes.Count((*b.body), []byte{'\n'})
		g.frame = b.h.bufs.get(len(*b.body) + (nl/2+1)*(160+3*len(it.index)))
	}
	if n.source == nil {
		n.source = cjAppendText(nil, "elasticsearch:"+it.index)
		n.meta = append(cjAppendText([]byte(`,"metadata":{"es_index":`), it.index), `,"es_op":"`...)
	}
	f := *g.frame
	f = append(f, `{"timestamp":`...)
	if ts := bulkTimestamp(doc, f); ts != nil {
		f = ts
	} else {
		f = append(f, received...)
	}
	f = append(f, `,"source":`...)
	f = append(f, n.source...)
	f = append(f, `,"event":`...)
	f = cjAppendValue(f, doc)
	f = append(f, n.meta...)
	f = append(f, it.op...)
	f = append(f, `","es_id":`...)
	f = cjAppendText(f, it.id)
	f = append(f, "}}\n"...)
	*g.frame = f
	it.seq = g.seq
	g.seq++
	g.q.events++
}

// bulkTimestamp appends the document's own time as a JSON string: its
// "@timestamp", else its "timestamp", when that is an RFC 3339 string or
// epoch milliseconds. nil: it has none.
func bulkTimestamp(doc, dst []byte) []byte {
	var at, ts []byte
	it := cjNewObject(doc, 0)
	for {
		k, v, ok := it.Next()
		if !ok {
			break
		}
		if len(k) < 9 || len(k) > 10 && bytes.IndexByte(k, '\\') < 0 {
			continue
		}
		switch {
		case at == nil && cjKeyIs(k, "@timestamp"):
			at = v
		case ts == nil && cjKeyIs(k, "timestamp"):
			ts = v
		}
	}
	for _, v := range [2][]byte{at, ts} {
		if v == nil {
			continue
		}
		if v[0] == '"' {
			raw := v[1 : len(v)-1]
			if bytes.IndexByte(raw, '\\') >= 0 {
				s, ok := cjUnquote(raw)
				if !ok {
					continue
				}
				raw = []byte(s)
			}
			var t time.Time
			if t.UnmarshalText(raw) == nil {
				return append(dst, v...)
			}
			continue
		}
		if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil && ms >= 0 && ms < cjMaxTime.UnixMilli() {
			return cjAppendTime(dst, time.UnixMilli(ms))
		}
	}
	return nil
}
