package destinationtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// IDField is the field that identifies each record the suite sends.
const IDField = "conformance_id"

// recordBody is the part of every record after its id: text that needs
// escaping, non-ASCII, nested values, a number beyond float64 precision and
// a timestamp (kinds that read one, like splunk's "time", find it).
const recordBody = `,"timestamp":"2024-05-01T12:00:00.123Z","msg":"héllo \"wörld\" ✓ 日本 <a&b> \\ / \n\ttab","nested":{"list":[1,2.5,-3e2,true,false,null],"obj":{"k":"v"}},"big":12345678901234567890`

// makeRecord returns one JSON object record with the given id, padded with
// a "pad" field to exactly size bytes when size is larger than it is.
func makeRecord(id string, size int) []byte {
	b := fmt.Appendf(nil, `{%q:%q%s`, IDField, id, recordBody)
	const padOpen, padClose = `,"pad":"`, `"}`
	if extra := size - len(b) - len(padOpen) - len(padClose); extra > 0 {
		b = append(b, padOpen...)
		for i := range extra {
			b = append(b, 'a'+byte(i%26))
		}
		return append(b, padClose...)
	}
	return append(b, '}')
}

// makeRecords returns n records with ids "<prefix>-<i>", each of at least
// (and, when large enough, exactly) size bytes.
func makeRecords(prefix string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = makeRecord(fmt.Sprintf("%s-%d", prefix, i), size)
	}
	return out
}

// idMarker is the bytes by which a record is found in what a target sees.
func idMarker(id string) []byte { return fmt.Appendf(nil, `%q:%q`, IDField, id) }

// hasID reports whether r contains the id of one of recs[idx].
func hasID(r []byte, recs [][]byte, idx []int) bool {
	for _, i := range idx {
		if bytes.Contains(r, idMarker(recordID(recs[i]))) {
			return true
		}
	}
	return false
}

// recordID returns a record's conformance id ("" when it has none).
func recordID(r []byte) string {
	var v struct {
		ID string `json:"conformance_id"`
	}
	if json.Unmarshal(r, &v) != nil {
		return ""
	}
	return v.ID
}

// sameRecord reports whether got is the record sent: equal bytes, or the
// same JSON value (numbers compared by their text).
func sameRecord(sent, got []byte) bool {
	if bytes.Equal(sent, got) {
		return true
	}
	a, errA := decodeJSON(sent)
	b, errB := decodeJSON(got)
	return errA == nil && errB == nil && reflect.DeepEqual(a, b)
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func excerpt(b []byte) string {
	const n = 120
	if len(b) > n {
		return fmt.Sprintf("%q… (%d bytes)", b[:n], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// expect checks that the target received exactly the records of groups:
// each once (at least once with dups), intact, and each group in its own
// order. Order across groups is not checked (separate Deliver calls may
// land in separately listed objects, e.g. S3).
func (s *suite) expect(dups bool, groups ...[][]byte) {
	s.t.Helper()
	sent := map[string][]byte{}
	for _, g := range groups {
		for _, r := range g {
			sent[recordID(r)] = r
		}
	}
	got := s.tg.Received(s.t)
	first := map[string]int{}
	count := map[string]int{}
	bad := 0
	for pos, r := range got {
		id := recordID(r)
		want, ok := sent[id]
		switch {
		case !ok:
			s.t.Errorf("received record %d was not sent (or lost its %q): %s", pos, IDField, excerpt(r))
			bad++
		case !sameRecord(want, r):
			s.t.Errorf("record %s arrived altered:\n got %s\nwant %s", id, excerpt(r), excerpt(want))
			bad++
		}
		if bad > 10 {
			s.t.Fatal("too many wrong records")
		}
		if _, seen := first[id]; !seen {
			first[id] = pos
		}
		count[id]++
	}
	var missing, doubled []string
	for id := range sent {
		switch c := count[id]; {
		case c == 0:
			missing = append(missing, id)
		case c > 1 && !dups:
			doubled = append(doubled, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(doubled)
	if len(missing) > 0 {
		s.t.Errorf("%d of %d records not received: %s", len(missing), len(sent), short(missing))
	}
	if len(doubled) > 0 {
		s.t.Errorf("%d records received more than once: %s", len(doubled), short(doubled))
	}
	for gi, g := range groups {
		last := -1
		for _, r := range g {
			p, ok := first[recordID(r)]
			if !ok {
				continue
			}
			if p < last {
				s.t.Errorf("batch %d arrived out of order: %s before the record sent ahead of it", gi, recordID(r))
				break
			}
			last = p
		}
	}
}

func short(ids []string) string {
	if len(ids) > 10 {
		return strings.Join(ids[:10], ", ") + ", …"
	}
	return strings.Join(ids, ", ")
}
