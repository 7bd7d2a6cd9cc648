package exporter_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/testtool"
	"github.com/authprobe/authprobe/probes"
)

func journeys(t *testing.T) []*probes.Journey {
	t.Helper()
	_, js := probetest.Compile(t, `
journeys:
  - name: login
    slo: { objective: 99.9 }
    interval: 15s
    steps:
      - { name: page, http: { url: "https://app.example.com/login" } }
      - { name: submit, http: { method: POST, url: "https://app.example.com/login" }, expect: { rejected: true } }
`)
	return js
}

// spaJourney is a browser journey of two actions.
func spaJourney(t *testing.T) *probes.Journey {
	t.Helper()
	_, js := probetest.Compile(t, `
journeys:
  - name: spa
    steps:
      - name: login
        browser: { actions: [{ navigate: "https://app.example.com/" }, { click: "#go" }] }
`)
	return js[0]
}

// scrape returns /metrics as sample name{labels sorted} → value, histograms
// by their _count and _sum, plus the OpenMetrics text for exemplars.
func scrape(t *testing.T, h http.Handler) (map[string]float64, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" { // absent, to Prometheus
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
			}
			sort.Strings(labels)
			ls := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[name+ls] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[name+ls] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[name+"_count"+ls] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+ls] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return out, rec.Body.String()
}

// emptyLabel is a label with an empty value: Prometheus treats it as
// absent, and the text formats leave it out.
var emptyLabel = regexp.MustCompile(`[a-z_]+="",?`)

// series returns a series name as scrape keys it: without empty labels.
func series(k string) string {
	return strings.Replace(emptyLabel.ReplaceAllString(k, ""), ",}", "}", 1)
}

func has(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		k = series(k)
		g, ok := got[k]
		if !ok {
			t.Errorf("/metrics lacks %s", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}

func lacks(t *testing.T, got map[string]float64, prefixes ...string) {
	t.Helper()
	for k := range got {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				t.Errorf("/metrics has %s", k)
			}
		}
	}
}

func TestSeriesExistFromStartAtZero(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("test")
	r.SetLocation("eu-west-1")
	key := probes.SeriesKey{Journey: "login"}
	r.Series(j, key, true)
	h := exporter.Handler(exporter.Options{Recorder: r})
	got, _ := scrape(t, h)
	l := `journey="login",location="eu-west-1",`
	has(t, got, map[string]float64{
		`authprobe_journey_runs_total{` + l + `outcome="success",reason="",target="",variant=""}`:               0,
		`authprobe_journey_runs_total{` + l + `outcome="failure",reason="connect",target="",variant=""}`:        0,
		`authprobe_journey_runs_total{` + l + `outcome="failure",reason="not_rejected",target="",variant=""}`:   0,
		`authprobe_journey_runs_total{` + l + `outcome="failure",reason="token_rejected",target="",variant=""}`: 0,
		`authprobe_journey_runs_total{` + l + `outcome="error",reason="internal",target="",variant=""}`:         0,
		`authprobe_journey_duration_seconds_count{` + l + `target="",variant=""}`:                               0,
		`authprobe_step_duration_seconds_count{` + l + `step="submit",target="",variant=""}`:                    0,
		`authprobe_runs_skipped_total{cause="overlap",` + l + `target="",variant=""}`:                           0,
		`authprobe_journey_slo_objective_ratio{journey="login",location="eu-west-1"}`:                           0.999,
		`authprobe_journey_interval_seconds{journey="login",location="eu-west-1"}`:                              15,
		`authprobe_config_last_reload_successful{}`:                                                             0,
	})
	// A journey that has not run must not look failed or stale, and only
	// the reasons its steps can produce are created.
	lacks(t, got, "authprobe_journey_success{", "authprobe_journey_last_run_timestamp_seconds{",
		`authprobe_journey_runs_total{`+l+`outcome="failure",reason="unknown_kid"`)
	found := false
	for k := range got {
		found = found || strings.HasPrefix(k, `authprobe_build_info{goversion="go`)
	}
	if !found {
		t.Error("no authprobe_build_info")
	}
}

