package probes

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"golang.org/x/net/publicsuffix"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/redact"
)

// Env is what runs share across the process: name resolution, logging,
// the redactor for configured secrets, the location runs report, and the
// shard of the config the process runs.
type Env struct {
	// Resolver resolves names for every dial; nil means the system resolver.
	Resolver *net.Resolver
	// Logger receives debug logs of runs; nil discards them.
	Logger   *slog.Logger
	redactor atomic.Pointer[redact.Redactor]
	location atomic.Pointer[string]
	shard    atomic.Pointer[config.Shard]
}

// SetLocation sets the location runs that start afterwards put on their
// spans; the config's global location, which can change on reload.
func (e *Env) SetLocation(loc string) { e.location.Store(&loc) }

// Location returns the location runs put on their spans.
func (e *Env) Location() string {
	if e == nil {
		return ""
	}
	if p := e.location.Load(); p != nil {
		return *p
	}
	return ""
}

// SetRedactor sets what hides the config's secrets from runs' messages
// and logs; runs that start afterwards use it.
func (e *Env) SetRedactor(r *redact.Redactor) { e.redactor.Store(r) }

// Redactor returns what hides the config's secrets; nil hides nothing.
func (e *Env) Redactor() *redact.Redactor {
	if e == nil {
		return nil
	}
	return e.redactor.Load()
}

func (e *Env) logger() *slog.Logger {
	if e == nil || e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Env) resolver() *net.Resolver {
	if e == nil || e.Resolver == nil {
		return net.DefaultResolver
	}
	return e.Resolver
}

// Run is the state one run of a journey shares across its steps: a fresh
// cookie jar, the variables, and the connections it opened.
type Run struct {
	// Journey, Variant and Target identify the series the run belongs to.
	Journey, Variant, Target string
	// Jar is the run's cookie jar; it starts empty.
	Jar    http.CookieJar
	logger *slog.Logger

	// tracerProvider is set when the run is a trace: its requests then get
	// client spans and carry the trace to their targets.
	tracerProvider trace.TracerProvider
	tracer         trace.Tracer
	traceID        string // set when the trace is sampled, for logs
	// spanAttrs name the run's series on its spans and its steps'.
	spanAttrs []attribute.KeyValue

	env      *Env
	host     string // the logical host:port a fan-out redirects, or ""
	vars     map[string]string
	secrets  []string
	redactor *redact.Redactor

	mu         sync.Mutex
	transports map[*tls.Config]runTransport
	memo       map[string]any
}

// MaxResponseHeaderBytes bounds a response's head; a larger one fails
// with reason body_too_large.
const MaxResponseHeaderBytes = 1 << 20

// runTransport is one of a run's transports: the connections, and what
// steps send requests through.
type runTransport struct {
	conns *http.Transport
	rt    http.RoundTripper
}

func newRun(env *Env, j *Journey, variant *Variant, target string) *Run {
	jar, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	r := &Run{
		Journey:    j.Name,
		Variant:    variant.Name,
		Target:     target,
		Jar:        jar,
		env:        env,
		vars:       make(map[string]string, len(j.Vars)+len(variant.Vars)+4),
		redactor:   env.Redactor(),
		transports: map[*tls.Config]runTransport{},
	}
	if j.Targets != nil {
		r.host = strings.ToLower(j.Targets.Host)
	}
	maps.Copy(r.vars, j.Vars)
	maps.Copy(r.vars, variant.Vars)
	return r
}

// Logger returns the run's logger, which hides the config's and the run's
// secrets. It is built on first use: most runs log nothing.
func (r *Run) Logger() *slog.Logger {
	if r.logger == nil {
		r.logger = slog.New(redact.Handler(r.env.logger().Handler(), func() *redact.Redactor { return r.redactor })).
			With("journey", r.Journey, "variant", r.Variant, "target", r.Target)
		if r.traceID != "" {
			r.logger = r.logger.With("trace_id", r.traceID)
		}
	}
	return r.logger
}

// Var returns a run-time variable.
func (r *Run) Var(name string) (string, bool) {
	v, ok := r.vars[name]
	return v, ok
}

// SetVar sets a run-time variable for the steps that follow. A secret value
// (a token, a session) is hidden from everything the run reports.
func (r *Run) SetVar(name, value string, secret bool) {
	r.vars[name] = value
	if secret {
		r.AddSecret(value)
	}
}

// AddSecret hides value from the run's messages and logs.
func (r *Run) AddSecret(value string) {
	if value == "" {
		return
	}
	r.secrets = append(r.secrets, value)
	r.redactor = r.env.Redactor().With(r.secrets...)
}

// Redact hides the config's and the run's secrets in s.
func (r *Run) Redact(s string) string { return r.redactor.String(s) }

// Render executes a template with the run's variables. A template that
// cannot be executed is authprobe's fault (reason internal), not the target's.
func (r *Run) Render(t config.Template) (string, error) {
	s, err := t.Execute(r.vars)
	if err != nil {
		return "", Failf(ReasonInternal, "template %s: %v", t.String(), err)
	}
	return s, nil
}

