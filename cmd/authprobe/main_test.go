package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run the real binary, as a user or a pipeline would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authprobe-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "authprobe")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building authprobe: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

func writeConfig(t *testing.T, path, yaml string, args ...any) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fmt.Sprintf(yaml, args...)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	r := runCLI(t, []string{"LOGIN_PASSWORD=x"}, "check", "--config", "../../examples/form-login.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "password-login") || !strings.Contains(r.stdout, "wrong-password-refused") {
		t.Errorf("check of a valid example: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Settings also come from AUTHPROBE_* environment variables.
	r = runCLI(t, []string{"LOGIN_PASSWORD=x", "AUTHPROBE_CONFIG=../../examples/form-login.yaml"}, "check")
	if r.code != 0 || !strings.Contains(r.stdout, "form-login.yaml is valid") {
		t.Errorf("check with AUTHPROBE_CONFIG: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The incident: a config change references env vars that do not exist.
	r = runCLI(t, nil, "check", "--config", "../../config/testdata/invalid-missing-env.yaml")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, name := range []string{"AUTHPROBE_TEST_MISSING_PASSWORD", "AUTHPROBE_TEST_MISSING_TOKEN"} {
		if !strings.Contains(r.stderr, "environment variable "+name+" is not set") {
			t.Errorf("the error does not name %s:\n%s", name, r.stderr)
		}
	}

	// run refuses to start on the same config.
	r = runCLI(t, nil, "run", "--config", "../../config/testdata/invalid-missing-env.yaml", "--web.listen-address", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "authprobe did not start") || !strings.Contains(r.stderr, "AUTHPROBE_TEST_MISSING_TOKEN") {
		t.Errorf("run with missing secrets: exit %d\n%s", r.code, r.stderr)
	}
}

func TestOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authprobe.yaml")
	writeConfig(t, cfg, `
journeys:
  - name: up
    steps: [{ name: home, http: { url: "%[1]s/" } }]
  - name: down
    steps:
      - { name: home, http: { url: "%[1]s/" } }
      - { name: api, http: { url: "%[1]s/down" } }`, srv.URL)

	r := runCLI(t, nil, "once", "--config", cfg, "--journey", "up")
	if r.code != 0 || !strings.Contains(r.stdout, "ok   up") {
		t.Errorf("once --journey up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "once", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL down") || !strings.Contains(r.stdout, "http_status at api") ||
		!strings.Contains(r.stdout, "database unavailable") || !strings.Contains(r.stderr, "1 of 2 runs failed") {
		t.Errorf("once with a failing journey: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "once", "--config", cfg, "--output", "json", "--journey", "down")
	var results []struct {
		Journey, Outcome, Reason string
	}
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || len(results) != 1 || results[0].Reason != "http_status" {
		t.Errorf("once --output json: %v\n%s", err, r.stdout)
	}
	if r := runCLI(t, nil, "once", "--config", cfg, "--journey", "nope"); r.code != 2 || !strings.Contains(r.stderr, `--journey "nope" is not in`) {
		t.Errorf("unknown journey: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "once", "--config", "../../config/testdata/invalid-duration.yaml"); r.code != 2 {
		t.Errorf("invalid config: exit %d, want 2", r.code)
	}
}

// process is a running authprobe.
type process struct {
	cmd    *exec.Cmd
	base   string
	mu     sync.Mutex
	stderr bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	addr := freePort(t)
	p := launch(t, "http://"+addr, addr, env, args...)
	p.waitFor(t, 10*time.Second, "ready", func() bool { code, _ := p.get("/-/ready"); return code == 200 })
	return p
}

// launch starts authprobe listening on addr, reached at base, and stops it
// (SIGTERM, then a kill after 10 s, which fails the test) when the test
// ends.
func launch(t *testing.T, base, addr string, env []string, args ...string) *process {
	t.Helper()
	p := &process{base: base}
	p.cmd = exec.Command(binary, append(args, "--web.listen-address", addr)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error)
		go func() { done <- p.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			t.Error("authprobe did not stop within 10s of SIGTERM")
		}
	})
	return p
}

func (p *process) get(path string) (int, string) {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *process) post(path string) (int, string) {
	resp, err := http.Post(p.base+path, "", nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *process) waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s; logs:\n%s", what, limit, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// series reads /api/v1/journeys as journey → (runs, state, reason).
type seriesState struct {
	Journey string `json:"journey"`
	Target  string `json:"target"`
	Runs    int    `json:"runs"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
}

func (p *process) series(t *testing.T) map[string]seriesState {
	t.Helper()
	_, body := p.get("/api/v1/journeys")
	var doc struct {
		Series []seriesState `json:"series"`
	}
	json.Unmarshal([]byte(body), &doc)
	out := map[string]seriesState{}
	for _, s := range doc.Series {
		key := s.Journey
		if s.Target != "" {
			key += "@" + s.Target
		}
		out[key] = s
	}
	return out
}

func metric(p *process, line string) bool {
	_, body := p.get("/metrics")
	return strings.Contains(body, line)
}

func TestReload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authprobe.yaml")
	good := `
global: { interval: 1s, location: test }
journeys:
  - name: steady
    steps: [{ name: home, http: { url: "%[1]s/" } }]
`
	writeConfig(t, cfg, good, srv.URL)
	p := startProcess(t, nil, "run", "--config", cfg)
	p.waitFor(t, 5*time.Second, "runs", func() bool { return p.series(t)["steady"].Runs >= 2 })

	// A broken file, picked up by the watcher: the old config keeps running.
	writeConfig(t, cfg, good+"  - name: broken\n    steps: [{ name: x, htpp: { url: \"%[1]s/\" } }]\n", srv.URL)
	p.waitFor(t, 5*time.Second, "failed reload", func() bool { return metric(p, "authprobe_config_last_reload_successful 0") })
	if !strings.Contains(p.logs(), `journeys[1].steps[0].htpp: unknown field; did you mean \"http\"?`) {
		t.Errorf("the log does not name the field:\n%s", p.logs())
	}
	code, body := p.post("/-/reload")
	if code != 400 || !strings.Contains(body, "journeys[1].steps[0].htpp: unknown field") || !strings.Contains(body, "the previous config keeps running") {
		t.Errorf("POST /-/reload of a bad config: %d %s", code, body)
	}
	before := p.series(t)["steady"].Runs
	p.waitFor(t, 5*time.Second, "runs after the bad reload", func() bool { return p.series(t)["steady"].Runs >= before+2 })
	if _, page := p.get("/"); !strings.Contains(page, "The last config reload failed") {
		t.Error("the status page does not say the reload failed")
	}

	// A good change adds a journey; the unchanged one keeps its history.
	writeConfig(t, cfg, good+"  - name: added\n    steps: [{ name: home, http: { url: \"%[1]s/\" } }]\n", srv.URL)
	p.waitFor(t, 5*time.Second, "successful reload", func() bool { return metric(p, "authprobe_config_last_reload_successful 1") })
	kept := p.series(t)["steady"].Runs
	if kept < before+2 {
		t.Errorf("the unchanged journey's history was reset: %d runs, had %d", kept, before+2)
	}
	p.waitFor(t, 5*time.Second, "the added journey", func() bool { return p.series(t)["added"].Runs >= 1 })

	// SIGHUP reloads too.
	os.WriteFile(cfg, []byte(fmt.Sprintf(good, srv.URL)), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, 5*time.Second, "the removed journey gone", func() bool { _, ok := p.series(t)["added"]; return !ok })
	// The watcher may see the write first; the SIGHUP is still logged, if
	// later on a loaded machine.
	p.waitFor(t, 10*time.Second, "the log of the SIGHUP reload", func() bool {
		return strings.Contains(p.logs(), "SIGHUP: reloading the config")
	})
}

// No configured secret and no token obtained at run time appears in logs,
// /metrics, the status page or the API — even when steps fail and their
// messages quote URLs and bodies carrying them.
func TestSecretsNeverAppear(t *testing.T) {
	const envSecret, fileSecret, token = "env-secret-8c1f", "file-secret-93ab", "runtime-token-5d2e"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			fmt.Fprintf(w, `{"access_token":%q}`, token)
		case "/oauth/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","refresh_token":%q}`, token+"-oauth", token+"-refresh")
		case "/jwks":
			fmt.Fprint(w, `{"keys":[]}`)
		case "/echo":
			// A hostile target that echoes what it got into its error.
			http.Error(w, "rejected "+r.Header.Get("Authorization")+" "+r.URL.RawQuery, http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte(fileSecret+"\n"), 0o600)
	cfg := filepath.Join(dir, "authprobe.yaml")
	writeConfig(t, cfg, `
global: { interval: 1s }
journeys:
  - name: leaky
    steps:
      - name: token
        http: { method: POST, url: "%[1]s/token", form: { password: "${env:AUTHPROBE_TEST_SECRET}" }, basic_auth: { username: u, password: "${file:secret}" } }
        extract: { access_token: { json: "$.access_token", secret: true } }
      - name: echo
        http: { url: "%[1]s/echo?p=${env:AUTHPROBE_TEST_SECRET}&t={{ .access_token }}", headers: { Authorization: "Bearer {{ .access_token }}" } }
  - name: oauth2
    steps:
      - name: token
        oauth2: { token_url: "%[1]s/oauth/token", grant: password, client_id: c, client_secret: "${file:secret}", username: u, password: "${env:AUTHPROBE_TEST_SECRET}" }
      - name: echo
        http: { url: "%[1]s/echo?t={{ .access_token }}&r={{ .refresh_token }}", headers: { Authorization: "Bearer {{ .access_token }}" } }
  - name: jwt
    steps:
      - name: token
        oauth2: { token_url: "%[1]s/oauth/token", grant: client_credentials, client_id: c, client_secret: "${file:secret}" }
      - name: validate
        jwt: { token: "{{ .access_token }}", issuer: "%[1]s", ignore_audience: true, jwks_url: "%[1]s/jwks" }
  - name: unreachable
    steps:
      - name: get
        http: { url: "http://%[2]s/${env:AUTHPROBE_TEST_SECRET}?k=${file:secret}" }
`, srv.URL, freePort(t))
	p := startProcess(t, []string{"AUTHPROBE_TEST_SECRET=" + envSecret}, "run", "--config", cfg, "--log.level", "debug")
	p.waitFor(t, 5*time.Second, "failed runs", func() bool {
		s := p.series(t)
		return s["leaky"].Reason == "http_status" && s["unreachable"].Reason == "connect" &&
			s["oauth2"].Reason == "http_status" && s["jwt"].Reason == "token_response"
	})
	_, metrics := p.get("/metrics")
	_, page := p.get("/")
	_, api := p.get("/api/v1/journeys")
	surfaces := map[string]string{"logs": p.logs(), "/metrics": metrics, "status page": page, "/api/v1/journeys": api}
	if !strings.Contains(api, "<secret>") {
		t.Errorf("the API should show masked values where the secrets were:\n%s", api)
	}
	for name, text := range surfaces {
		for _, secret := range []string{envSecret, fileSecret, token, token + "-oauth", token + "-refresh"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows the secret %s", name, secret)
			}
		}
	}
}

// authprobe demo shows green journeys within seconds, and a fault switch
// turns them red with the designed reason: key drift on one API replica
// shows on that replica's series only.
func TestDemo(t *testing.T) {
	p := startProcess(t, nil, "demo")
	// The banner names the API replicas, replica 1 first.
	replicas := strings.Fields(between(p.logs(), "its API replicas at ", "\n"))
	if len(replicas) != 3 {
		t.Fatalf("no replicas in the banner:\n%s", p.logs())
	}
	one, two := "api-token@"+replicas[0], "api-token@"+replicas[2]
	// The browser journey (the single-page app in Chromium) runs every 10s.
	p.waitFor(t, 25*time.Second, "green journeys", func() bool {
		s := p.series(t)
		return len(s) == 5 && s["password-login"].State == "ok" && s["wrong-password-refused"].State == "ok" &&
			s[one].State == "ok" && s[two].State == "ok" && s["spa-login"].State == "ok"
	})
	if code, _ := p.post("/demo/fault/key-drift"); code != 200 {
		t.Fatalf("flipping key-drift: %d", code)
	}
	p.waitFor(t, 12*time.Second, "token_rejected on replica 2", func() bool { return p.series(t)[two].Reason == "token_rejected" })
	if s := p.series(t)[one]; s.State != "ok" {
		t.Errorf("replica 1 is %s (%s); only replica 2 drifted", s.State, s.Reason)
	}
	_, text := p.get("/metrics")
	series := `authprobe_journey_runs_total{journey="api-token",location="demo",outcome="failure",reason="token_rejected",target="` + replicas[2] + `"} `
	if v := between(text, series, "\n"); v == "" || v == "0" {
		t.Errorf("/metrics: %s%q; want a token_rejected failure on replica 2", series, v)
	}
	p.post("/demo/fault/clear")
	p.waitFor(t, 12*time.Second, "green again", func() bool { return p.series(t)[two].State == "ok" })
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
