package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// withoutOTEL unsets every OTEL_* variable for the test and the processes
// it starts, so that what the tests set is all there is.
func withoutOTEL(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver, as a collector or Tempo
// runs one: it keeps the raw bytes of every export and decodes them.
type otlpReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	raw  [][]byte
	reqs []*coltracepb.ExportTraceServiceRequest
}

func newReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusNotFound)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.raw = append(r.raw, b)
	r.reqs = append(r.reqs, &m)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// span is an exported span with its resource's attributes.
type span struct {
	*tracepb.Span
	resource []*commonpb.KeyValue
}

func (s span) traceID() string  { return hex.EncodeToString(s.TraceId) }
func (s span) spanID() string   { return hex.EncodeToString(s.SpanId) }
func (s span) parentID() string { return hex.EncodeToString(s.ParentSpanId) }
func (s span) attr(key string) (string, bool) {
	return attrOf(s.Attributes, key)
}

func attrOf(kvs []*commonpb.KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return anyString(kv.Value), true
		}
	}
	return "", false
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.Values {
			parts = append(parts, anyString(e))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

func (r *otlpReceiver) spans() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, req := range r.reqs {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, span{s, rs.GetResource().GetAttributes()})
				}
			}
		}
	}
	return out
}

// strings returns every string the exports held: names, attribute keys
// and values, events, status messages, resources.
func (r *otlpReceiver) strings() []string {
	var out []string
	add := func(kvs []*commonpb.KeyValue) {
		for _, kv := range kvs {
			out = append(out, kv.Key, anyString(kv.Value))
		}
	}
	for _, s := range r.spans() {
		out = append(out, s.Name, s.GetStatus().GetMessage(), string(s.TraceState))
		add(s.Attributes)
		add(s.resource)
		for _, e := range s.Events {
			out = append(out, e.Name)
			add(e.Attributes)
		}
		for _, l := range s.Links {
			add(l.Attributes)
		}
	}
	return out
}

func (r *otlpReceiver) rawBytes() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.raw...)
}

// hasSpan reports whether a span with this name was exported in a trace.
func (r *otlpReceiver) hasSpan(traceID, name string) bool {
	for _, s := range r.spans() {
		if s.traceID() == traceID && s.Name == name {
			return true
		}
	}
	return false
}

// requestLog records the traceparent of every request a target got.
type requestLog struct {
	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct{ path, traceparent string }

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, seenRequest{r.URL.Path, r.Header.Get("Traceparent")})
}

func (l *requestLog) all() []seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seenRequest(nil), l.reqs...)
}

// secretsTarget is a target that issues tokens and wants them back in the
// query and the Authorization header, as the tests' journeys use it.
func secretsTarget(t *testing.T, token string, log *requestLog) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		switch r.URL.Path {
		case "/token":
			fmt.Fprintf(w, `{"access_token":%q}`, token)
		case "/oauth/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":60}`, token+"-oauth")
		case "/use":
			if tok := r.URL.Query().Get("t"); !strings.HasPrefix(tok, token) || r.Header.Get("Authorization") != "Bearer "+tok {
				http.Error(w, "who are you", http.StatusUnauthorized)
			}
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

const tracedConfig = `
journeys:
  - name: login
    steps:
      - name: token
        http: { method: POST, url: "%[1]s/token", form: { password: "${env:AUTHPROBE_TEST_SECRET}" }, basic_auth: { username: u, password: "${file:secret}" } }
        extract: { access_token: { json: "$.access_token", secret: true } }
      - name: use
        http: { url: "%[1]s/use?t={{ .access_token }}&p=${env:AUTHPROBE_TEST_SECRET}", headers: { Authorization: "Bearer {{ .access_token }}" } }
  - name: api-token
    steps:
      - name: token
        oauth2: { token_url: "%[1]s/oauth/token", grant: client_credentials, client_id: c, client_secret: "${file:secret}" }
      - name: use
        http: { url: "%[1]s/use?t={{ .access_token }}", headers: { Authorization: "Bearer {{ .access_token }}" } }
  - name: down
    steps:
      - name: get
        http: { url: "%[1]s/down" }
