package processors

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/runnel/runnel/internal/expr"
)

// CEL over the event tree.
//
// Expressions are compiled with the same limits as internal/expr
// (expr.MaxLength, expr.CostLimit, interrupt checks) and the same
// variables (each a dynamically typed top-level field of the event), plus a
// now() function (Options.Now). They are evaluated directly against the
// value tree, without building map[string]any: *object and *array
// implement CEL's map and list traits, the activation looks variables up in
// the event's top-level object, and string-keyed selection takes cel-go's
// FindStringKey fast path. Numbers are int (an integer literal that fits
// int64) or double (everything else).

type celEnv struct {
	env  *cel.Env
	vars []string
}

func newCELEnv(vars []string, now func() time.Time) (*celEnv, error) {
	opts := make([]cel.EnvOption, 0, len(vars)+1)
	seen := map[string]bool{}
	for _, v := range vars {
		// A field name CEL cannot declare (not an identifier, a reserved
		// word) cannot be referenced by an expression anyway.
		if !celIdent(v) || seen[v] {
			continue
		}
		seen[v] = true
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	opts = append(opts, cel.Function("now",
		cel.Overload("runnel_now", nil, cel.TimestampType,
			cel.FunctionBinding(func(...ref.Val) ref.Val { return types.Timestamp{Time: now()} }))))
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("expression environment: %w", err)
	}
	return &celEnv{env: env, vars: vars}, nil
}

// celReserved are CEL's reserved words and literals.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"false": true, "for": true, "function": true, "if": true, "import": true,
	"in": true, "let": true, "loop": true, "package": true, "namespace": true,
	"null": true, "return": true, "true": true, "var": true, "void": true, "while": true,
}

func celIdent(s string) bool {
	if s == "" || celReserved[s] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || isAlpha(c) || (i > 0 && isDigit(c))) {
			return false
		}
	}
	return true
}

// program is one compiled expression.
type program struct {
	src  string
	prg  cel.Program
	bool bool // a condition: the result must be a bool
	// cmp, when not nil, answers the condition without the interpreter
	// for the events it covers (see stringCompare).
	cmp *stringCompare
}

// compile compiles src. wantBool requires a boolean (or dyn) result. The
// error is the CEL message, fit to show to a user.
func (e *celEnv) compile(src string, wantBool bool) (*program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	if len(src) > expr.MaxLength {
		return nil, fmt.Errorf("expression longer than %d characters", expr.MaxLength)
	}
	ast, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); wantBool && t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("expression must be true or false, it gives %s", t)
	}
	opts := []cel.ProgramOption{cel.InterruptCheckFrequency(100), cel.EvalOptions(cel.OptOptimize)}
	// The cost limit is enforced statically when it can be: if the
	// worst-case cost of the expression over any event (no value larger
	// than the largest event) is within the limit, runtime cost tracking,
	// which costs a few allocations per evaluation, is left out.
	if est, err := e.env.EstimateCost(ast, sizeBound{}); err != nil || est.Max > expr.CostLimit {
		opts = append(opts, cel.CostLimit(expr.CostLimit))
	}
	prg, err := e.env.Program(ast, opts...)
	if err != nil {
		return nil, fmt.Errorf("expression: %w", err)
	}
	return &program{src: src, prg: prg, bool: wantBool, cmp: newStringCompare(ast.NativeRep(), e.vars)}, nil
}

// stringCompare is a condition of the form `a.b.c == "lit"` or
// `a.b.c != "lit"` (either operand order), where a is a declared variable
// and b, c, ... are plain field selections (none is fine too: `a == "x"`). When every step of the path
// is an object holding the key and the value at the end is a string, the
// result is plain string (in)equality: exactly what the interpreter
// computes there (the activation resolves a to the top-level field, a
// selection on an *object is object.get, a string value is a
// types.String, and equality of two types.String compares their bytes),
// without the interpreter's frame, attribute and interface calls. Every
// other event (a missing key, a value of another type, an array on the
// way) goes through the interpreter, so errors and the equality of mixed
// types stay CEL's.
type stringCompare struct {
	segs []string // the variable, then the selected fields
	lit  string
	ne   bool // != rather than ==
}