func TestRecordResults(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("test")
	r.SetLocation("here")
	key := probes.SeriesKey{Journey: "login", Target: "10.0.0.7:443"}
	r.Series(j, key, true)
	now := time.Now()
	r.Result(j, probes.Result{Journey: "login", Target: "10.0.0.7:443", Start: now, Scheduled: now.Add(-3 * time.Millisecond),
		Duration: 120 * time.Millisecond, Outcome: probes.OutcomeSuccess, TraceID: "0af7651916cd43dd8448eb211c80319c",
		Steps:  []probes.StepResult{{Name: "page", Duration: 80 * time.Millisecond}, {Name: "submit", Duration: 40 * time.Millisecond}},
		Gauges: []probes.StepGauge{{Step: "page", Name: probes.GaugeTLSCertExpiry, Value: 1.9e9}}})
	r.Result(j, probes.Result{Journey: "login", Target: "10.0.0.7:443", Start: now.Add(time.Second), Duration: time.Second,
		Outcome: probes.OutcomeFailure, Reason: probes.ReasonNotRejected, FailedStep: "submit", Message: "status 200: the request was accepted"})
	r.Skip(j, key, probes.SkipConcurrency)
	h := exporter.Handler(exporter.Options{Recorder: r})
	got, openMetrics := scrape(t, h)
	l := `journey="login",location="here",`
	tv := `target="10.0.0.7:443",variant=""}`
	has(t, got, map[string]float64{
		`authprobe_journey_runs_total{` + l + `outcome="success",reason="",` + tv:             1,
		`authprobe_journey_runs_total{` + l + `outcome="failure",reason="not_rejected",` + tv: 1,
		`authprobe_journey_success{` + l + tv:                                                 0,
		`authprobe_journey_duration_seconds_count{` + l + tv:                                  2,
		`authprobe_step_duration_seconds_count{` + l + `step="page",` + tv:                    1,
		`authprobe_tls_cert_expiry_timestamp_seconds{` + l + `step="page",` + tv:              1.9e9,
		`authprobe_runs_skipped_total{cause="concurrency",` + l + tv:                          1,
		`authprobe_journey_last_success_timestamp_seconds{` + l + tv:                          float64(now.Add(120*time.Millisecond).UnixNano()) / 1e9,
		`authprobe_scheduler_start_lateness_seconds_count{}`:                                  1,
	})
	if !strings.Contains(openMetrics, `# {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.12`) {
		t.Error("the duration histogram has no trace_id exemplar in OpenMetrics")
	}

	snap := r.Snapshot()
	if len(snap) != 1 || snap[0].State != "failing" || snap[0].Runs != 2 || len(snap[0].History) != 2 || snap[0].LastSuccess == nil {
		t.Errorf("snapshot: %+v", snap)
	}

	// Moving the prober to another location renames every series.
	r.SetLocation("there")
	got, _ = scrape(t, h)
	has(t, got, map[string]float64{`authprobe_journey_runs_total{journey="login",location="there",outcome="success",reason="",` + tv: 0})
	for k := range got {
		if strings.Contains(k, `location="here"`) {
			t.Errorf("after a location change %s remains", k)
		}
	}

	// A changed journey without the step loses that step's series.
	renamed := journeys(t)[0]
	renamed.Steps = renamed.Steps[1:]
	r.Series(renamed, key, true)
	got, _ = scrape(t, h)
	for k := range got {
		if strings.Contains(k, `step="page"`) {
			t.Errorf("a removed step's series remains: %s", k)
		}
	}

	// A removed series leaves nothing behind.
	r.Series(j, key, false)
	got, _ = scrape(t, h)
	for k := range got {
		if strings.Contains(k, `journey="login"`) {
			t.Errorf("series of a removed journey remain: %s", k)
		}
	}
}

