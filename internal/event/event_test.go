package event

import (
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	f := &Frame{Workspace: "w", Stream: "str_1", Count: 2, Received: time.UnixMilli(1700000000123), OnlyDest: "d",
		Body: []byte("{\"a\":1}\n{\"b\":2}")}
	m := Message("runnel.ev.str_1", f, "key-1")
	if m.Header.Get(HdrMsgID) != "key-1" {
		t.Fatalf("msg id header missing")
	}
	got := Parse(m.Header, m.Data)
	if got.Workspace != "w" || got.Stream != "str_1" || got.Count != 2 || !got.Received.Equal(f.Received) || got.OnlyDest != "d" {
		t.Fatalf("round trip: %+v", got)
	}
	evs := Split(got.Body)
	if len(evs) != 2 || string(evs[0]) != `{"a":1}` || string(evs[1]) != `{"b":2}` {
		t.Fatalf("split: %q", evs)
	}
}

func TestEachSkipsEmptyLinesAndStops(t *testing.T) {
	var idx []int
	Each([]byte("\n{}\n\n{}\n{}\n"), func(i int, ev []byte) bool {
		idx = append(idx, i)
		return i < 1
	})
	if len(idx) != 2 || idx[0] != 0 || idx[1] != 1 {
		t.Fatalf("indexes %v", idx)
	}
}
