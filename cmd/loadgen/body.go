package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// idDigits is the width of the per-client counter in an event id
// ("c007-000000001234"): room for 10^12 events per client.
const idDigits = 12

// body is one client's request body: n NDJSON events built once. Before
// each request next() rewrites only the fixed-width id digits in place, so
// every event id is unique and increases monotonically per client while no
// JSON is encoded on the measured path.
type body struct {
	buf    []byte
	idPos  []int  // offset of each event's id digits in buf
	nextID uint64 // id of the first event of the next request
}

var (
	statuses = []string{"approved", "approved", "approved", "declined", "pending", "refunded"}
	currency = []string{"EUR", "USD", "GBP", "JPY", "CHF"}
	methods  = []string{"card", "sepa", "wallet", "bank_transfer"}
	regions  = []string{"eu-west-1", "us-east-1", "ap-northeast-1"}
	filler   = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "
)

// newBody builds client's body of n events of about size bytes each
// (without the newline; an event is never shorter than its envelope,
// 270 to 295 bytes). The content is varied but deterministic per client.
func newBody(client, n, size int) *body { return newBodyWith(client, n, size, false) }

// newPlanBody is newBody whose event.note is an escaped JSON object
// holding an e-mail address, a card number and the padding: the input of
// the benchmark plan (-template plan: parse json, mask, filter).
func newPlanBody(client, n, size int) *body { return newBodyWith(client, n, size, true) }

func newBodyWith(client, n, size int, plan bool) *body {
	rng := rand.New(rand.NewPCG(uint64(client)+1, 0x5eed))
	base := time.Date(2025, 2, 12, 14, 32, 15, 0, time.UTC)
	b := &body{idPos: make([]int, 0, n), nextID: 1}
	for i := range n {
		prefix := fmt.Sprintf(`{"timestamp":%q,"source":"loadgen-%02d","event":{"id":"c%03d-`,
			base.Add(time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"), client%100, client%1000)
		rest := fmt.Sprintf(`","status":%q,"amount":%d.%02d,"currency":%q,"user":"user_%05d","method":%q,"latency_ms":%d,"note":"`,
			statuses[rng.IntN(len(statuses))], rng.IntN(5000), rng.IntN(100), currency[rng.IntN(len(currency))],
			rng.IntN(100000), methods[rng.IntN(len(methods))], rng.IntN(900)+5)
		tail := fmt.Sprintf(`"},"metadata":{"env":"bench","team":"payments","region":%q}}`, regions[rng.IntN(len(regions))])
		if plan {
			rest += fmt.Sprintf(`{\"email\":\"user_%05d@example.com\",\"card\":\"4111 1111 1111 1111\",\"text\":\"`, rng.IntN(100000))
			tail = `\"}` + tail
		}
		pad := size - (len(prefix) + idDigits + len(rest) + len(tail))
		b.buf = append(b.buf, prefix...)
		b.idPos = append(b.idPos, len(b.buf))
		b.buf = append(b.buf, "000000000000"[:idDigits]...)
		b.buf = append(b.buf, rest...)
		off := rng.IntN(len(filler))
		for j := 0; j < pad; j++ {
			b.buf = append(b.buf, filler[(off+j)%len(filler)])
		}
		b.buf = append(b.buf, tail...)
		b.buf = append(b.buf, '\n')
	}
	return b
}

// next writes the ids of the next request into the body and returns it.
// The returned slice is valid until the following call.
func (b *body) next() []byte {
	var digits [20]byte
	for _, p := range b.idPos {
		d := strconv.AppendUint(digits[:0], b.nextID, 10)
		dst := b.buf[p : p+idDigits]
		z := idDigits - len(d)
		for i := range z {
			dst[i] = '0'
		}
		copy(dst[z:], d)
		b.nextID++
	}
	return b.buf
}

// events is the number of events in the body.
func (b *body) events() int { return len(b.idPos) }