func TestHistoryIsBounded(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("test")
	key := probes.SeriesKey{Journey: "login"}
	r.Series(j, key, true)
	start := time.Now()
	for i := range 1000 {
		r.Result(j, probes.Result{Journey: "login", Start: start.Add(time.Duration(i) * time.Second), Outcome: probes.OutcomeSuccess})
	}
	s := r.Snapshot()[0]
	if len(s.History) != 20 || s.Runs != 1000 || !s.History[19].Start.Equal(start.Add(999*time.Second)) || !s.History[0].Start.Equal(start.Add(980*time.Second)) {
		t.Errorf("history holds %d runs from %s to %s; want the last 20", len(s.History), s.History[0].Start, s.History[len(s.History)-1].Start)
	}
	got, _ := scrape(t, exporter.Handler(exporter.Options{Recorder: r}))
	has(t, got, map[string]float64{`authprobe_journey_runs_total{journey="login",location="",outcome="success",reason="",target="",variant=""}`: 1000})
}

func TestEndpoints(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("v1.2.3")
	r.SetLocation("here")
	r.Series(j, probes.SeriesKey{Journey: "login"}, true)
	r.Result(j, probes.Result{Journey: "login", Start: time.Now(), Outcome: probes.OutcomeFailure, Reason: probes.ReasonHTTPStatus, FailedStep: "page",
		Message: `status 500, want 2xx (body: "<script>alert('pwned')</script>")`,
		Steps:   []probes.StepResult{{Name: "page", Outcome: probes.OutcomeFailure, Reason: probes.ReasonHTTPStatus, Status: 500}, {Name: "submit", Skipped: true}}})
	ready := false
	var reloadErr error
	reloads := 0
	h := exporter.Handler(exporter.Options{Recorder: r, Version: "v1.2.3", Ready: func() bool { return ready },
		Reload: func() error { reloads++; return reloadErr }})

	get := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	if rec := get("GET", "/-/healthy"); rec.Code != 200 {
		t.Errorf("/-/healthy: %d", rec.Code)
	}
	if rec := get("GET", "/-/ready"); rec.Code != 503 {
		t.Errorf("/-/ready before a config is loaded: %d, want 503", rec.Code)
	}
	ready = true
	if rec := get("GET", "/-/ready"); rec.Code != 200 {
		t.Errorf("/-/ready: %d", rec.Code)
	}

	page := get("GET", "/")
	body := page.Body.String()
	if page.Code != 200 || !strings.Contains(body, "login") || !strings.Contains(body, "http_status") || !strings.Contains(body, "v1.2.3") {
		t.Errorf("status page %d:\n%s", page.Code, body)
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Error("a target-controlled string reached the status page unescaped")
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the status page loads something from outside")
	}
	if get("GET", "/nope").Code != 404 {
		t.Error("unknown paths must be 404, not the status page")
	}

	api := get("GET", "/api/v1/journeys")
	var doc struct {
		Location string `json:"location"`
		Series   []struct {
			Journey string `json:"journey"`
			State   string `json:"state"`
			Last    struct {
				Reason string `json:"reason"`
				Steps  []struct {
					Name string `json:"name"`
				} `json:"steps"`
			} `json:"last"`
		} `json:"series"`
	}
	if err := json.Unmarshal(api.Body.Bytes(), &doc); err != nil {
		t.Fatalf("/api/v1/journeys is not JSON: %v", err)
	}
	if doc.Location != "here" || len(doc.Series) != 1 || doc.Series[0].State != "failing" || doc.Series[0].Last.Reason != "http_status" || len(doc.Series[0].Last.Steps) != 2 {
		t.Errorf("/api/v1/journeys: %s", api.Body)
	}

	if rec := get("GET", "/-/reload"); rec.Code != 405 {
		t.Errorf("GET /-/reload: %d, want 405", rec.Code)
	}
	if rec := get("POST", "/-/reload"); rec.Code != 200 || reloads != 1 {
		t.Errorf("POST /-/reload: %d", rec.Code)
	}
	reloadErr = config.Errors{{File: "c.yaml", Line: 3, Path: "journeys[0].interval", Msg: "too short"}}
	if rec := get("POST", "/-/reload"); rec.Code != 400 || !strings.Contains(rec.Body.String(), "c.yaml:3: journeys[0].interval: too short") {
		t.Errorf("POST /-/reload with a bad config: %d %s", rec.Code, rec.Body)
	}
	reloadErr = errors.New("disk on fire")
	if rec := get("POST", "/-/reload"); rec.Code != 500 {
		t.Errorf("POST /-/reload failing otherwise: %d", rec.Code)
	}

	off := exporter.Handler(exporter.Options{Recorder: r})
	rec := httptest.NewRecorder()
	off.ServeHTTP(rec, httptest.NewRequest("POST", "/-/reload", nil))
	if rec.Code != 403 {
		t.Errorf("POST /-/reload when disabled: %d, want 403", rec.Code)
	}
}

