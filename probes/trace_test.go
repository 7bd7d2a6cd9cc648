package probes_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/internal/testdns"
	"github.com/authprobe/authprobe/probes"
)

// traced installs the OpenTelemetry SDK, as authprobe does when OTLP export
// is configured, with the spans recorded in memory instead of exported.
func traced(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		tp.Shutdown(context.Background())
	})
	return rec
}

// spanTree is the spans of one trace.
type spanTree []sdktrace.ReadOnlySpan

func spansOf(rec *tracetest.SpanRecorder, traceID string) spanTree {
	var out spanTree
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}

func (st spanTree) named(name string) sdktrace.ReadOnlySpan {
	for _, s := range st {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// clients returns the client spans under a span, in the order they ended.
func (st spanTree) clients(parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range st {
		if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String(), true
		}
	}
	return "", false
}

// texts is every string a span would export: its name, its attributes,
// its events and its status.
func texts(s sdktrace.ReadOnlySpan) []string {
	out := []string{s.Name(), s.Status().Description}
	add := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	add(s.Attributes())
	for _, e := range s.Events() {
		out = append(out, e.Name)
		add(e.Attributes)
	}
	return out
}

// assertMasked fails if a span carries a secret in any form a URL or an
// encoder might give it.
func assertMasked(t *testing.T, spans spanTree, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		for _, text := range texts(s) {
			for _, secret := range secrets {
				for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
					if strings.Contains(text, form) {
						t.Errorf("span %q carries the secret %s: %q", s.Name(), secret, text)
					}
				}
			}
		}
	}
}

// traceparents records the traceparent header of every request a target got.
type traceparents struct {
	mu   sync.Mutex
	seen map[string]string // path → traceparent
}

func (tp *traceparents) record(r *http.Request) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.seen == nil {
		tp.seen = map[string]string{}
	}
	tp.seen[r.URL.Path] = r.Header.Get("Traceparent")
}

func (tp *traceparents) get(path string) string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.seen[path]
}

