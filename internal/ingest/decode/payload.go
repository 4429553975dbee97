package decode

import (
	"bytes"
	"encoding/json"
)

// Payload returns the raw value of the "event" member of ev, one event of
// a frame made by Envelope (a valid JSON object whose "event" key appears
// once, possibly spelled with escapes). ok is false when ev has no such
// member; on input that is not a valid JSON object it never panics, but
// the result is unspecified.
func Payload(ev []byte) (value []byte, ok bool) {
	i := skipWS(ev, 0)
	if i >= len(ev) || ev[i] != '{' {
		return nil, false
	}
	i = skipWS(ev, i+1)
	for i < len(ev) && ev[i] == '"' {
		kStart, kEnd := i, skipString(ev, i+1)
		key := ev[i+1 : max(i+1, kEnd-1)]
		i = skipWS(ev, kEnd)
		if i >= len(ev) || ev[i] != ':' {
			return nil, false
		}
		vStart := skipWS(ev, i+1)
		vEnd := skipValue(ev, vStart)
		if isEventKey(key, ev[kStart:kEnd]) {
			return ev[vStart:vEnd], true
		}
		i = skipWS(ev, vEnd)
		if i < len(ev) && ev[i] == ',' {
			i = skipWS(ev, i+1)
		}
	}
	return nil, false
}

// isEventKey reports whether a key (raw: its contents, quoted: with the
// quotes) is "event", escapes decoded.
func isEventKey(raw, quoted []byte) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == "event"
	}
	if len(raw) > 6*len("event") {
		return false
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == "event"
}

// skipValue returns the index after the JSON value starting at b[i],
// without validating it.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipString(b, i+1)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i+1) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}