`

// authprobe once with OTLP export configured by the standard variables
// exports a trace per run to a real OTLP/HTTP receiver: the run's span,
// its steps' and a client span per request, joined by the traceparent the
// targets got, with the failure's reason on it, and no secret anywhere in
// what it sent.
func TestTracesExportedOverOTLP(t *testing.T) {
	withoutOTEL(t)
	const envSecret, fileSecret, token = "env-secret-4b1d", "file-secret-77e0", "runtime-token-c3a9"
	var log requestLog
	target := secretsTarget(t, token, &log)
	recv := newReceiver(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte(fileSecret+"\n"), 0o600)
	cfg := filepath.Join(dir, "authprobe.yaml")
	writeConfig(t, cfg, "global: { location: trace-test }\n"+tracedConfig, target.URL)

	r := runCLI(t, []string{"AUTHPROBE_TEST_SECRET=" + envSecret, "OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL,
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=test"},
		"once", "--config", cfg, "--output", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the down journey fails); stderr:\n%s", r.code, r.stderr)
	}
	var results []struct {
		Journey, Outcome, Reason string
		TraceID                  string `json:"trace_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("once --output json: %v\n%s", err, r.stdout)
	}
	traces := map[string]string{} // journey → trace ID
	for _, res := range results {
		if len(res.TraceID) != 32 {
			t.Errorf("%s: trace_id %q", res.Journey, res.TraceID)
		}
		traces[res.Journey] = res.TraceID
	}
	spans := recv.spans()
	if len(spans) == 0 {
		t.Fatalf("nothing exported; stderr:\n%s", r.stderr)
	}
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.spanID()] = s
	}
	for _, want := range []struct {
		journey, outcome, reason string
		steps                    []string
	}{
		{"login", "success", "", []string{"token", "use"}},
		{"api-token", "success", "", []string{"token", "use"}},
		{"down", "failure", "http_status", []string{"get"}},
	} {
		tid := traces[want.journey]
		var run *span
		steps := map[string]span{}
		clients := map[string]int{} // step → client spans
		for _, s := range spans {
			if s.traceID() != tid {
				continue
			}
			switch {
			case s.Name == "journey "+want.journey:
				run = &s
			case strings.HasPrefix(s.Name, "step "):
				steps[strings.TrimPrefix(s.Name, "step ")] = s
			case s.Kind == tracepb.Span_SPAN_KIND_CLIENT:
				if p, ok := byID[s.parentID()]; ok && p.traceID() == tid {
					clients[strings.TrimPrefix(p.Name, "step ")]++
				}
				if u, _ := s.attr("url.full"); strings.Contains(u, "?t=") && !strings.Contains(u, "t=REDACTED") {
					t.Errorf("url.full %q: the query's values are not masked", u)
				}
			}
		}
		if run == nil {
			t.Errorf("%s: no run span in trace %s", want.journey, tid)
			continue
		}
		if v, _ := attrOf(run.resource, "service.name"); v != "authprobe" {
			t.Errorf("service.name = %q, want authprobe", v)
		}
		if v, _ := attrOf(run.resource, "service.version"); v != "dev" {
			t.Errorf("service.version = %q, want the build's version, dev", v)
		}
		if v, _ := attrOf(run.resource, "deployment.environment.name"); v != "test" {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES did not reach the resource: deployment.environment.name = %q", v)
		}
		for key, v := range map[string]string{"authprobe.journey": want.journey, "authprobe.location": "trace-test", "authprobe.outcome": want.outcome} {
			if got, _ := run.attr(key); got != v {
				t.Errorf("%s: run span %s = %q, want %q", want.journey, key, got, v)
			}
		}
		if got, _ := run.attr("authprobe.reason"); got != want.reason {
			t.Errorf("%s: run span authprobe.reason = %q, want %q", want.journey, got, want.reason)
		}
		if want.reason != "" && (run.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || run.GetStatus().GetMessage() != want.reason) {
			t.Errorf("%s: run span status %v %q, want an error with the reason", want.journey, run.GetStatus().GetCode(), run.GetStatus().GetMessage())
		}
		for _, name := range want.steps {
			s, ok := steps[name]
			if !ok {
				t.Errorf("%s: no span for step %s", want.journey, name)
				continue
			}
			if s.parentID() != run.spanID() {
				t.Errorf("%s: step %s is not a child of the run", want.journey, name)
			}
			if got, _ := s.attr("authprobe.step"); got != name {
				t.Errorf("%s: step span authprobe.step = %q", want.journey, got)
			}
			if got, _ := s.attr("authprobe.journey"); got != want.journey {
				t.Errorf("%s: step span authprobe.journey = %q", want.journey, got)
			}
			if got, _ := s.attr("authprobe.outcome"); got != want.outcome {
				t.Errorf("%s: step %s authprobe.outcome = %q, want %q", want.journey, name, got, want.outcome)
			}
			if got, _ := s.attr("authprobe.reason"); got != want.reason {
				t.Errorf("%s: step %s authprobe.reason = %q, want %q", want.journey, name, got, want.reason)
			}
			if clients[name] != 1 {
				t.Errorf("%s: step %s has %d client spans, want 1", want.journey, name, clients[name])
			}
		}
	}
	// Every request the target got carried the trace of its run, with its
	// client span as the parent.
	reqs := log.all()
	if len(reqs) != 5 {
		t.Errorf("the target got %d requests, want 5", len(reqs))
	}
	for _, req := range reqs {
		parts := strings.Split(req.traceparent, "-")
		if len(parts) != 4 || parts[0] != "00" || parts[3] != "01" {
			t.Errorf("%s: traceparent %q", req.path, req.traceparent)
			continue
		}
		parent, ok := byID[parts[2]]
		if !ok || parent.traceID() != parts[1] || parent.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("%s: traceparent %q names no exported client span of its trace", req.path, req.traceparent)
		}
	}

	// No secret, in any form, in what was sent or in what it decodes to.
	secrets := []string{envSecret, fileSecret, token, token + "-oauth",
		base64.StdEncoding.EncodeToString([]byte("u:" + fileSecret)), base64.StdEncoding.EncodeToString([]byte("c:" + fileSecret))}
	for _, s := range secrets[:4] {
		secrets = append(secrets, url.QueryEscape(s))
	}
	for i, raw := range recv.rawBytes() {
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("export %d holds the secret %s", i, s)
			}
		}
	}
	for _, text := range recv.strings() {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("an exported string holds the secret %s: %q", s, text)
			}
		}
	}

	t.Run("sampler from OTEL_TRACES_SAMPLER", func(t *testing.T) {
		quiet := newReceiver(t)
		r := runCLI(t, []string{"AUTHPROBE_TEST_SECRET=" + envSecret, "OTEL_EXPORTER_OTLP_ENDPOINT=" + quiet.URL, "OTEL_TRACES_SAMPLER=always_off"},
			"once", "--config", cfg, "--output", "json", "--journey", "login")
		if r.code != 0 || strings.Contains(r.stdout, "trace_id") {
			t.Errorf("exit %d; a run that is not sampled has no trace_id:\n%s%s", r.code, r.stdout, r.stderr)
		}
		if n := len(quiet.spans()); n != 0 {
			t.Errorf("%d spans exported with the sampler off", n)
		}
	})
}