// TLS and basic auth come from exporter-toolkit's web config and cover
// every endpoint: without credentials each answers 401, with them it
// answers as it would unprotected, and plain HTTP gets nothing.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	dir := t.TempDir()
	pool := testtool.SelfSignedCert(t, dir)
	webConfig := filepath.Join(dir, "web.yaml")
	os.WriteFile(webConfig, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: %s\n", hash)), 0o600)
	r := exporter.NewRecorder("test")
	_, js := probetest.Compile(t, `
journeys:
  - name: spa
    steps: [{ name: login, browser: { actions: [{ navigate: "https://app.example.com/" }, { click: "#go" }] } }]
`)
	key := probes.SeriesKey{Journey: "spa"}
	r.Series(js[0], key, true)
	png := []byte("\x89PNG\r\n\x1a\nnot really")
	r.Result(js[0], probes.Result{Journey: "spa", Start: time.Now(), Outcome: probes.OutcomeFailure, Reason: probes.ReasonElementNotFound,
		FailedStep: "login", Artifact: &probes.Artifact{Step: "login", Screenshot: png}})
	id := r.Artifacts()[0].ID
	srv := &http.Server{Handler: exporter.Handler(exporter.Options{Recorder: r, Reload: func() error { return nil }, Ready: func() bool { return true }}),
		ErrorLog: log.New(io.Discard, "", 0)} // the plain HTTP requests' handshake errors
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	systemd := false
	go web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &webConfig, WebSystemdSocket: &systemd}, slog.New(slog.DiscardHandler))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + ln.Addr().String()
	for _, ep := range []struct{ method, path, contentType string }{
		{"GET", "/metrics", "text/plain"},
		{"GET", "/", "text/html"},
		{"GET", "/api/v1/journeys", "application/json"},
		{"GET", "/api/v1/artifacts", "application/json"},
		{"GET", fmt.Sprintf("/api/v1/artifacts/%d", id), "application/json"},
		{"GET", fmt.Sprintf("/api/v1/artifacts/%d/screenshot.png", id), "image/png"},
		{"GET", "/-/healthy", "text/plain"},
		{"GET", "/-/ready", "text/plain"},
		{"POST", "/-/reload", "text/plain"},
	} {
		req, _ := http.NewRequest(ep.method, base+ep.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s %s without credentials: %d, want 401", ep.method, ep.path, resp.StatusCode)
		}
		req.SetBasicAuth("prometheus", "wrong")
		if resp, err = client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s %s with a wrong password: %d, want 401", ep.method, ep.path, resp.StatusCode)
			}
		}
		req.SetBasicAuth("prometheus", "hunter2")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ep.contentType) {
			t.Errorf("%s %s with credentials: %d %s, want 200 %s", ep.method, ep.path, resp.StatusCode, resp.Header.Get("Content-Type"), ep.contentType)
		}
		if resp.TLS == nil {
			t.Errorf("%s %s was not served over TLS", ep.method, ep.path)
		}
		if ep.contentType == "image/png" && !bytes.Equal(body, png) {
			t.Errorf("the screenshot over TLS is %q", body)
		}
		// Plain HTTP to the TLS port gets no answer from authprobe.
		plain, err := http.DefaultClient.Do(mustRequest(ep.method, "http://"+ln.Addr().String()+ep.path))
		if err == nil {
			b, _ := io.ReadAll(plain.Body)
			plain.Body.Close()
			if plain.StatusCode != 400 || !strings.Contains(string(b), "HTTPS") {
				t.Errorf("plain HTTP %s %s: %d %s", ep.method, ep.path, plain.StatusCode, b)
			}
		}
	}
}

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// Token and key-set gauges describe the last run: when the step did not
// get that far, they go, so an old fingerprint cannot look like drift; a
// certificate's expiry stays.
func TestStepGaugesFollowTheLastRun(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("test")
	key := probes.SeriesKey{Journey: "login", Target: "10.0.0.7:443"}
	r.Series(j, key, true)
	now := time.Now()
	r.Result(j, probes.Result{Journey: "login", Target: key.Target, Start: now, Outcome: probes.OutcomeSuccess, Gauges: []probes.StepGauge{
		{Step: "page", Name: probes.GaugeTLSCertExpiry, Value: 2e9},
		{Step: "submit", Name: probes.GaugeTokenExpiry, Value: 1.9e9},
		{Step: "submit", Name: probes.GaugeJWKSKeys, Value: 2},
		{Step: "submit", Name: probes.GaugeJWKSFingerprint, Value: 1, Label: "abc123"},
	}})
	h := exporter.Handler(exporter.Options{Recorder: r})
	l := `journey="login",location="",step="submit",target="10.0.0.7:443",variant=""}`
	got, _ := scrape(t, h)
	has(t, got, map[string]float64{
		`authprobe_token_expiry_timestamp_seconds{` + l: 1.9e9,
		`authprobe_jwks_keys{` + l:                      2,
		`authprobe_jwks_info{fingerprint="abc123",` + l: 1,
		`authprobe_tls_cert_expiry_timestamp_seconds{journey="login",location="",step="page",target="10.0.0.7:443",variant=""}`: 2e9,
	})
	r.Result(j, probes.Result{Journey: "login", Target: key.Target, Start: now.Add(time.Second), Outcome: probes.OutcomeFailure, Reason: probes.ReasonConnect, FailedStep: "page"})
	got, _ = scrape(t, h)
	lacks(t, got, "authprobe_token_expiry_timestamp_seconds{", "authprobe_jwks_keys{", "authprobe_jwks_info{", "authprobe_jwks_last_change_timestamp_seconds{")
	has(t, got, map[string]float64{`authprobe_tls_cert_expiry_timestamp_seconds{journey="login",location="",step="page",target="10.0.0.7:443",variant=""}`: 2e9})
}

