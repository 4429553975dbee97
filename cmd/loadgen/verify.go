package main

import (
	"bytes"
	"fmt"
)

// idSet records which of loadgen's event ids came back. An id is
// "c<client%1000, 3 digits>-<sequence, idDigits digits>", and the
// sequences of a client run from 1 upwards, so a bitmap per client holds
// them compactly (10 M events: about 1.2 MB).
type idSet struct {
	seen   map[int][]uint64 // client → bit seq-1
	unique int64
	dups   int64
	noID   int64 // records without an id
}

// add notes one id.
func (s *idSet) add(client int, seq uint64) {
	if s.seen == nil {
		s.seen = map[int][]uint64{}
	}
	bits := s.seen[client]
	w, m := (seq-1)/64, uint64(1)<<((seq-1)%64)
	if w >= uint64(len(bits)) {
		bits = append(bits, make([]uint64, int(w)+1-len(bits)+len(bits)/2)...)
		s.seen[client] = bits
	}
	if bits[w]&m != 0 {
		s.dups++
		return
	}
	bits[w] |= m
	s.unique++
}

// addRecord notes the id of one record (one event, as rendered).
func (s *idSet) addRecord(rec []byte) {
	client, seq, ok := findID(rec)
	if !ok {
		s.noID++
		return
	}
	s.add(client, seq)
}

// addLines notes the ids of NDJSON records and returns how many there
// were (countLines' rules: empty lines are not records).
func (s *idSet) addLines(b []byte) int64 {
	var n int64
	for ln := range bytes.Lines(b) {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		n++
		s.addRecord(ln)
	}
	return n
}

// findID finds the first loadgen event id in a record: a JSON string
// "cDDD-DDDDDDDDDDDD".
func findID(b []byte) (client int, seq uint64, ok bool) {
	const n = 1 + 1 + 3 + 1 + idDigits + 1 // "c007-000000001234"
	for {
		i := bytes.Index(b, []byte(`"c`))
		if i < 0 {
			return 0, 0, false
		}
		b = b[i:]
		if len(b) < n {
			return 0, 0, false
		}
		if c, s, good := parseID(b[:n]); good {
			return c, s, true
		}
		b = b[1:]
	}
}

// parseID parses exactly `"cDDD-DDDDDDDDDDDD"`.
func parseID(b []byte) (client int, seq uint64, ok bool) {
	if b[0] != '"' || b[1] != 'c' || b[5] != '-' || b[len(b)-1] != '"' {
		return 0, 0, false
	}
	for _, ch := range b[2:5] {
		if ch < '0' || ch > '9' {
			return 0, 0, false
		}
		client = client*10 + int(ch-'0')
	}
	for _, ch := range b[6 : len(b)-1] {
		if ch < '0' || ch > '9' {
			return 0, 0, false
		}
		seq = seq*10 + uint64(ch-'0')
	}
	return client, seq, seq > 0
}

// verifyResult compares what came back with what was accepted.
type verifyResult struct {
	Records    int64 `json:"records"`    // read back
	Unique     int64 `json:"unique_ids"` // distinct event ids among them
	Duplicates int64 `json:"duplicates"` // records whose id came before
	WithoutID  int64 `json:"without_id"` // records without a loadgen id
	Accepted   int64 `json:"accepted"`   // events ingest acknowledged
	OK         bool  `json:"ok"`         // every accepted id once, nothing else
}

func (s *idSet) result(records, accepted int64) *verifyResult {
	return &verifyResult{
		Records: records, Unique: s.unique, Duplicates: s.dups, WithoutID: s.noID, Accepted: accepted,
		OK: s.unique == accepted && s.dups == 0 && s.noID == 0,
	}
}

func (v *verifyResult) String() string {
	verdict := "OK: every accepted event exactly once"
	if !v.OK {
		verdict = "MISMATCH"
	}
	return fmt.Sprintf("%d records read back, %d distinct ids, %d duplicates, %d without an id, %d accepted: %s",
		v.Records, v.Unique, v.Duplicates, v.WithoutID, v.Accepted, verdict)
}
