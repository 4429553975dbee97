// Package template turns stored events into the records a stream delivers
// (SPEC §4 "template") and frames batches of records into destination
// payloads (SPEC §6 "payload options").
//
// # Templates
//
// A [Template] is compiled once per stream version by [Compile] and is
// immutable afterwards, so one value is shared by every deliverer goroutine.
// It has three kinds:
//
//   - variables: [timestamp, event.status] renders
//     {"timestamp":…,"event.status":…}; the output keys are the paths as
//     written.
//   - dataset: {"status":"$event.status","app":"runnel"} renders the user's
//     keys in the order written; a top-level string value starting with "$"
//     is a reference to a path, "$$" escapes a literal "$", every other value
//     (including nested objects and arrays) is a literal copied as compact
//     JSON.
//   - neither: the event is passed through as stored, byte for byte.
//
// A path missing from the event renders as null.
//
// # Paths
//
// A path is dotted: event.user.email descends into nested objects. A
// segment that is a canonical non-negative integer (0, 1, 17, not 01)
// indexes an array when the value at that point is an array and is an
// ordinary key when it is an object, so event.items.0.sku works. A backslash
// makes the next character literal, so a key that contains a dot is written
// http\.status. No other character is special: *, ?, #, |, @ and friends
// are ordinary key characters. Keys are compared after JSON unescaping, so
// "st\u0061tus" in an event matches the path segment status. When an object
// holds the same key twice the first occurrence wins (as in gjson; unlike
// encoding/json, which keeps the last).
//
// # Why a hand-written scanner and not gjson
//
// Render walks the event once with a small validating scanner, matching
// object keys against a trie built from all the template's paths at compile
// time. Compared with one gjson lookup per path this reads the event once
// instead of once per path, validates it on the way (so Render never copies
// a value out of a malformed event: its output is always valid JSON), needs
// no escaping of gjson's path metacharacters, and allocates nothing:
// values are copied straight from the event into dst. The validator accepts
// exactly what encoding/json.Valid accepts, including its nesting limit of
// 10000.
//
// # Payloads
//
// A [Payload] holds a destination's payload options. Records are first
// passed through [Payload.Encode] (ascii_only escaping), then grouped by
// [Payload.Split] so that no payload exceeds max_size, and each group is
// framed by [Payload.Frame]: prefix, records joined by line_separator,
// suffix, where prefix and suffix are the parts of format around
// "$dataset".
package template
