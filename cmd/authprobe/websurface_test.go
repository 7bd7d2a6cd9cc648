package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authprobe/authprobe/internal/testtool"
)

// webClient talks to an authprobe behind a web config: TLS with a
// self-signed certificate it trusts, and basic auth when user is set.
type webClient struct {
	base       string
	http       *http.Client
	user, pass string
}

func (c *webClient) do(t *testing.T, method, path string, auth bool) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, c.base+path, nil)
	if auth {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// startWeb starts authprobe on a free port and waits until /-/ready
// answers through c, whose base it sets.
func startWeb(t *testing.T, c *webClient, env []string, args ...string) *process {
	t.Helper()
	addr := freePort(t)
	scheme := "http"
	if c.http.Transport != nil {
		scheme = "https"
	}
	c.base = scheme + "://" + addr
	p := launch(t, c.base, addr, env, args...)
	p.waitFor(t, 10*time.Second, "ready", func() bool {
		req, _ := http.NewRequest(http.MethodGet, c.base+"/-/ready", nil)
		req.SetBasicAuth(c.user, c.pass)
		resp, err := c.http.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// tlsWebConfig writes a self-signed certificate for 127.0.0.1 and an
// exporter-toolkit web config serving it, with one basic auth user, and
// returns the config's path and a client that trusts the certificate.
func tlsWebConfig(t *testing.T, dir string) (string, *webClient) {
	t.Helper()
	pool := testtool.SelfSignedCert(t, dir)
	const pass = "scrape-Pw-3e9a"
	hash, _ := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	path := filepath.Join(dir, "web.yaml")
	writeConfig(t, path, "tls_server_config: { cert_file: cert.pem, key_file: key.pem }\nbasic_auth_users:\n  prometheus: %s\n", hash)
	return path, &webClient{http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		user: "prometheus", pass: pass}
}

// The binary serves every endpoint over TLS with basic auth when given a
// web config: the status page, the API and a real browser failure's
// artifact and screenshot, metrics, health, readiness and reload. Without
// credentials each answers 401 and shows nothing.
func TestWebConfigOnEveryEndpoint(t *testing.T) {
	browser := chromiumInstalled(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>login</title><input id="user">`)
	}))
	defer page.Close()
	dir := t.TempDir()
	webConfig, c := tlsWebConfig(t, dir)
	cfg := filepath.Join(dir, "authprobe.yaml")
	journey := fmt.Sprintf(`  - name: api
    steps: [{ name: get, http: { url: "%s/" } }]
`, page.URL)
	if browser {
		journey = fmt.Sprintf(`  - name: spa
    steps:
      - name: login
        browser: { action_timeout: 1s, actions: [{ navigate: "%s/" }, { click: "#submit" }] }
`, page.URL)
	}
	writeConfig(t, cfg, "global: { interval: 5s }\njourneys:\n%s", journey)
	p := startWeb(t, c, nil, "run", "--config", cfg, "--web.config.file", webConfig)

	paths := []string{"/", "/metrics", "/api/v1/journeys", "/api/v1/artifacts", "/-/healthy", "/-/ready"}
	if browser {
		var artifacts []struct {
			ID uint64 `json:"id"`
		}
		p.waitFor(t, 20*time.Second, "the browser's artifact", func() bool {
			_, b := c.do(t, "GET", "/api/v1/artifacts", true)
			json.Unmarshal(b, &artifacts)
			return len(artifacts) > 0
		})
		id := artifacts[0].ID
		paths = append(paths, fmt.Sprintf("/api/v1/artifacts/%d", id), fmt.Sprintf("/api/v1/artifacts/%d/screenshot.png", id))
	}
	for _, path := range append(paths, "POST /-/reload") {
		method := "GET"
		if m, rest, ok := strings.Cut(path, " "); ok {
			method, path = m, rest
		}
		resp, body := c.do(t, method, path, false)
		if resp.StatusCode != 401 || len(body) > 100 {
			t.Errorf("%s %s without credentials: %d, %d bytes; want 401 and nothing shown", method, path, resp.StatusCode, len(body))
		}
		resp, body = c.do(t, method, path, true)
		if resp.StatusCode != 200 || resp.TLS == nil || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s with credentials: %d (TLS %v, nosniff %q): %.200s", method, path, resp.StatusCode, resp.TLS != nil,
				resp.Header.Get("X-Content-Type-Options"), body)
		}
		if strings.HasSuffix(path, ".png") && !strings.HasPrefix(string(body), "\x89PNG") {
			t.Errorf("%s is not a PNG", path)
		}
	}
	// Plain HTTP on the TLS port shows no page.
	resp, err := http.Get(strings.Replace(c.base, "https://", "http://", 1) + "/")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "authprobe") && !strings.Contains(string(b), "HTTPS") {
			t.Errorf("plain HTTP got the status page: %d %.200s", resp.StatusCode, b)
		}
	}

	// A web config that does not hold is refused at start, with its reason.
	bad := filepath.Join(dir, "bad-web.yaml")
	writeConfig(t, bad, "tls_server_config: { cert_file: missing.pem, key_file: key.pem }\n")
	r := runCLI(t, nil, "run", "--config", cfg, "--web.config.file", bad, "--web.listen-address", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, "--web.config.file "+bad) {
		t.Errorf("a broken web config: exit %d\n%s", r.code, r.stderr)
	}
}

// POST /-/reload reloads, other methods are refused with 405; with
// --web.disable-reload every request to it is refused with 403 and the
// reason, while SIGHUP still reloads.
func TestReloadEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authprobe.yaml")
	one := "global: { interval: 1s }\njourneys:\n  - name: one\n    steps: [{ name: get, http: { url: \"%[1]s/\" } }]\n"
	two := one + "  - name: two\n    steps: [{ name: get, http: { url: \"%[1]s/\" } }]\n"
	writeConfig(t, cfg, one, srv.URL)

	p := startProcess(t, nil, "run", "--config", cfg, "--config.watch=false")
	if code, body := p.get("/-/reload"); code != 405 || !strings.Contains(body, "use POST") {
		t.Errorf("GET /-/reload: %d %s, want 405", code, body)
	}
	writeConfig(t, cfg, two, srv.URL)
	if code, body := p.post("/-/reload"); code != 200 {
		t.Errorf("POST /-/reload: %d %s", code, body)
	}
	if _, ok := p.series(t)["two"]; !ok {
		t.Error("POST /-/reload did not load the new journey")
	}

	writeConfig(t, cfg, one, srv.URL)
	off := startProcess(t, nil, "run", "--config", cfg, "--config.watch=false", "--web.disable-reload")
	writeConfig(t, cfg, two, srv.URL)
	for _, method := range []string{"POST", "PUT", "GET"} {
		req, _ := http.NewRequest(method, off.base+"/-/reload", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), "reloading over HTTP is disabled (--web.disable-reload)") {
			t.Errorf("%s /-/reload with --web.disable-reload: %d %s; want 403 and the reason", method, resp.StatusCode, b)
		}
	}
	if _, ok := off.series(t)["two"]; ok {
		t.Error("a refused reload loaded the config")
	}
	off.cmd.Process.Signal(syscall.SIGHUP)
	off.waitFor(t, 5*time.Second, "the SIGHUP reload", func() bool { _, ok := off.series(t)["two"]; return ok })
}

// Strings a target controls reach the status page only escaped: an error
// body, a header, a redirect's Location, a value extracted in one step and
// echoed back in the next, a page's title and text in a browser. The page
// allows no script to run even if one slipped through, and nothing is
// sniffed.
func TestStatusPageEscapesTargetStrings(t *testing.T) {
	const script, img = `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`
	const payload = script + " " + img
	browser := chromiumInstalled(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/body":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, payload)
		case "/header":
			w.Header().Set("X-Evil", payload)
		case "/redirect":
			w.Header().Set("Location", "/"+payload+"?q="+payload)
			w.WriteHeader(http.StatusFound)
		case "/value":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"v": payload})
		case "/echo":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, "unknown value "+r.URL.Query().Get("v"))
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			// The payload as text of the page, and as a JavaScript string
			// that does not end the script element.
			js := strings.ReplaceAll(fmt.Sprintf("%q", payload), "</", `<\/`)
			fmt.Fprintf(w, `<!doctype html><title>x</title><p id="msg">%s</p><script>console.error(%s); document.title = %[2]s</script>`,
				strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(payload), js)
		}
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "authprobe.yaml")
	yaml := `
global: { interval: 5s }
journeys:
  - name: body
    steps: [{ name: get, http: { url: "%[1]s/body" } }]
  - name: header
    steps: [{ name: get, http: { url: "%[1]s/header" }, expect: { header: { X-Evil: "^ok$" } } }]
  - name: redirect
    steps: [{ name: get, http: { url: "%[1]s/redirect" }, expect: { status: 200 } }]
  - name: extracted
    steps:
      - { name: value, http: { url: "%[1]s/value" }, extract: { v: { json: "$.v" } } }
      - { name: echo, http: { url: "%[1]s/echo?v={{ urlquery .v }}" } }
  - name: json-assertion
    steps: [{ name: value, http: { url: "%[1]s/value" }, expect: { json: { "$.v": ok } } }]
`
	journeys := []string{"body", "header", "redirect", "extracted", "json-assertion"}
	if browser {
		yaml += `  - name: title
    steps: [{ name: login, browser: { action_timeout: 1s, actions: [{ navigate: "%[1]s/page" }, { assert_title: { contains: Welcome } }] } }]
  - name: text
    steps: [{ name: login, browser: { action_timeout: 1s, actions: [{ navigate: "%[1]s/page" }, { assert_text: { selector: "#msg", contains: Welcome } }] } }]
`
		journeys = append(journeys, "title", "text")
	}
	writeConfig(t, cfg, yaml, srv.URL)
	p := startProcess(t, nil, "run", "--config", cfg)
	p.waitFor(t, 20*time.Second, "every journey failing", func() bool {
		s := p.series(t)
		for _, j := range journeys {
			if s[j].State != "failing" {
				return false
			}
		}
		return true
	})

	resp, err := http.Get(p.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, raw := range []string{script, "<img", "onerror=alert(1)>"} {
		if strings.Contains(page, raw) {
			i := strings.Index(page, raw)
			t.Errorf("the status page holds %q unescaped: …%s…", raw, page[max(0, i-100):min(len(page), i+100)])
		}
	}
	// Each journey's message quotes the target, escaped.
	section := func(name string) string {
		s, _, _ := strings.Cut(between(page, `id="j-`+name+`"`, "</section>")+"</section>", "</section>")
		return s
	}
	for _, j := range journeys {
		msg := section(j)
		t.Logf("%s: %s", j, between(msg, `<div class="msg">`, "</div>"))
		switch j {
		case "redirect":
			// The Location is shown without its query, escaped as a URL.
			if !strings.Contains(msg, "a redirect to") || strings.Contains(msg, "alert(1)&gt;?q") {
				t.Errorf("%s: %s", j, msg)
			}
		case "json-assertion":
			if !strings.Contains(msg, `\u003cscript\u003ealert(1)\u003c/script\u003e`) {
				t.Errorf("%s: the JSON value is not quoted: %s", j, msg)
			}
		default:
			if !strings.Contains(msg, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(msg, "&lt;img src=x onerror=alert(1)&gt;") {
				t.Errorf("%s: the target's text is not shown escaped: %s", j, msg)
			}
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("Content-Security-Policy %q, X-Content-Type-Options %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}
	if strings.Contains(page, "<script") {
		t.Error("the status page has a script element")
	}

	// The API and the artifacts quote the target as JSON data, served as
	// JSON, never sniffed into HTML.
	for _, path := range []string{"/api/v1/journeys", "/api/v1/artifacts"} {
		resp, err := http.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: %q, %q, %q", path, resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Content-Security-Policy"))
		}
		if path == "/api/v1/artifacts" && browser && !strings.Contains(string(b), "alert(1)") {
			t.Errorf("the artifacts do not quote the page's console: %.500s", b)
		}
	}
}