// getOpenMetrics scrapes /metrics as Prometheus does when it stores
// exemplars.
func getOpenMetrics(t *testing.T, p *process) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("/metrics answered %s, not OpenMetrics", ct)
	}
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var exemplarRe = regexp.MustCompile(`(?m)^(authprobe_(?:journey|step)_duration_seconds)_bucket\{[^}]*journey="login"[^}]*\} \S+ # \{trace_id="([0-9a-f]{32})"\}`)

// With tracing on, the duration histograms in OpenMetrics carry exemplars
// whose trace_id is the trace of the run they measured, exported to the
// receiver: what Grafana follows from a latency panel to the trace.
func TestExemplarsAreRunTraces(t *testing.T) {
	withoutOTEL(t)
	var log requestLog
	target := secretsTarget(t, "tok", &log)
	recv := newReceiver(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s\n"), 0o600)
	cfg := filepath.Join(dir, "authprobe.yaml")
	writeConfig(t, cfg, "global: { interval: 1s }\n"+tracedConfig, target.URL)
	p := startProcess(t, []string{"AUTHPROBE_TEST_SECRET=x", "OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL, "OTEL_BSP_SCHEDULE_DELAY=100"},
		"run", "--config", cfg)
	exemplars := map[string]string{} // metric → trace ID
	p.waitFor(t, 10*time.Second, "exemplars on both duration histograms", func() bool {
		for _, m := range exemplarRe.FindAllStringSubmatch(getOpenMetrics(t, p), -1) {
			exemplars[m[1]] = m[2]
		}
		return len(exemplars) == 2
	})
	for metric, tid := range exemplars {
		p.waitFor(t, 5*time.Second, metric+"'s exemplar trace at the receiver", func() bool {
			return recv.hasSpan(tid, "journey login")
		})
	}
}

// Without OTEL_* variables nothing is traced: no provider is installed, no
// exporter sends anything (not even to the default localhost:4318), and
// the metrics carry no exemplars.
func TestTracingOffByDefault(t *testing.T) {
	withoutOTEL(t)
	stop, err := setupTracing(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Fatal("an SDK tracer provider was installed without any OTEL_* variable")
	}

	var defaultPort sync.Map
	if l, err := net.Listen("tcp", "127.0.0.1:4318"); err == nil {
		srv := &http.Server{Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { defaultPort.Store(r.URL.Path, true) }),
			ReadHeaderTimeout: time.Second}
		go srv.Serve(l)
		defer srv.Close()
	} else {
		t.Logf("localhost:4318 is taken (%v); not watching the default OTLP port", err)
	}
	var log requestLog
	target := secretsTarget(t, "tok", &log)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s\n"), 0o600)
	cfg := filepath.Join(dir, "authprobe.yaml")
	writeConfig(t, cfg, "global: { interval: 1s }\n"+tracedConfig, target.URL)
	p := startProcess(t, []string{"AUTHPROBE_TEST_SECRET=x"}, "run", "--config", cfg)
	p.waitFor(t, 10*time.Second, "runs", func() bool { return p.series(t)["login"].Runs >= 2 })
	text := getOpenMetrics(t, p)
	if strings.Contains(text, " # {") {
		t.Errorf("exemplars without tracing:\n%s", grepLines(text, " # {"))
	}
	for _, req := range log.all() {
		if req.traceparent != "" {
			t.Errorf("%s got traceparent %q without tracing", req.path, req.traceparent)
		}
	}
	defaultPort.Range(func(k, _ any) bool {
		t.Errorf("something was sent to localhost:4318%s", k)
		return true
	})
	if strings.Contains(p.logs(), "tracing") {
		t.Errorf("logs mention tracing:\n%s", p.logs())
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The variables that turn tracing on and pick the exporter, and the
// errors a user can meet.
func TestTracingSettings(t *testing.T) {
	const endpoint = "http://127.0.0.1:1"
	for _, tc := range []struct {
		name     string
		env      map[string]string
		protocol string // "" for off
		err      string
	}{
		{"nothing set", nil, "", ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, "http/protobuf", ""},
		{"traces endpoint, grpc", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", ""},
		{"traces protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "grpc", ""},
		{"exporter named", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, "http/protobuf", ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "none"}, "", ""},
		{"SDK disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SDK_DISABLED": "true"}, "", ""},
		{"unknown exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "zipkin"}, "",
			"OTEL_TRACES_EXPORTER=zipkin is not supported; use otlp or none"},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "",
			"OTLP protocol http/json (OTEL_EXPORTER_OTLP_PROTOCOL) is not supported; use http/protobuf or grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withoutOTEL(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			exp, protocol, err := traceExporter(context.Background())
			if exp != nil {
				defer exp.Shutdown(context.Background())
			}
			if got := fmt.Sprint(err); (err != nil || tc.err != "") && got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
			if protocol != tc.protocol || (exp != nil) != (tc.protocol != "") {
				t.Errorf("exporter %T over %q, want %q", exp, protocol, tc.protocol)
			}
		})
	}
}
