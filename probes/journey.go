package probes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authprobe/authprobe/config"
)

// Journey is a configured journey compiled for running.
type Journey struct {
	Name      string
	Interval  time.Duration
	Timeout   time.Duration
	Objective float64 // ratio, 0.995
	// Variants has at least one element; a journey without variants has one
	// with an empty name.
	Variants []*Variant
	// Targets is the fan-out, nil for none.
	Targets *config.Targets
	Steps   []*CompiledStep
	// Fingerprint changes when anything affecting the journey's runs changes.
	Fingerprint string
	// Reasons are the failure reasons the journey's steps can produce.
	Reasons []Reason

	Vars map[string]string
}

// Variant is one flavour of a journey with its own variables and series.
type Variant struct {
	Name string
	Vars map[string]string
}

// CompiledStep is a step ready to run.
type CompiledStep struct {
	Name       string
	Kind       string
	Always     bool
	Extract    map[string]config.Extract
	Expect     config.Expect
	RetryUntil *config.RetryUntil

	impl          Step
	extractOrder  []string
	defaultStatus config.StatusSet
	refusals      []Reason
}

// ActionLabels are the labels of the step's timed actions, if it has any.
func (s *CompiledStep) ActionLabels() []string {
	if a, ok := s.impl.(Actioner); ok {
		return a.ActionLabels()
	}
	return nil
}

// engineReasons are reasons the engine itself can produce for any step.
var engineReasons = []Reason{ReasonTimeout, ReasonAssertion, ReasonExtract, ReasonInternal}

// Compile turns a loaded config into runnable journeys. Its errors are
// config.Errors with field paths: a template that reads a variable no
// earlier step sets is a config error, found before anything runs.
func Compile(cfg *config.Config) ([]*Journey, error) {
	var errs config.Errors
	out := make([]*Journey, 0, len(cfg.Journeys))
	for ji := range cfg.Journeys {
		cj := &cfg.Journeys[ji]
		jpath := config.Path("journeys").Index(ji)
		j := &Journey{
			Name:        cj.Name,
			Interval:    cj.Interval.D(),
			Timeout:     cj.Timeout.D(),
			Objective:   cj.Objective(),
			Targets:     cj.Targets,
			Fingerprint: cj.Fingerprint,
			Vars:        staticVars(cj.Vars),
		}
		for _, v := range cj.Variants {
			j.Variants = append(j.Variants, &Variant{Name: v.Name, Vars: staticVars(v.Vars)})
		}
		if len(j.Variants) == 0 {
			j.Variants = []*Variant{{}}
		}
		reasons := slices.Clone(engineReasons)
		known := knownAtStart(cj)
		for si := range cj.Steps {
			cs := &cj.Steps[si]
			spath := jpath.Field("steps").Index(si)
			kind, ok := lookupKind(cs.Kind)
			if !ok {
				errs = append(errs, config.FieldError{File: cfg.File, Line: cs.Line, Path: spath, Msg: fmt.Sprintf("step kind %q is not available in this build", cs.Kind)})
				continue
			}
			for _, ref := range templatesIn(cs.Spec, spath.Field(cs.Kind)) {
				for _, v := range ref.t.Vars() {
					if !known[v] {
						errs = append(errs, config.FieldError{File: cfg.File, Line: cs.Line, Path: ref.path,
							Msg: fmt.Sprintf("uses {{ .%s }}, which no earlier step or vars sets%s", v, unknownVarHint(v, known))})
					}
				}
			}
			impl, err := kind.Build(cs.Spec)
			if err != nil {
				errs = append(errs, config.FieldError{File: cfg.File, Line: cs.Line, Path: spath.Field(cs.Kind), Msg: err.Error()})
				continue
			}
			step := &CompiledStep{
				Name: cs.Name, Kind: cs.Kind, Always: cs.Always,
				Extract: cs.Extract, Expect: cs.Expect, RetryUntil: cs.RetryUntil,
				impl: impl, defaultStatus: kind.DefaultStatus, refusals: kind.Refusals,
			}
			if step.refusals == nil {
				step.refusals = []Reason{ReasonInvalidCredentials, ReasonTokenRejected}
			}
			for name := range cs.Extract {
				step.extractOrder = append(step.extractOrder, name)
				known[name] = true
			}
			sort.Strings(step.extractOrder)
			for _, o := range kind.Outputs {
				known[o] = true
			}
			if o, ok := impl.(Outputter); ok {
				for _, name := range o.Outputs() {
					known[name] = true
				}
			}
			reasons = append(reasons, kind.Reasons...)
			if cs.Expect.Rejected {
				reasons = append(reasons, ReasonNotRejected)
			}
			if cs.Expect.Status != nil || kind.DefaultStatus != nil {
				reasons = append(reasons, ReasonHTTPStatus, ReasonTokenRejected, ReasonInvalidCredentials)
			}
			j.Steps = append(j.Steps, step)
		}
		slices.Sort(reasons)
		j.Reasons = slices.Compact(reasons)
		out = append(out, j)
	}
	if len(errs) > 0 {
		// A kind's check may quote a value it refuses, resolved from a secret.
		return nil, errs.Redact(cfg.Secrets)
	}
	return out, nil
}