// Browser steps: each action gets a step_duration series from start-up,
// navigations their phases, and failure evidence is kept (bounded) and
// served with its screenshot.
func TestBrowserEvidence(t *testing.T) {
	j := spaJourney(t)
	r := exporter.NewRecorder("test")
	key := probes.SeriesKey{Journey: "spa"}
	r.Series(j, key, true)
	h := exporter.Handler(exporter.Options{Recorder: r})
	got, _ := scrape(t, h)
	has(t, got, map[string]float64{
		`authprobe_step_duration_seconds_count{journey="spa",location="",step="login/1:navigate",target="",variant=""}`:                   0,
		`authprobe_step_duration_seconds_count{journey="spa",location="",step="login/2:click",target="",variant=""}`:                      0,
		`authprobe_browser_navigation_seconds_count{journey="spa",location="",phase="load",step="login/1:navigate",target="",variant=""}`: 0,
	})
	png := []byte("\x89PNG\r\n\x1a\nnot really")
	now := time.Now()
	for i := range 7 {
		r.Result(j, probes.Result{Journey: "spa", Start: now.Add(time.Duration(i) * time.Second), Outcome: probes.OutcomeFailure,
			Reason: probes.ReasonElementNotFound, FailedStep: "login", Message: "#go did not appear",
			Steps: []probes.StepResult{{Name: "login", Outcome: probes.OutcomeFailure, Actions: []probes.ActionResult{
				{Name: "1:navigate", Duration: 300 * time.Millisecond, TTFB: 0.05, DOMContentLoaded: 0.2, Load: 0.25},
				{Name: "2:click", Duration: time.Second, Failed: true}}}},
			Artifact: &probes.Artifact{Step: "login", URL: "https://app.example.com/", Console: []string{"exception: boom"}, Screenshot: png}})
	}
	got, _ = scrape(t, h)
	has(t, got, map[string]float64{
		`authprobe_step_duration_seconds_count{journey="spa",location="",step="login/2:click",target="",variant=""}`:                      7,
		`authprobe_browser_navigation_seconds_count{journey="spa",location="",phase="ttfb",step="login/1:navigate",target="",variant=""}`: 7,
		`authprobe_browser_navigation_seconds_sum{journey="spa",location="",phase="load",step="login/1:navigate",target="",variant=""}`:   1.75,
	})

	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	var list []exporter.StoredArtifact
	json.Unmarshal(get("/api/v1/artifacts").Body.Bytes(), &list)
	if len(list) != 5 || !list[0].HasScreenshot || list[0].Reason != probes.ReasonElementNotFound || list[0].Console[0] != "exception: boom" {
		t.Fatalf("artifacts: %+v; want the last 5 of the series", list)
	}
	shot := get(fmt.Sprintf("/api/v1/artifacts/%d/screenshot.png", list[0].ID))
	if shot.Code != 200 || shot.Header().Get("Content-Type") != "image/png" || !bytes.Equal(shot.Body.Bytes(), png) {
		t.Errorf("screenshot: %d %q", shot.Code, shot.Header().Get("Content-Type"))
	}
	if get("/api/v1/artifacts/1").Code != 404 || get("/api/v1/artifacts/x").Code != 400 {
		t.Error("a dropped artifact must be 404, a bad id 400")
	}
	if page := get("/").Body.String(); !strings.Contains(page, fmt.Sprintf("/api/v1/artifacts/%d/screenshot.png", list[0].ID)) {
		t.Error("the status page does not link the last failure's screenshot")
	}

	// A reload that changes the second action keeps the first one's
	// series, drops the second's, and a run of the old journey still in
	// flight does not bring it back.
	_, js2 := probetest.Compile(t, `
journeys:
  - name: spa
    steps:
      - name: login
        browser: { action_timeout: 5s, actions: [{ navigate: "https://app.example.com/" }, { wait_visible: "#done" }] }
`)
	r.Series(js2[0], key, true)
	r.Result(j, probes.Result{Journey: "spa", Start: now.Add(time.Minute), Outcome: probes.OutcomeSuccess,
		Steps: []probes.StepResult{{Name: "login", Outcome: probes.OutcomeSuccess, Actions: []probes.ActionResult{
			{Name: "1:navigate", Duration: time.Second}, {Name: "2:click", Duration: time.Second}}}}})
	got, _ = scrape(t, h)
	has(t, got, map[string]float64{
		`authprobe_step_duration_seconds_count{journey="spa",location="",step="login/1:navigate",target="",variant=""}`:                   8,
		`authprobe_step_duration_seconds_count{journey="spa",location="",step="login/2:wait_visible",target="",variant=""}`:               0,
		`authprobe_browser_navigation_seconds_count{journey="spa",location="",phase="ttfb",step="login/1:navigate",target="",variant=""}`: 7,
	})
	if _, ok := got[`authprobe_step_duration_seconds_count{journey="spa",location="",step="login/2:click",target="",variant=""}`]; ok {
		t.Error("the removed action's series is still exported")
	}

	r.Series(j, key, false)
	json.Unmarshal(get("/api/v1/artifacts").Body.Bytes(), &list)
	if len(list) != 0 {
		t.Error("a removed series' artifacts remain")
	}
}
