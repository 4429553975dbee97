// Package expr compiles and evaluates CEL boolean expressions over events
// (filters, routes, tail filters). An expression is compiled once — with a
// cost limit, so that no expression can run away — and evaluated per event
// against the event's top-level fields as variables.
package expr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
)

// CostLimit bounds the work of one evaluation.
const CostLimit = 100_000

// MaxLength bounds an expression's source text.
const MaxLength = 4096

// DefaultVars are the top-level fields of a custom event envelope.
var DefaultVars = []string{"timestamp", "source", "event", "metadata"}

// Program is a compiled boolean expression; safe for concurrent use.
type Program struct {
	src  string
	vars []string
	prg  cel.Program
}

// Compile compiles a boolean expression over vars (each a dynamically
// typed variable). The error is the CEL message, fit to show to a user.
func Compile(src string, vars []string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	if len(src) > MaxLength {
		return nil, fmt.Errorf("expression longer than %d characters", MaxLength)
	}
	opts := make([]cel.EnvOption, 0, len(vars))
	for _, v := range vars {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("expression environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("expression must be true or false, it gives %s", t)
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("expression: %w", err)
	}
	return &Program{src: src, vars: vars, prg: prg}, nil
}

// String is the expression's source.
func (p *Program) String() string { return p.src }

// Match evaluates the expression with vars bound from fields (missing
// variables are null). A runtime error (a missing key, a type mismatch,
// the cost limit) is returned; callers decide whether that excludes the
// event.
func (p *Program) Match(ctx context.Context, fields map[string]any) (bool, error) {
	act := make(map[string]any, len(p.vars))
	for _, v := range p.vars {
		act[v] = fields[v]
	}
	out, _, err := p.prg.ContextEval(ctx, act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("expression gave %v, not true or false", out.Value())
	}
	return b, nil
}