func staticVars(vars map[string]config.Template) map[string]string {
	out := make(map[string]string, len(vars))
	for k, t := range vars {
		out[k], _ = t.Execute(nil)
	}
	return out
}

// knownAtStart is the set of variables every run of the journey starts
// with: the journey's, plus those every variant sets.
func knownAtStart(j *config.Journey) map[string]bool {
	known := map[string]bool{}
	for k := range j.Vars {
		known[k] = true
	}
	for i, v := range j.Variants {
		for k := range v.Vars {
			inAll := true
			for _, other := range j.Variants[:i] {
				if _, ok := other.Vars[k]; !ok {
					inAll = false
				}
			}
			for _, other := range j.Variants[i+1:] {
				if _, ok := other.Vars[k]; !ok {
					inAll = false
				}
			}
			if inAll {
				known[k] = true
			}
		}
	}
	return known
}

// unknownVarHint says what the user may have meant.
func unknownVarHint(v string, known map[string]bool) string {
	if len(known) == 0 {
		return "; nothing is set before this step (set variables with extract: or vars:)"
	}
	names := slices.Sorted(maps.Keys(known))
	if hint := config.Suggest(v, names); strings.HasPrefix(hint, "; did you mean") {
		return hint
	}
	return "; set by then: " + strings.Join(names, ", ")
}

type templateRef struct {
	path config.Path
	t    config.Template
}

var templateType = reflect.TypeFor[config.Template]()

// TemplateWalker is implemented by settings that hold templates where
// reflection cannot see them, such as a JSON body written as YAML.
type TemplateWalker interface {
	WalkTemplates(path config.Path, fn func(config.Path, config.Template))
}

// templatesIn finds every template in a kind's settings, with its path, so
// the engine can check variable references without each kind listing them.
func templatesIn(spec any, path config.Path) []templateRef {
	var refs []templateRef
	var walk func(v reflect.Value, p config.Path)
	walk = func(v reflect.Value, p config.Path) {
		if v.Type() == templateType {
			if t := v.Interface().(config.Template); !t.IsZero() {
				refs = append(refs, templateRef{p, t})
			}
			return
		}
		if w, ok := v.Interface().(TemplateWalker); ok && v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface {
			w.WalkTemplates(p, func(p config.Path, t config.Template) { refs = append(refs, templateRef{p, t}) })
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), p)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				switch {
				case !f.IsExported() || name == "-":
				case name == "" && strings.Contains(opts, "inline"):
					walk(v.Field(i), p)
				case name != "":
					walk(v.Field(i), p.Field(name))
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), p.Index(i))
			}
		case reflect.Map:
			keys := v.MapKeys()
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				walk(v.MapIndex(k), p.Key(k.String()))
			}
		}
	}
	walk(reflect.ValueOf(spec), path)
	return refs
}

// Execute runs the journey once for a variant and target and returns what
// happened. It never runs past the journey's timeout: the deadline covers
// every step, retries and cleanup included.
//
// The run is a trace when a tracer provider is installed (otel's global):
// a span for the run, one per step, and one per HTTP request. Spans carry
// names from the config and the outcome and reason, never a message: those
// quote what targets said, and targets echo secrets.
func (j *Journey) Execute(ctx context.Context, env *Env, variant *Variant, target string) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	// Looked up per run, not once: tracers taken from otel's global before
	// a provider is installed stay bound to the first one installed.
	tp := otel.GetTracerProvider()
	tracer := tp.Tracer(instrumentation)
	ctx, span := tracer.Start(ctx, "journey "+j.Name)
	defer span.End()

	run := newRun(env, j, variant, target)
	defer run.close()
	run.tracer = tracer
	if span.SpanContext().IsValid() {
		run.tracerProvider = tp
	}
	res := Result{Journey: j.Name, Variant: variant.Name, Target: target, Start: start, Outcome: OutcomeSuccess}
	if sc := span.SpanContext(); sc.IsSampled() {
		res.TraceID = sc.TraceID().String()
		run.traceID = res.TraceID
	}
	if span.IsRecording() {
		run.spanAttrs = []attribute.KeyValue{
			attrJourney.String(j.Name), attrVariant.String(variant.Name),
			attrTarget.String(target), attrLocation.String(env.Location()),
		}
		span.SetAttributes(run.spanAttrs...)
	}
	failed := false
	for _, s := range j.Steps {
		if failed && (!s.Always || ctx.Err() != nil) {
			res.Steps = append(res.Steps, StepResult{Name: s.Name, Kind: s.Kind, Skipped: true})
			continue
		}
		sr, gauges := s.run(ctx, run)
		if sr.Outcome != OutcomeSuccess && !failed {
			failed = true
			res.Outcome, res.Reason, res.FailedStep, res.Message = sr.Outcome, sr.Reason, s.Name, sr.Message
			res.Artifact = sr.artifact
		}
		sr.artifact = nil
		res.Steps = append(res.Steps, sr)
		res.Gauges = append(res.Gauges, gauges...)
	}
	res.Duration = time.Since(start)
	if failed && span.IsRecording() {
		span.SetAttributes(attrFailedStep.String(res.FailedStep))
	}
	endSpan(span, res.Outcome, res.Reason)
	return res
}