// Transport returns the run's HTTP transport for a TLS configuration,
// creating it on first use. Steps of a run share connections like a
// browser does; runs never share them, so every run pays for DNS, connect
// and TLS as a new user would. Dials to the fan-out host go to the run's
// target address instead; the Host header and TLS server name are unchanged
// because they come from the URL. When the run is traced, every request
// (each hop of a redirect chain) gets a client span and sends the trace to
// its target in a traceparent header.
func (r *Run) Transport(tlsConfig *tls.Config) http.RoundTripper {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.transports[tlsConfig]; ok {
		return t.rt
	}
	dialer := &net.Dialer{Resolver: r.env.resolver(), KeepAlive: -1}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if r.host != "" && strings.EqualFold(addr, r.host) {
				addr = r.Target
			}
			return dialer.DialContext(ctx, network, addr)
		},
		// http2 set-up writes to the config; steps' configs are shared.
		TLSClientConfig:     tlsConfig.Clone(),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		// A real response head is a few KiB; net/http's default of 10MiB
		// is what a hostile target could make every run hold.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
	}
	var rt http.RoundTripper = t
	if r.tracerProvider != nil {
		// otelhttp's metrics would repeat authprobe's own.
		rt = otelhttp.NewTransport(t, otelhttp.WithTracerProvider(spanMasker{tp: r.tracerProvider, run: r}),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	r.transports[tlsConfig] = runTransport{conns: t, rt: rt}
	return rt
}

// spanMasker hands otelhttp a tracer whose spans pass every string
// otelhttp records — the URL, the server's name, a failed request's
// error — through the run's redactor, and record URLs with the values of
// their query (where an authorization code, a state or a token travel)
// and their user info replaced by REDACTED, as OpenTelemetry's conventions
// do. otelhttp has no option for this: it records url.full after the span
// started, and errors as they are.
type spanMasker struct {
	embedded.TracerProvider
	tp  trace.TracerProvider
	run *Run
}

func (m spanMasker) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return maskingTracer{tracer: m.tp.Tracer(name, opts...), run: m.run}
}

type maskingTracer struct {
	embedded.Tracer
	tracer trace.Tracer
	run    *Run
}

func (t maskingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if c := trace.NewSpanStartConfig(opts...); len(c.Attributes()) > 0 {
		// The last value of a key wins.
		opts = append(opts, trace.WithAttributes(t.run.maskAttrs(c.Attributes())...))
	}
	ctx, span := t.tracer.Start(ctx, t.run.Redact(name), opts...)
	masked := maskingSpan{Span: span, run: t.run}
	return trace.ContextWithSpan(ctx, masked), masked
}

type maskingSpan struct {
	trace.Span
	run *Run
}

func (s maskingSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.Span.SetAttributes(s.run.maskAttrs(kv)...)
}
func (s maskingSpan) SetName(name string) { s.Span.SetName(s.run.Redact(name)) }
func (s maskingSpan) SetStatus(code codes.Code, description string) {
	s.Span.SetStatus(code, s.run.Redact(description))
}

func (s maskingSpan) AddEvent(name string, opts ...trace.EventOption) {
	s.Span.AddEvent(s.run.Redact(name), s.maskEvent(opts)...)
}

// RecordError records an error as the SDK does, as an exception event,
// with its message masked.
func (s maskingSpan) RecordError(err error, opts ...trace.EventOption) {
	if err == nil || !s.IsRecording() {
		return
	}
	opts = append(opts, trace.WithAttributes(
		attribute.String("exception.type", fmt.Sprintf("%T", err)),
		attribute.String("exception.message", err.Error())))
	s.Span.AddEvent("exception", s.maskEvent(opts)...)
}

func (s maskingSpan) maskEvent(opts []trace.EventOption) []trace.EventOption {
	c := trace.NewEventConfig(opts...)
	return []trace.EventOption{trace.WithTimestamp(c.Timestamp()), trace.WithStackTrace(c.StackTrace()),
		trace.WithAttributes(s.run.maskAttrs(c.Attributes())...)}
}

// maskAttrs returns attributes with the config's and the run's secrets
// hidden in every string, and URLs masked as spanMasker says.
func (r *Run) maskAttrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, len(kvs))
	for i, kv := range kvs {
		switch kv.Value.Type() {
		case attribute.STRING:
			v := kv.Value.AsString()
			if kv.Key == "url.full" || kv.Key == "http.url" {
				v = maskURL(v)
			}
			kv.Value = attribute.StringValue(r.Redact(v))
		case attribute.STRINGSLICE:
			vs := slices.Clone(kv.Value.AsStringSlice())
			for j := range vs {
				vs[j] = r.Redact(vs[j])
			}
			kv.Value = attribute.StringSliceValue(vs)
		}
		out[i] = kv
	}
	return out
}

// maskURL replaces a URL's user info and the values of its query with
// REDACTED and drops its fragment.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "REDACTED"
	}
	if u.User != nil {
		u.User = url.UserPassword("REDACTED", "REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for _, vs := range q {
			for i := range vs {
				if vs[i] != "" {
					vs[i] = "REDACTED"
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// Memo returns what f returned the first time it succeeded for key in
// this run, so that steps of one run share what the run fetched once — a
// discovery document, a key set — as a user's browser would, while every
// run fetches anew and so sees changes. Failures are not kept: a step
// retried with retry_until fetches again.
func (r *Run) Memo(key string, f func() (any, error)) (any, error) {
	r.mu.Lock()
	v, ok := r.memo[key]
	r.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := f()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.memo == nil {
		r.memo = map[string]any{}
	}
	r.memo[key] = v
	r.mu.Unlock()
	return v, nil
}

// close releases the run's connections.
func (r *Run) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.transports {
		t.conns.CloseIdleConnections()
	}
}