// newStringCompare recognizes a checked AST of the stringCompare shape;
// nil otherwise.
func newStringCompare(a *celast.AST, vars []string) *stringCompare {
	if a == nil || !a.IsChecked() {
		return nil
	}
	e := a.Expr()
	if e.Kind() != celast.CallKind {
		return nil
	}
	call := e.AsCall()
	fc := &stringCompare{}
	overload := "equals"
	switch call.FunctionName() {
	case "_==_":
	case "_!=_":
		fc.ne, overload = true, "not_equals"
	default:
		return nil
	}
	if call.IsMemberFunction() || len(call.Args()) != 2 {
		return nil
	}
	refs := a.ReferenceMap()
	if r, ok := refs[e.ID()]; !ok || r.Value != nil || len(r.OverloadIDs) != 1 || r.OverloadIDs[0] != overload {
		return nil
	}
	lhs, rhs := call.Args()[0], call.Args()[1]
	if lhs.Kind() == celast.LiteralKind {
		lhs, rhs = rhs, lhs
	}
	if rhs.Kind() != celast.LiteralKind {
		return nil
	}
	lit, ok := rhs.AsLiteral().(types.String)
	if !ok {
		return nil
	}
	fc.lit = string(lit)
	// lhs: a chain of plain selections down to an identifier.
	var rev []string
	for lhs.Kind() == celast.SelectKind {
		sel := lhs.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		if _, ok := refs[lhs.ID()]; ok { // resolved as a qualified name
			return nil
		}
		rev = append(rev, sel.FieldName())
		lhs = sel.Operand()
	}
	if lhs.Kind() != celast.IdentKind {
		return nil
	}
	name := lhs.AsIdent()
	if r, ok := refs[lhs.ID()]; !ok || r.Name != name || r.Value != nil || !slices.Contains(vars, name) {
		return nil
	}
	fc.segs = append(fc.segs, name)
	for i := len(rev) - 1; i >= 0; i-- {
		fc.segs = append(fc.segs, rev[i])
	}
	return fc
}

// eval answers the condition on root; ok is false when the interpreter
// must.
func (fc *stringCompare) eval(root *object) (result, ok bool) {
	v := root.get(fc.segs[0])
	for _, k := range fc.segs[1:] {
		if v == nil || v.kind != kObject {
			return false, false
		}
		v = v.obj().get(k)
	}
	if v == nil || v.kind != kString {
		return false, false
	}
	return (v.s == fc.lit) != fc.ne, true
}

// maxEventSize bounds the size of any value in an event (the hard cap of
// an ingest body).
const maxEventSize = 16 << 20

// sizeBound is the cost estimator's view of event values: any size up to
// maxEventSize.
type sizeBound struct{}

func (sizeBound) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: maxEventSize}
}

