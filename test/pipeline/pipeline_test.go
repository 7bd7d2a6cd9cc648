// Package pipeline tests the whole alerting chain with the real programs:
// authprobe probing the real IdP (npm oidc-provider), Prometheus (Debian's)
// scraping it with the time-scaled copy of the shipped rules, Alertmanager
// (Debian's) with the shipped routing, sending PagerDuty Events API v2
// requests to a local receiver; traces exported over OTLP to a local sink;
// and every query of the shipped dashboards run against that Prometheus.
package pipeline

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/test/idp"
)

// scale divides every window, `for` and Alertmanager timer of the shipped
// files: an hour of the rules passes in two minutes.
const scale = 30

const routingKey = "e2e0123456789abcdef0123456789abc"

func TestAlertPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("the alert pipeline takes about three minutes")
	}
	dir := t.TempDir()

	bin := filepath.Join(dir, "authprobe")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/authprobe/authprobe/cmd/authprobe").CombinedOutput(); err != nil {
		t.Fatalf("building authprobe: %v\n%s", err, out)
	}

	// The targets: the real IdP, an API behind TLS, a page for the browser.
	provider := idp.Start(t, idp.Options{})
	_, idpPort, _ := strings.Cut(provider.Addr, ":")
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	t.Cleanup(api.Close)
	caFile := writeFile(t, dir, "api-ca.pem", pemOf(api.Certificate().Raw))
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>Sign in</title><h1 id="hello">Sign in</h1>`)
	}))
	t.Cleanup(page.Close)

	sink := &otlpSink{}
	otlp := httptest.NewServer(sink)
	t.Cleanup(otlp.Close)

	st := newStack(t, dir)
	pd, apAddr, promURL, amURL := st.pd, st.apAddr, st.promURL, st.amURL
	cfgFile := writeFile(t, dir, "authprobe.yaml", []byte(fmt.Sprintf(`
global: { interval: 1s, timeout: 1s, location: e2e }
journeys:
  - name: tokens
    steps:
      - { name: token, oauth2: { issuer: %[1]q, grant: client_credentials, client_id: %[2]s, client_secret: "${env:E2E_CC_SECRET}", scopes: [api] } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: %[3]q } }
  - name: api
    steps:
      - { name: call, http: { url: %[4]q, tls: { ca_file: %[5]q } }, expect: { status: 200, json: { "$.status": ok } } }
  - name: page
    interval: 2s
    timeout: 2s
    steps:
      - name: load
        browser:
          actions:
            - navigate: %[6]q
            - wait_text: { selector: "#hello", contains: "Sign in" }
