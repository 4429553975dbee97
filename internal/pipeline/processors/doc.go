// Package processors compiles and applies a stream's processor list (SPEC
// §5): parse, set, rename, remove, keep, enrich, mask, filter and sample.
//
// A list is compiled once per stream version by [Compile] into a [Chain],
// which is immutable and safe for concurrent use. Configuration errors are
// model.FieldErrors whose paths name the setting, e.g.
// processors[2].mask.method; expression errors carry the CEL message.
//
// # Applying
//
// [Chain.ApplyJSON] takes an event as stored (a JSON object) and appends
// the processed event to dst; [Chain.Apply] works on a decoded
// map[string]any. Both return a [Result]: Keep, or Drop with a reason
// (filtered, sampled_out), plus per-event counts (masked values, parse
// errors). An error means a processor failed on this event (an [*Error]
// naming it); the caller dead-letters the event with it. Every drop,
// error, parse error and masked value is also counted per processor
// ([Chain.Stats]).
//
// # Representation
//
// Processors do not work on map[string]any: ApplyJSON decodes the event
// with a hand-written decoder into a lean tree (value/object/array) whose
// objects keep their members in order in slices, whose numbers keep their
// literal text (so 12345678901234567890 and 1.50 come out exactly as they
// went in), and whose strings are substrings of one copy of the input when
// they have no escapes. Objects and member slices come from a per-call
// arena that is pooled, so a warm chain decodes an event with a couple of
// allocations. CEL expressions are evaluated directly on the tree: objects
// and arrays implement CEL's map and list traits, so no map is built per
// event; a condition comparing a field with a string literal
// (event.status != "declined") is answered without the interpreter when
// the field holds a string, and by the interpreter otherwise. Output is
// compact JSON with keys in their original order (keys
// a processor adds come after, in the order added); when no processor
// changed the event ApplyJSON returns the input as given.
//
// When an object repeats a key the first occurrence wins, as in the
// template package, so a stream renders the same with and without
// processors. Invalid UTF-8 in strings becomes U+FFFD, as with
// json.Unmarshal.
//
// # Paths and expressions
//
// Paths are the template package's dotted paths: event.user.email,
// numeric segments index arrays (event.items.0.sku), a backslash escapes a
// dot. Expressions are CEL with the stream's top-level fields as dynamic
// variables (Options.Vars, default expr.DefaultVars), compiled with
// internal/expr's length and cost limits, plus now(). Numbers are int when
// their literal is an integer that fits int64, double otherwise.
package processors