func (sizeBound) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// eval runs the program over the event.
func (p *program) eval(ctx context.Context, act *activation) (ref.Val, error) {
	var out ref.Val
	var err error
	if ctx.Done() == nil {
		out, _, err = p.prg.Eval(act)
	} else {
		out, _, err = p.prg.ContextEval(ctx, act)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// match runs a condition.
func (p *program) match(ctx context.Context, act *activation) (bool, error) {
	if p.cmp != nil {
		if r, ok := p.cmp.eval(act.root); ok {
			return r, nil
		}
	}
	out, err := p.eval(ctx, act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression gave %s, not true or false", celString(out))
	}
	return bool(b), nil
}

func celString(v ref.Val) string {
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprint(v.Value())
}

// activation binds the declared variables to the event's top-level
// fields; a missing field is null (as in internal/expr).
type activation struct {
	root *object
	vars []string
}

func (a *activation) ResolveName(name string) (any, bool) {
	if v := a.root.get(name); v != nil {
		return toCEL(v), true
	}
	for _, d := range a.vars {
		if d == name {
			return types.NullValue, true
		}
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// toCEL converts a tree value to a CEL value; objects and arrays are not
// copied.
func toCEL(v *value) ref.Val {
	switch v.kind {
	case kString:
		return types.String(v.s)
	case kNumber:
		return numberToCEL(v.s)
	case kTrue:
		return types.True
	case kFalse:
		return types.False
	case kObject:
		return v.obj()
	case kArray:
		return v.arr()
	}
	return types.NullValue
}

func numberToCEL(lit string) ref.Val {
	if isIntegerLiteral(lit) {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return types.Int(n)
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return types.NewErr("invalid number %q", lit)
	}
	return types.Double(f)
}

// fromCEL converts an expression result to a tree value (copying
// containers). Timestamps and durations become their CEL string forms,
// bytes base64; maps not from the event are written with sorted keys.
func fromCEL(v ref.Val, depth int) (value, error) {
	if depth > 100 {
		return value{}, errors.New("expression result nested too deeply")
	}
	switch x := v.(type) {
	case types.Null:
		return nullValue, nil
	case types.Bool:
		return boolValue(bool(x)), nil
	case types.Int:
		return intValue(int64(x)), nil
	case types.Uint:
		return numValue(strconv.FormatUint(uint64(x), 10)), nil
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return value{}, fmt.Errorf("expression gave %v, which JSON cannot represent", f)
		}
		return numValue(formatFloat(f)), nil
	case types.String:
		return strValue(string(x)), nil
	case types.Bytes:
		return strValue(base64.StdEncoding.EncodeToString(x)), nil
	case types.Timestamp, types.Duration:
		s, ok := x.ConvertToType(types.StringType).(types.String)
		if !ok {
			return value{}, fmt.Errorf("expression gave %s", celString(v))
		}
		return strValue(string(s)), nil
	case *object:
		return objValue(x).clone(), nil
	case *array:
		return arrValue(x).clone(), nil
	case *types.Err:
		return value{}, x
	case *types.Unknown:
		return value{}, errors.New("expression result is unknown")
	case *types.Optional:
		if !x.HasValue() {
			return nullValue, nil
		}
		return fromCEL(x.GetValue(), depth+1)
	case traits.Mapper:
		type kv struct {
			k string
			v ref.Val
		}
		var kvs []kv
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			var ks string
			if s, ok := k.(types.String); ok {
				ks = string(s)
			} else if s, ok := k.ConvertToType(types.StringType).(types.String); ok {
				ks = string(s)
			} else {
				return value{}, fmt.Errorf("expression gave a map key %s that is not a string", celString(k))
			}
			val, _ := x.Find(k)
			kvs = append(kvs, kv{ks, val})
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
		o := &object{m: make([]member, 0, len(kvs))}
		for _, e := range kvs {
			cv, err := fromCEL(e.v, depth+1)
			if err != nil {
				return value{}, err
			}
			o.set(e.k, cv)
		}
		return objValue(o), nil
	case traits.Lister:
		n, _ := x.Size().(types.Int)
		a := &array{v: make([]value, 0, int(n))}
		it := x.Iterator()
		for it.HasNext() == types.True {
			cv, err := fromCEL(it.Next(), depth+1)
			if err != nil {
				return value{}, err
			}
			a.v = append(a.v, cv)
		}
		return arrValue(a), nil
	}
	return value{}, fmt.Errorf("expression gave a %s, which cannot be stored in an event", v.Type().TypeName())
}

// toCELNative converts a value to Go values CEL's default adapter knows
// (map[string]any, []any, int64, float64, ...), for the slow paths.
func toCELNative(v *value) any {
	switch v.kind {
	case kObject:
		m := make(map[string]any, len(v.obj().m))
		for i := range v.obj().m {
			m[v.obj().m[i].key] = toCELNative(&v.obj().m[i].val)
		}
		return m
	case kArray:
		l := make([]any, len(v.arr().v))
		for i := range v.arr().v {
			l[i] = toCELNative(&v.arr().v[i])
		}
		return l
	}
	return toCEL(v).Value()
}

// --- *object: a CEL map with string keys ---

var (
	_ traits.Mapper = (*object)(nil)
	_ traits.Lister = (*array)(nil)
)

// FindStringKey is cel-go's fast path for field selection.
func (o *object) FindStringKey(key string) (any, bool) {
	if v := o.get(key); v != nil {
		return toCEL(v), true
	}
	return nil, false
}

func (o *object) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if _, isErr := key.(*types.Err); isErr {
			return key, false
		}
		return nil, false
	}
	if v := o.get(string(k)); v != nil {
		return toCEL(v), true
	}
	return nil, false
}

func (o *object) Contains(key ref.Val) ref.Val {
	_, found := o.Find(key)
	return types.Bool(found)
}

func (o *object) Get(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

func (o *object) Size() ref.Val { return types.Int(len(o.m)) }

func (o *object) IsZeroValue() bool { return len(o.m) == 0 }

func (o *object) Iterator() traits.Iterator {
	return &keyIterator{o: o}
}

func (o *object) ConvertToNative(t reflect.Type) (any, error) {
	v := objValue(o)
	return types.DefaultTypeAdapter.NativeToValue(toCELNative(&v)).ConvertToNative(t)
}

func (o *object) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return o
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, t)
}

