package ingest

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/runnel/runnel/internal/apierr"
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
// index and id are the decoded values (they alias line when they have no
// escapes).
func bulkAction(line []byte, n int) (op string, index, id []byte, e *esError) {
	i := cjWS(line, 0)
	if line[i] != '{' {
		return "", nil, nil, bulkMalformed(n, "expected START_OBJECT but found %s", compatKind(line[i]))
	}
	sc := cjScan{b: line, maxDepth: MaxDepth}
	var members [2]cjMember
	end, ms := sc.topObject(i, members[:0])
	if end >= 0 && cjWS(line, end) < len(line) {
		end = sc.unexpected(cjWS(line, end), "after top-level value")
	}
	if end < 0 {
		return "", nil, nil, bulkMalformed(n, "it is not valid JSON: %s", sc.err)
	}
	if len(ms) == 0 {
		return "", nil, nil, bulkMalformed(n, "expected FIELD_NAME but found [END_OBJECT]")
	}
	key, val := ms[0].key, ms[0].val
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
		return "", nil, nil, bulkMalformed(n, "expected field [create], [delete], [index] or [update] but found [%s]", k)
	}
	if val[0] != '{' {
		return "", nil, nil, bulkMalformed(n, "expected START_OBJECT after [%s] but found %s", op, compatKind(val[0]))
	}
	if len(ms) > 1 {
		return "", nil, nil, bulkMalformed(n, "expected END_OBJECT after the [%s] object but found another field", op)
	}
	meta := cjNewObject(val, 0)
	for {
		k, v, ok := meta.Next()
		if !ok {
			break
		}
		var dst *[]byte
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
			raw := v[1 : len(v)-1]
			if bytes.IndexByte(raw, '\\') >= 0 {
				s, _ := cjUnquote(raw)
				raw = []byte(s)
			}
			*dst = raw
		case v[0] == '-' || '0' <= v[0] && v[0] <= '9':
			*dst = v
		case string(v) == "null":
		default:
			return "", nil, nil, bulkMalformed(n, "the [%s] of the action must be a string, got %s", name, compatKind(v[0]))
		}
	}
	return op, index, id, nil
}

// decode reads every item of the body: stored items go into their
// group's frame, the others get their per-item error. An *esError refuses
// the whole request.
func (b *bulk) decode(body []byte) *esError {
	var recv [40]byte
	received := cjAppendTime(recv[:0], b.base.now)
	if nl := bytes.Count(body, []byte{'\n'}); cap(b.items) < nl/2+1 {
		b.items = make([]bulkItem, 0, nl/2+1)
		b.ids = make([]byte, 0, 20*(nl/2+1))
	}
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
		if len(index) == 0 {
			index = []byte(b.urlIndex)
		}
		ni := b.name(index)
		gi := b.names[ni].group
		g := &b.groups[gi]
		it := bulkItem{op: op, name: ni, id: id, group: gi}
		if len(it.id) == 0 {
			it.id = b.newID(len(b.items))
		}
		switch {
		case op == "update" || op == "delete":
			it.status, it.typ = http.StatusBadRequest, "illegal_argument_exception"
			it.reason = "[" + op + "] is not supported: Runnel streams are append-only; use [index] or [create]"
			b.countInvalid(g)
		case g.rj != nil:
			it.status, it.typ, it.reason = esGroupError(g.rj, b.names[ni].display)
		default:
			doc = bytes.TrimRight(doc[cjWS(doc, 0):], " \t\r")
			reason, cause := b.scanDoc(doc)
			if reason != "" {
				it.status, it.typ, it.reason, it.cause = http.StatusBadRequest, "mapper_parsing_exception", reason, cause
				b.countInvalid(g)
				break
			}
			if len(g.q.st.Schema) != 0 { // schema.go
				if it.status, it.typ, it.reason = b.checkSchema(g, doc); it.status != 0 {
					b.countInvalid(g)
					break
				}
			}
			b.appendDoc(g, &b.names[ni], &it, doc, received)
			g.raw += len(act) + len(doc) + 2
		}
		b.items = append(b.items, it)
	}
	return nil
}

// scanDoc validates a document (an object, nesting at most MaxDepth-1
// levels: it is stored one level deeper, as the event) and keeps its
// top-level members in b.members. It says why a document cannot be stored
// ("" when it can).
func (b *bulk) scanDoc(doc []byte) (reason, cause string) {
	if len(doc) == 0 {
		return "failed to parse: the document line is empty", ""
	}
	if doc[0] != '{' {
		if ok, why := cjValid(doc, MaxDepth-1); !ok {
			return "failed to parse", why
		}
		return "failed to parse: the document must be a JSON object, got " + compatKind(doc[0]), ""
	}
	sc := cjScan{b: doc, maxDepth: MaxDepth - 1}
	end, ms := sc.topObject(0, b.members[:0])
	b.members = ms
	if end >= 0 && end < len(doc) {
		end = sc.unexpected(end, "after top-level value")
	}
	if end < 0 {
		return "failed to parse", sc.err
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
		g.frame = b.h.bufs.get(len(*b.body) + (nl/2+1)*(160+3*len(n.display)))
	}
	if n.source == nil {
		n.source = cjAppendText(nil, "elasticsearch:"+n.display)
		n.meta = append(cjAppendText([]byte(`,"metadata":{"es_index":`), n.display), `,"es_op":"`...)
	}
	f := *g.frame
	f = append(f, `{"timestamp":`...)
	if ts := bulkTimestamp(b.members, f); ts != nil {
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
	f = cjAppendEscaped(f, it.id)
	f = append(f, "}}\n"...)
	*g.frame = f
	it.seq = g.seq
	g.seq++
	g.q.events++
}

// bulkTimestamp appends the document's own time (from its top-level
// members) as a JSON string: its "@timestamp", else its "timestamp", when
// that is an RFC 3339 string or epoch milliseconds. nil: it has none.
func bulkTimestamp(members []cjMember, dst []byte) []byte {
	var at, ts []byte
	for _, m := range members {
		k := m.key
		if len(k) < 9 || len(k) > 10 && bytes.IndexByte(k, '\\') < 0 {
			continue
		}
		switch {
		case at == nil && cjKeyIs(k, "@timestamp"):
			at = m.val
		case ts == nil && cjKeyIs(k, "timestamp"):
			ts = m.val
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
			if cjRFC3339(raw) || t.UnmarshalText(raw) == nil {
				return append(dst, v...)
			}
			continue
		}
		if ms, ok := bulkMillis(v); ok {
			return cjAppendTime(dst, time.UnixMilli(ms))
		}
	}
	return nil
}

// bulkMillis reads epoch milliseconds: digits only, before year 10000.
func bulkMillis(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
	}
	return ms, ms < cjMaxTime.UnixMilli()
}
