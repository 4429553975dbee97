package schema

import (
	"fmt"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Cost analysis of a compiled schema.
//
// Evaluating a subschema against one value of an event either applies
// more subschemas to the same value (allOf, anyOf, oneOf, not, if/then/
// else, $ref, $dynamicRef, $recursiveRef, dependentSchemas) or to its
// members and items (properties, patternProperties, additionalProperties,
// unevaluatedProperties, propertyNames; prefixItems, items, contains,
// unevaluatedItems). With C[d](s) = at most how many subschemas are
// evaluated against one value d levels below the value s is applied to:
//
//	C[0](s) = 1 + Σ C[0](same-value subschemas of s)
//	C[d](s) =     Σ C[d](same-value subschemas of s)
//	          + max(object side, array side) of s over C[d-1]
//
// where the object side is the largest "properties" entry (one property
// name matches one entry) plus every patternProperties entry (a name may
// match them all) plus additionalProperties and unevaluatedProperties, and
// the array side alike. Sums of maxima over-approximate; that is the point.
// $dynamicRef and $recursiveRef count every schema their anchor could
// resolve to.
//
// Same-value references form a graph that must be acyclic: a cycle means
// the same subschema is applied to the same value again, which the library
// reports as an error at validation time (and, being deterministic, it
// would do so for every value reaching it). Compile refuses such schemas.
//
// C[d](root) for every d up to MaxEventDepth is kept: its maximum is the
// fan-out Compile bounds by MaxFanout, and Validate sums it over an
// event's values to bound the work of one event by MaxWork.

// node is one subschema with its edges as node indexes.
type node struct {
	same      []int // subschemas applied to the same value
	propMax   []int // "properties": one of them applies to a member
	objAll    []int // patternProperties, additionalProperties, unevaluatedProperties
	propNames int   // propertyNames, -1 if none (applied to member names, depth 1 only)
	itemMax   []int // prefixItems / items array: one of them applies to an item
	arrAll    []int // items, additionalItems, contains, unevaluatedItems
	// dyn: where a $dynamicRef or $recursiveRef may resolve, one of them.
	dyn []int
}

type graph struct {
	index map[*jsonschema.Schema]int
	nodes []node
	schs  []*jsonschema.Schema
	// anchors: dynamic anchors by name; recursive: schemas with $recursiveAnchor.
	anchors   map[string][]int
	recursive []int
}

func (g *graph) id(s *jsonschema.Schema) int {
	if i, ok := g.index[s]; ok {
		return i
	}
	i := len(g.schs)
	g.index[s] = i
	g.schs = append(g.schs, s)
	g.nodes = append(g.nodes, node{propNames: -1})
	return i
}

func (g *graph) ids(list []*jsonschema.Schema) []int {
	out := make([]int, 0, len(list))
	for _, s := range list {
		if s != nil {
			out = append(out, g.id(s))
		}
	}
	return out
}

// build enumerates every subschema reachable from root.
func build(root *jsonschema.Schema) *graph {
	g := &graph{index: map[*jsonschema.Schema]int{}, anchors: map[string][]int{}}
	g.id(root)
	type dyn struct {
		i      int
		anchor string
	}
	var dynRefs []dyn
	var recRefs []int
	for i := 0; i < len(g.schs); i++ { // g.schs grows as subschemas are found
		s := g.schs[i]
		n := node{propNames: -1}
		add := func(dst *[]int, s *jsonschema.Schema) {
			if s != nil {
				*dst = append(*dst, g.id(s))
			}
		}
		add(&n.same, s.Ref)
		add(&n.same, s.Not)
		add(&n.same, s.If)
		add(&n.same, s.Then)
		add(&n.same, s.Else)
		n.same = append(n.same, g.ids(s.AllOf)...)
		n.same = append(n.same, g.ids(s.AnyOf)...)
		n.same = append(n.same, g.ids(s.OneOf)...)
		for _, d := range sortedSchemaMap(s.DependentSchemas) {
			add(&n.same, d)
		}
		for _, k := range sortedAnyKeys(s.Dependencies) {
			if d, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
				add(&n.same, d)
			}
		}
		if s.RecursiveRef != nil {
			add(&n.dyn, s.RecursiveRef)
			recRefs = append(recRefs, i)
		}
		if s.DynamicRef != nil {
			add(&n.dyn, s.DynamicRef.Ref)
			if s.DynamicRef.Anchor != "" {
				dynRefs = append(dynRefs, dyn{i, s.DynamicRef.Anchor})
			}
		}
		if s.DynamicAnchor != "" {
			g.anchors[s.DynamicAnchor] = append(g.anchors[s.DynamicAnchor], i)
		}
		if s.RecursiveAnchor {
			g.recursive = append(g.recursive, i)
		}

		for _, p := range sortedSchemaMap(s.Properties) {
			add(&n.propMax, p)
		}
		for _, p := range s.PatternProperties {
			add(&n.objAll, p)
		}
		if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
			add(&n.objAll, ap)
		}
		add(&n.objAll, s.UnevaluatedProperties)
		if s.PropertyNames != nil {
			n.propNames = g.id(s.PropertyNames)
		}

		switch items := s.Items.(type) {
		case *jsonschema.Schema:
			add(&n.arrAll, items)
		case []*jsonschema.Schema:
			n.itemMax = append(n.itemMax, g.ids(items)...)
		}
		n.itemMax = append(n.itemMax, g.ids(s.PrefixItems)...)
		add(&n.arrAll, s.Items2020)
		if ai, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			add(&n.arrAll, ai)
		}
		add(&n.arrAll, s.Contains)
		add(&n.arrAll, s.UnevaluatedItems)
		g.nodes[i] = n
	}
	// Dynamic references may resolve to their static target or to any
	// schema with their anchor.
	for _, d := range dynRefs {
		g.nodes[d.i].dyn = append(g.nodes[d.i].dyn, g.anchors[d.anchor]...)
	}
	for _, i := range recRefs {
		g.nodes[i].dyn = append(g.nodes[i].dyn, g.recursive...)
	}
	return g
}