// instrumentation names authprobe's spans' scope.
const instrumentation = "github.com/authprobe/authprobe/probes"

// Span attributes of runs and steps.
const (
	attrJourney    = attribute.Key("authprobe.journey")
	attrVariant    = attribute.Key("authprobe.variant")
	attrTarget     = attribute.Key("authprobe.target")
	attrLocation   = attribute.Key("authprobe.location")
	attrStep       = attribute.Key("authprobe.step")
	attrStepKind   = attribute.Key("authprobe.step.kind")
	attrAttempts   = attribute.Key("authprobe.step.attempts")
	attrOutcome    = attribute.Key("authprobe.outcome")
	attrReason     = attribute.Key("authprobe.reason")
	attrFailedStep = attribute.Key("authprobe.failed_step")
)

// endSpan records a run's or a step's outcome on its span; a failure's
// status description is its reason, the closed set, never its message.
func endSpan(span trace.Span, outcome Outcome, reason Reason) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attrOutcome.String(string(outcome)))
	if outcome != OutcomeSuccess {
		span.SetAttributes(attrReason.String(string(reason)))
		span.SetStatus(codes.Error, string(reason))
	}
}

// run performs a step, retrying while retry_until allows, and evaluates it.
func (s *CompiledStep) run(ctx context.Context, run *Run) (StepResult, []StepGauge) {
	ctx, span := run.tracer.Start(ctx, "step "+s.Name)
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(run.spanAttrs...)
		span.SetAttributes(attrStep.String(s.Name), attrStepKind.String(s.Kind))
	}
	start := time.Now()
	sr := StepResult{Name: s.Name, Kind: s.Kind}
	var gauges []StepGauge
	var artifact *Artifact
	var giveUp time.Time
	if s.RetryUntil != nil {
		giveUp = start.Add(s.RetryUntil.For.D())
	}
	for {
		sr.Attempts++
		var resp *Response
		err := safely(run, func() error {
			attemptStart := time.Now()
			var err error
			resp, err = s.impl.Do(ctx, run)
			if resp != nil {
				resp.ctx = ctx
			}
			return s.evaluate(run, resp, err, time.Since(attemptStart))
		})
		if resp != nil {
			sr.Status = resp.Status
			sr.Actions = resp.Actions
			artifact = resp.Artifact
			gauges = gauges[:0]
			if !resp.CertExpiry.IsZero() {
				gauges = append(gauges, StepGauge{Step: s.Name, Name: GaugeTLSCertExpiry, Value: float64(resp.CertExpiry.Unix())})
			}
			for _, g := range resp.Gauges {
				g.Step = s.Name
				gauges = append(gauges, g)
			}
		}
		sr.Reason = Classify(err)
		if err != nil && ctx.Err() != nil && sr.Reason != ReasonInternal {
			// Whatever a step was doing when the deadline passed, the run
			// failed because it ran out of time.
			sr.Reason = ReasonTimeout
			err = fmt.Errorf("the run's deadline passed: %w", err)
		}
		if err == nil || s.RetryUntil == nil || sr.Reason == ReasonInternal || ctx.Err() != nil ||
			time.Now().Add(s.RetryUntil.Every.D()).After(giveUp) {
			if err != nil {
				sr.Message = truncate(run.Redact(err.Error()))
				if sr.Attempts > 1 {
					sr.Message = fmt.Sprintf("after %d attempts: %s", sr.Attempts, sr.Message)
				}
			}
			break
		}
		t := time.NewTimer(s.RetryUntil.Every.D())
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	sr.Outcome = sr.Reason.Outcome()
	sr.Duration = time.Since(start)
	if span.IsRecording() {
		span.SetAttributes(attrAttempts.Int(sr.Attempts))
	}
	endSpan(span, sr.Outcome, sr.Reason)
	if artifact != nil && sr.Outcome != OutcomeSuccess {
		artifact.Step = s.Name
		sr.artifact = artifact
	}
	return sr, gauges
}

// safely runs a step and its evaluation, turning a panic into an internal
// error so one broken step kind cannot take the prober down.
func safely(run *Run, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			run.Logger().Error("step panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = Failf(ReasonInternal, "step crashed: %v", p)
		}
	}()
	return f()
}

// evaluate applies a step's expectations and extractions to what it observed.
func (s *CompiledStep) evaluate(run *Run, resp *Response, err error, took time.Duration) error {
	if err := s.checkExpect(run, resp, err, took); err != nil {
		return err
	}
	for _, name := range s.extractOrder {
		ex := s.Extract[name]
		v, err := extract(run, resp, ex)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return err
			}
			return Failf(ReasonExtract, "extract %s: %v", name, err)
		}
		run.SetVar(name, v, ex.Secret)
	}
	return nil
}