func (o *object) Equal(other ref.Val) ref.Val {
	om, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if om.Size() != o.Size() {
		return types.False
	}
	for i := range o.m {
		ov, found := om.Find(types.String(o.m[i].key))
		if !found {
			return types.False
		}
		if types.Equal(toCEL(&o.m[i].val), ov) != types.True {
			return types.False
		}
	}
	return types.True
}

func (o *object) Type() ref.Type { return types.MapType }

func (o *object) Value() any {
	v := objValue(o)
	return toCELNative(&v)
}

func (o *object) String() string {
	return string(appendObject(nil, o))
}

type keyIterator struct {
	iterBase
	o *object
	i int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.o.m)) }

func (it *keyIterator) Next() ref.Val {
	if it.i >= len(it.o.m) {
		return nil
	}
	k := it.o.m[it.i].key
	it.i++
	return types.String(k)
}

// iterBase is the ref.Val part of an iterator (never used as a value).
type iterBase struct{}

func (iterBase) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("type conversion on iterators not supported")
}
func (iterBase) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (iterBase) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (iterBase) Type() ref.Type                 { return types.IteratorType }
func (iterBase) Value() any                     { return nil }

// --- *array: a CEL list ---

func (a *array) Get(index ref.Val) ref.Val {
	i, err := types.GetOrError(index)
	if err != nil {
		return types.ValOrErr(index, "%v", err)
	}
	if i < 0 || i >= len(a.v) {
		return types.NewErr("index '%d' out of range in list size '%d'", i, len(a.v))
	}
	return toCEL(&a.v[i])
}

func (a *array) Contains(elem ref.Val) ref.Val {
	for i := range a.v {
		if elem.Equal(toCEL(&a.v[i])) == types.True {
			return types.True
		}
	}
	return types.False
}

func (a *array) Add(other ref.Val) ref.Val {
	ol, ok := other.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	elems := make([]ref.Val, 0, len(a.v))
	for i := range a.v {
		elems = append(elems, toCEL(&a.v[i]))
	}
	for it := ol.Iterator(); it.HasNext() == types.True; {
		elems = append(elems, it.Next())
	}
	return types.NewRefValList(types.DefaultTypeAdapter, elems)
}

func (a *array) Size() ref.Val { return types.Int(len(a.v)) }

func (a *array) IsZeroValue() bool { return len(a.v) == 0 }

func (a *array) Iterator() traits.Iterator { return &elemIterator{a: a} }

func (a *array) ConvertToNative(t reflect.Type) (any, error) {
	v := arrValue(a)
	return types.DefaultTypeAdapter.NativeToValue(toCELNative(&v)).ConvertToNative(t)
}

func (a *array) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.ListType:
		return a
	case types.TypeType:
		return types.ListType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.ListType, t)
}

func (a *array) Equal(other ref.Val) ref.Val {
	ol, ok := other.(traits.Lister)
	if !ok {
		return types.False
	}
	if ol.Size() != a.Size() {
		return types.False
	}
	for i := range a.v {
		if types.Equal(toCEL(&a.v[i]), ol.Get(types.Int(i))) != types.True {
			return types.False
		}
	}
	return types.True
}

func (a *array) Type() ref.Type { return types.ListType }

func (a *array) Value() any {
	v := arrValue(a)
	return toCELNative(&v)
}

func (a *array) String() string { return string(appendValue(nil, arrValue(a))) }

type elemIterator struct {
	iterBase
	a *array
	i int
}

func (it *elemIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.a.v)) }

func (it *elemIterator) Next() ref.Val {
	if it.i >= len(it.a.v) {
		return nil
	}
	v := toCEL(&it.a.v[it.i])
	it.i++
	return v
}