// analyse fills s.fanout, refusing same-value cycles and fan-outs over MaxFanout.
func (s *Schema) analyse() error {
	g := build(s.sch)
	order, cyc := g.postOrder()
	if cyc >= 0 {
		return fmt.Errorf("applies the subschema at %s to the same value again through $ref, allOf, anyOf, oneOf, not or if/then/else without going deeper into the event: such a cycle can never validate", schemaLocation(g.schs[cyc].Location))
	}
	n := len(g.nodes)
	prev, cur := make([]uint64, n), make([]uint64, n)
	var worst uint64
	for d := 0; d <= MaxEventDepth; d++ {
		for _, i := range order {
			nd := &g.nodes[i]
			var c uint64
			if d == 0 {
				c = 1
			}
			for _, j := range nd.same {
				c = satAdd(c, cur[j])
			}
			var dyn uint64
			for _, j := range nd.dyn {
				dyn = max(dyn, cur[j])
			}
			c = satAdd(c, dyn)
			if d > 0 {
				var obj, arr uint64
				for _, j := range nd.propMax {
					obj = max(obj, prev[j])
				}
				for _, j := range nd.objAll {
					obj = satAdd(obj, prev[j])
				}
				if nd.propNames >= 0 && d == 1 {
					obj = satAdd(obj, prev[nd.propNames])
				}
				for _, j := range nd.itemMax {
					arr = max(arr, prev[j])
				}
				for _, j := range nd.arrAll {
					arr = satAdd(arr, prev[j])
				}
				c = satAdd(c, max(obj, arr))
			}
			cur[i] = c
		}
		s.fanout[d] = cur[0]
		worst = max(worst, cur[0])
		prev, cur = cur, prev
	}
	if worst > MaxFanout {
		shown := fmt.Sprint(worst)
		if worst == ^uint64(0) {
			shown = "astronomically many"
		}
		return fmt.Errorf("is too complex: %s subschemas could apply to one value of an event (at most %d); nested allOf/anyOf/oneOf/$ref combinations multiply, share definitions without repeating them", shown, MaxFanout)
	}
	return nil
}

// postOrder orders the nodes so that every node comes after the nodes it
// applies to the same value. cyc is a node on a same-value cycle, else -1.
func (g *graph) postOrder() (order []int, cyc int) {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(g.nodes))
	order = make([]int, 0, len(g.nodes))
	type frame struct{ i, next int }
	for start := range g.nodes {
		if color[start] != white {
			continue
		}
		stack := []frame{{start, 0}}
		color[start] = grey
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			nd := &g.nodes[f.i]
			if f.next < len(nd.same)+len(nd.dyn) {
				j := nd.edge(f.next)
				f.next++
				switch color[j] {
				case grey:
					return nil, j
				case white:
					color[j] = grey
					stack = append(stack, frame{j, 0})
				}
				continue
			}
			color[f.i] = black
			order = append(order, f.i)
			stack = stack[:len(stack)-1]
		}
	}
	return order, -1
}

// edge is the i-th same-value edge: same, then dyn.
func (n *node) edge(i int) int {
	if i < len(n.same) {
		return n.same[i]
	}
	return n.dyn[i-len(n.same)]
}

func sortedSchemaMap(m map[string]*jsonschema.Schema) []*jsonschema.Schema {
	out := make([]*jsonschema.Schema, 0, len(m))
	for _, k := range sortedMapKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedAnyKeys(m map[string]any) []string { return sortedMapKeys(m) }