`, provider.Issuer, idp.CCClient, idp.Audience, api.URL+"/status", caFile, page.URL+"/")))

	ap := start(t, "authprobe", []string{
		"E2E_CC_SECRET=" + idp.CCSecret,
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=200",
	}, bin, "run", "--config", cfgFile, "--web.listen-address", apAddr,
		"--browser.path", headlessShell(t), "--browser.pool-size", "1")
	waitHTTP(t, ap, "http://"+apAddr+"/-/ready", 30*time.Second)
	st.start(t, "--enable-feature=exemplar-storage")

	value := func(q string) (float64, bool) {
		v, err := query(promURL, q)
		if err != nil || len(v) == 0 {
			return 0, false
		}
		f, err := strconv.ParseFloat(fmt.Sprint(v[0].Value[1]), 64)
		return f, err == nil
	}
	firing := func(alert, journey, severity string) bool {
		v, err := query(promURL, fmt.Sprintf(`ALERTS{alertname=%q, journey=%q, severity=%q, alertstate="firing"}`, alert, journey, severity))
		return err == nil && len(v) > 0
	}

	// Healthy: every journey succeeds, the rules record, Watchdog reaches the
	// dead man's switch, and no page has been sent.
	waitFor(t, "healthy journeys and recorded SLIs", 90*time.Second, func() bool {
		n, ok := value(`min(sum by (journey) (authprobe_journey_runs_total{outcome="success"}))`)
		_, rec := value(`journey:authprobe_sli_error:ratio_rate5m{journey="tokens"}`)
		return ok && n >= 10 && rec
	})
	waitFor(t, "the Watchdog at the dead man's switch", 30*time.Second, func() bool {
		pd.mu.Lock()
		defer pd.mu.Unlock()
		return pd.watchdog > 0
	})
	if ev := pd.all(); len(ev) > 0 {
		t.Fatalf("pages while healthy: %+v", ev)
	}
	if f, _ := value(`sum(authprobe_journey_runs_total{outcome!="success"})`); f != 0 {
		t.Fatalf("%v runs failed while healthy:\n%s", f, tail(ap.out.String(), 4<<10))
	}
	checkExemplars(t, promURL, sink)
	queries := dashboardQueries(t)
	empty := runQueries(t, promURL, queries)
	t.Logf("%d dashboard queries; empty while healthy: %d", len(queries), len(empty))
	for _, q := range empty {
		t.Logf("  empty while healthy: %s — %s", q.where, q.expr)
	}

	// Fault: the IdP stops. The hard-down page arrives.
	fault := time.Now()
	provider.Stop()
	var trigger pdEvent
	waitFor(t, "the hard-down page", 60*time.Second, func() bool {
		var ok bool
		trigger, ok = pd.find(func(e pdEvent) bool { return e.EventAction == "trigger" && e.Payload.Component == "tokens" })
		return ok
	})
	pageAfter := trigger.at.Sub(fault)
	t.Logf("fault → page: %v (%s: %q)", pageAfter.Round(100*time.Millisecond), trigger.Payload.Class, trigger.Payload.Summary)
	if trigger.RoutingKey != routingKey || trigger.Payload.Severity != "critical" || trigger.Payload.Class != "AuthJourneyDown" {
		t.Errorf("page: routing key %q, severity %q, class %q; want the configured key, critical, AuthJourneyDown",
			trigger.RoutingKey, trigger.Payload.Severity, trigger.Payload.Class)
	}
	// The IdP refuses connections: its discovery document is the first
	// thing the token step fetches.
	if s := trigger.Payload.Summary; !strings.Contains(s, "journey tokens") || !strings.Contains(s, "(reason: discovery)") {
		t.Errorf("the summary should name the journey and the reason: %q", s)
	}
	links := map[string]string{}
	for _, l := range trigger.Links {
		links[l.Text] = l.Href
	}
	if !strings.HasSuffix(links["Runbook"], "docs/runbooks.md#authjourneydown") ||
		links["Dashboard"] != "http://grafana.test/d/authprobe-journey/?var-journey=tokens" {
		t.Errorf("links: %v", links)
	}
	if trigger.Payload.Source != "authprobe" || trigger.Payload.CustomDetails["num_firing"] == "" {
		t.Errorf("source %q, details %v", trigger.Payload.Source, trigger.Payload.CustomDetails)
	}

	// The fast burn-rate page follows, inhibited while the hard-down page
	// fires: same journey, same incident.
	waitFor(t, "the fast burn-rate alert", 60*time.Second, func() bool {
		return firing("AuthJourneyErrorBudgetBurn", "tokens", "critical")
	})
	waitFor(t, "Alertmanager inhibiting the burn-rate page", 20*time.Second, func() bool {
		return inhibited(amURL, "AuthJourneyErrorBudgetBurn", "tokens")
	})
	stillEmpty := runQueries(t, promURL, empty)
	for _, q := range stillEmpty {
		t.Errorf("dashboard query returns no data, healthy or during the outage: %s — %s", q.where, q.expr)
	}

	// Repair: the IdP comes back where it was. The incident resolves.
	repair := time.Now()
	idp.Start(t, idp.Options{Port: mustAtoi(t, idpPort), Keys: provider.Keys})
	var resolve pdEvent
	waitFor(t, "the resolve event", 4*time.Minute, func() bool {
		var ok bool
		resolve, ok = pd.find(func(e pdEvent) bool { return e.EventAction == "resolve" && e.DedupKey == trigger.DedupKey })
		return ok
	})
	t.Logf("repair → resolve: %v", resolve.at.Sub(repair).Round(100*time.Millisecond))
	for _, e := range pd.all() {
		if e.Payload.Component == "tokens" && e.EventAction == "trigger" && e.Payload.Severity == "critical" && e.DedupKey != trigger.DedupKey {
			t.Errorf("a second page for the same outage: %s %q", e.Payload.Class, e.Payload.Summary)
		}
		if e.Payload.Component != "tokens" && e.Payload.Component != "authprobe" {
			t.Errorf("a page about a journey that did not fail: %+v", e.Payload)
		}
	}

	// authprobe dies: the prober-down page arrives.
	kill := time.Now()
	ap.kill()
	var down pdEvent
	waitFor(t, "the prober-down page", 60*time.Second, func() bool {
		var ok bool
		down, ok = pd.find(func(e pdEvent) bool { return e.EventAction == "trigger" && e.Payload.Class == "AuthProberDown" })
		return ok
	})
	t.Logf("authprobe killed → page: %v (%q)", down.at.Sub(kill).Round(100*time.Millisecond), down.Payload.Summary)
	if down.Payload.Severity != "critical" || !strings.Contains(down.Payload.Summary, "authprobe is down") {
		t.Errorf("prober-down page: %+v", down.Payload)
	}
	if os.Getenv("AUTHPROBE_E2E_REPORT") != "" {
		fmt.Fprintf(os.Stderr, "E2E scale=%d page=%.1fs resolve=%.1fs proberdown=%.1fs\n", scale,
			pageAfter.Seconds(), resolve.at.Sub(repair).Seconds(), down.at.Sub(kill).Seconds())
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func headlessShell(t *testing.T) string {
	for _, p := range []string{"/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "chromium is not installed; run: apt-get install chromium chromium-headless-shell"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// inhibited reports whether Alertmanager holds an alert of a journey as
// inhibited.
func inhibited(amURL, alert, journey string) bool {
	q := url.Values{"filter": {`alertname="` + alert + `"`, `journey="` + journey + `"`}, "inhibited": {"true"}}
	resp, err := http.Get(amURL + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var alerts []struct {
		Status struct {
			State       string   `json:"state"`
			InhibitedBy []string `json:"inhibitedBy"`
		} `json:"status"`
	}
	if json.NewDecoder(resp.Body).Decode(&alerts) != nil {
		return false
	}
	for _, a := range alerts {
		if a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0 {
			return true
		}
	}
	return false
}

// checkExemplars: the duration histogram's exemplars reach Prometheus with
// the trace_id of a run whose spans went to the OTLP sink.
func checkExemplars(t *testing.T, promURL string, sink *otlpSink) {
	t.Helper()
	var ids []string
	waitFor(t, "trace_id exemplars in Prometheus", 30*time.Second, func() bool {
		now := time.Now()
		q := url.Values{"query": {`authprobe_journey_duration_seconds_bucket{journey="tokens"}`},
			"start": {strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}}
		resp, err := http.Get(promURL + "/api/v1/query_exemplars?" + q.Encode())
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		ids = ids[:0]
		for _, s := range body.Data {
			for _, e := range s.Exemplars {
				if id := e.Labels["trace_id"]; id != "" {
					ids = append(ids, id)
				}
			}
		}
		return len(ids) > 0
	})
	waitFor(t, "an exemplar's trace at the OTLP sink", 15*time.Second, func() bool {
		for _, id := range ids {
			raw, err := hex.DecodeString(id)
			if err == nil && len(raw) == 16 && sink.contains(raw) {
				return true
			}
		}
		return false
	})
}

// dashQuery is one query of a shipped dashboard.
type dashQuery struct{ where, expr string }

// dashboardQueries reads every panel query of deploy/grafana/dashboards,
// with Grafana's variables and macros replaced as Grafana would.
func dashboardQueries(t *testing.T) []dashQuery {
	t.Helper()
	files, err := filepath.Glob("../../deploy/grafana/dashboards/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	replacer := strings.NewReplacer(
		"${journey}", "tokens|api|page", "$journey", "tokens|api|page",
		"${location}", "e2e", "$location", "e2e",
		"$__rate_interval", "20s", "${__rate_interval}", "20s",
		"$__interval", "5s", "${__interval}", "5s",
		"$__range", "5m", "${__range}", "5m",
	)
	var out []dashQuery
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for i, tg := range p.Targets {
					if tg.Expr == "" {
						continue
					}
					expr := replacer.Replace(tg.Expr)
					if m := regexp.MustCompile(`\$\{?\w+`).FindString(expr); m != "" {
						t.Errorf("%s / %s: unknown variable %s in %s", filepath.Base(f), p.Title, m, tg.Expr)
					}
					out = append(out, dashQuery{fmt.Sprintf("%s / %s #%d", filepath.Base(f), p.Title, i+1), expr})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// runQueries runs each query on Prometheus: a parse error fails the test; it
// returns the ones without data.
func runQueries(t *testing.T, promURL string, qs []dashQuery) []dashQuery {
	t.Helper()
	var empty []dashQuery
	for _, q := range qs {
		v, err := query(promURL, q.expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", q.where, err, q.expr)
			continue
		}
		if len(v) == 0 {
			empty = append(empty, q)
		}
	}
	return empty
}