// A run is one trace: a span for the run, one per step and one per HTTP
// request, named and labelled like its series, the request's traceparent
// joining the target's trace to it. No span carries a configured secret or
// a token the run obtained, though the requests carry both in their URLs.
func TestRunIsOneTrace(t *testing.T) {
	const password, token = "trace-password-61c0", "trace-token-a7f3"
	t.Setenv("AUTHPROBE_TRACE_PASSWORD", password)
	var seen traceparents
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.record(r)
		switch {
		case r.URL.Path == "/token":
			fmt.Fprintf(w, `{"access_token":%q}`, token)
		case r.URL.Path == "/use" && r.URL.Query().Get("t") == token:
			http.Redirect(w, r, "/home?code=c0de-from-the-redirect&state=s", http.StatusFound)
		case r.URL.Path == "/home":
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cfg, js := probetest.Compile(t, fmt.Sprintf(`
global: { location: eu-test-1 }
journeys:
  - name: login
    steps:
      - name: token
        http: { method: POST, url: "%[1]s/token", form: { password: "${env:AUTHPROBE_TRACE_PASSWORD}" } }
        extract: { access_token: { json: "$.access_token", secret: true } }
      - name: use
        http: { url: "http://probe:${env:AUTHPROBE_TRACE_PASSWORD}@%[2]s/use?t={{ .access_token }}", redirects: follow,
                headers: { Authorization: "Bearer {{ .access_token }}" } }
      - name: fail
        http: { url: "%[1]s/fail/{{ .access_token }}" }
`, srv.URL, host))
	rec := traced(t)
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	env.SetLocation(cfg.Global.Location)

	res := js[0].Execute(context.Background(), env, js[0].Variants[0], "")
	if res.Reason != probes.ReasonHTTPStatus || res.FailedStep != "fail" {
		t.Fatalf("run: %s at %s (%s); want http_status at fail", res.Reason, res.FailedStep, res.Message)
	}
	if res.TraceID == "" {
		t.Fatal("a sampled run has no trace ID")
	}
	spans := spansOf(rec, res.TraceID)
	run := spans.named("journey login")
	if run == nil {
		t.Fatalf("no run span in the run's trace; spans: %d", len(spans))
	}
	if run.Parent().IsValid() {
		t.Error("the run span has a parent; a run is a trace of its own")
	}
	for key, want := range map[string]string{
		"authprobe.journey": "login", "authprobe.variant": "", "authprobe.target": "", "authprobe.location": "eu-test-1",
		"authprobe.outcome": "failure", "authprobe.reason": "http_status", "authprobe.failed_step": "fail",
	} {
		if got, ok := attr(run, key); !ok || got != want {
			t.Errorf("run span: %s = %q (set: %t), want %q", key, got, ok, want)
		}
	}
	if st := run.Status(); st.Code != codes.Error || st.Description != "http_status" {
		t.Errorf("run span status: %v %q, want Error http_status", st.Code, st.Description)
	}

	// Each step: a child of the run, labelled; each request a client span
	// under its step, and the target got the trace and that span's ID.
	for _, step := range []struct {
		name, outcome, reason string
		requests              []string // paths, in order
		urls                  []string // url.full of each
	}{
		{"token", "success", "", []string{"/token"}, []string{srv.URL + "/token"}},
		{"use", "success", "", []string{"/use", "/home"}, []string{
			srv.URL + "/use?t=REDACTED", srv.URL + "/home?code=REDACTED&state=REDACTED"}},
		{"fail", "failure", "http_status", []string{"/fail/" + token}, []string{srv.URL + "/fail/<secret>"}},
	} {
		s := spans.named("step " + step.name)
		if s == nil {
			t.Errorf("no span for step %s", step.name)
			continue
		}
		if s.Parent().SpanID() != run.SpanContext().SpanID() {
			t.Errorf("step %s: its span is not a child of the run's", step.name)
		}
		for key, want := range map[string]string{
			"authprobe.journey": "login", "authprobe.step": step.name, "authprobe.step.kind": "http",
			"authprobe.location": "eu-test-1", "authprobe.outcome": step.outcome, "authprobe.step.attempts": "1",
		} {
			if got, _ := attr(s, key); got != want {
				t.Errorf("step %s: %s = %q, want %q", step.name, key, got, want)
			}
		}
		if got, ok := attr(s, "authprobe.reason"); got != step.reason || ok != (step.reason != "") {
			t.Errorf("step %s: authprobe.reason = %q (set: %t), want %q", step.name, got, ok, step.reason)
		}
		clients := spans.clients(s)
		if len(clients) != len(step.requests) {
			t.Errorf("step %s: %d client spans, want one per request: %v", step.name, len(clients), step.requests)
			continue
		}
		for i, c := range clients {
			if got, _ := attr(c, "url.full"); got != step.urls[i] {
				t.Errorf("step %s, request %d: url.full = %q, want %q", step.name, i, got, step.urls[i])
			}
			want := fmt.Sprintf("00-%s-%s-01", res.TraceID, c.SpanContext().SpanID())
			if got := seen.get(step.requests[i]); got != want {
				t.Errorf("%s got traceparent %q, want %q (its client span's)", step.requests[i], got, want)
			}
		}
	}
	assertMasked(t, spans, password, token)
}

// A failed request's error is recorded on its client span with the
// secrets masked, while the step still sees the error itself and names
// its reason from it.
func TestClientSpanErrorsAreMasked(t *testing.T) {
	const hostSecret = "hostsecret-0d9e"
	t.Setenv("AUTHPROBE_TRACE_HOST", hostSecret)
	dns, err := testdns.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	cfg, js := probetest.Compile(t, `
journeys:
  - name: dns
    steps: [{ name: get, http: { url: "http://${env:AUTHPROBE_TRACE_HOST}.test/?k=v" } }]
`)
	rec := traced(t)
	env := &probes.Env{Resolver: dns.Resolver()}
	env.SetRedactor(redact.New(cfg.Secrets...))
	res := js[0].Execute(context.Background(), env, js[0].Variants[0], "")
	if res.Reason != probes.ReasonDNS {
		t.Fatalf("reason %s (%s), want dns: the step must see the transport's own error", res.Reason, res.Message)
	}
	spans := spansOf(rec, res.TraceID)
	step := spans.named("step get")
	if step == nil {
		t.Fatal("no step span")
	}
	clients := spans.clients(step)
	if len(clients) != 1 {
		t.Fatalf("%d client spans, want 1", len(clients))
	}
	c := clients[0]
	if c.Status().Code != codes.Error || !strings.Contains(c.Status().Description, "<secret>.test") {
		t.Errorf("client span status: %v %q; want the error with the host masked", c.Status().Code, c.Status().Description)
	}
	if got, _ := attr(c, "url.full"); got != "http://<secret>.test/?k=REDACTED" {
		t.Errorf("url.full = %q", got)
	}
	assertMasked(t, spans, hostSecret)
}

// Without a tracer provider nothing is traced: no trace ID, no
// traceparent sent.
func TestNoTracingByDefault(t *testing.T) {
	var seen traceparents
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.record(r) }))
	defer srv.Close()
	_, js := probetest.Compile(t, fmt.Sprintf(`journeys: [{ name: plain, steps: [{ name: get, http: { url: "%s/x" } }] }]`, srv.URL))
	res := js[0].Execute(context.Background(), &probes.Env{}, js[0].Variants[0], "")
	if res.Outcome != probes.OutcomeSuccess {
		t.Fatalf("run: %s %s", res.Reason, res.Message)
	}
	if res.TraceID != "" {
		t.Errorf("trace ID %q without tracing", res.TraceID)
	}
	if tp := seen.get("/x"); tp != "" {
		t.Errorf("traceparent %q sent without tracing", tp)
	}
}
