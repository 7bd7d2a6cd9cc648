package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authprobe/authprobe/test/idp"
)

// The secrets audit: every step kind configured with secrets against real
// targets — the npm oidc-provider, httptest servers, Chromium — run by the
// real binary with debug logs and traces exported over OTLP, some steps
// failing so that messages and artifacts exist. Then everything authprobe
// shows anyone is collected, and none of it may hold a configured secret
// or a token obtained at run time, raw or in the encodings a target or a
// library might put it in (URL, base64, JSON, HTML escaping). A token's
// fingerprint is allowed; none of these surfaces shows one today.
func TestSecretsAudit(t *testing.T) {
	withoutOTEL(t)
	browser := chromiumInstalled(t)
	seed := auditSeed(t)
	p := idp.Start(t, idp.Options{TOTPSeed: seed})

	// Configured secrets, unique, some with the characters that make their
	// escaped forms differ from them.
	s := auditSecrets{
		"env password":        `Audit-Pw "q" &<x>/+= 7c41`,
		"env API key":         "ak-static-58b0",
		"file basic password": "basic/Pw:9d1e",
		"file wrong secret":   "wrong-client-secret-31f0",
		"env hostile secret":  "hostile-secret+4be2",
		"env browser pw":      "br0wser-Pw-6a2c",
		"env wrong password":  "wrong-idp-password-0d7a",
		"idp password":        idp.Password,
		"idp mfa password":    idp.MFAPassword,
		"file ropc secret":    idp.PasswordSecret,
		"file web secret":     idp.WebSecret,
		"env totp seed":       seed,
	}
	// Basic credentials are sent as base64 of "user:password".
	basics := map[string]string{
		"basic header":        "svc:" + s["file basic password"],
		"ropc client basic":   idp.PasswordClient + ":" + s["file ropc secret"],
		"web client basic":    idp.WebClient + ":" + s["file web secret"],
		"wrong client basic":  idp.CCClient + ":" + url.QueryEscape(s["file wrong secret"]),
		"hostile client post": "audit:" + url.QueryEscape(s["env hostile secret"]),
	}
	const httpToken = "rt/9f3K=AuditToken+e1"

	app := newAuditTarget(t, s, httpToken)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "secrets"), 0o700)
	for name, v := range map[string]string{"basic": s["file basic password"], "wrong": s["file wrong secret"],
		"ropc": s["file ropc secret"], "web": s["file web secret"]} {
		os.WriteFile(filepath.Join(dir, "secrets", name), []byte(v+"\n"), 0o600)
	}
	env := []string{
		"AUDIT_PASSWORD=" + s["env password"], "AUDIT_API_KEY=" + s["env API key"],
		"AUDIT_HOSTILE_SECRET=" + s["env hostile secret"], "AUDIT_BROWSER_PASSWORD=" + s["env browser pw"],
		"AUDIT_WRONG_PASSWORD=" + s["env wrong password"], "AUDIT_IDP_PASSWORD=" + s["idp password"],
		"AUDIT_MFA_PASSWORD=" + s["idp mfa password"], "AUDIT_TOTP_SEED=" + seed,
	}
	cfg := filepath.Join(dir, "authprobe.yaml")
	good := auditConfig(app.URL, p.Issuer, freePort(t), browser)
	writeConfig(t, cfg, "%s", good)

	recv := newReceiver(t)
	proc := startProcess(t, append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.URL, "OTEL_BSP_SCHEDULE_DELAY=100"),
		"run", "--config", cfg, "--log.level", "debug", "--config.watch=false")

	want := map[string]string{
		"form-login": "http_status", "idp-tokens": "token_rejected", "idp-mfa": "", "idp-wrong-secret": "invalid_credentials",
		"idp-wrong-password": "invalid_credentials", "hostile-token": "invalid_credentials", "hostile-token-basic": "invalid_credentials",
		"unreachable": "connect",
	}
	if browser {
		want["browser-login"] = "element_not_found"
	}
	proc.waitFor(t, 60*time.Second, "every journey's expected outcome", func() bool {
		got := proc.series(t)
		for name, reason := range want {
			if st := got[name]; st.Runs == 0 || st.Reason != reason {
				return false
			}
		}
		return true
	})
	if browser {
		proc.waitFor(t, 10*time.Second, "the browser's artifact", func() bool {
			_, body := proc.get("/api/v1/artifacts")
			return strings.Contains(body, `"has_screenshot": true`)
		})
	}
	// The run-time tokens the real IdP issued, as the API target got them.
	tokens := app.tokens()
	for _, kind := range []string{"idp access token", "idp refresh token", "idp id token", "idp mfa access token", "idp mfa refresh token"} {
		if len(tokens[kind]) == 0 {
			t.Errorf("the API target never got the %s", kind)
		}
	}

	surfaces := map[string][]byte{}
	add := func(name string, b []byte) { surfaces[name] = append(surfaces[name], b...) }
	for _, path := range []string{"/", "/api/v1/journeys", "/api/v1/artifacts", "/metrics", "/-/healthy", "/-/ready"} {
		add(path, auditGet(t, proc.base+path))
	}
	add("/metrics (OpenMetrics)", []byte(getOpenMetrics(t, proc)))
	var artifacts []struct {
		ID            uint64 `json:"id"`
		HasScreenshot bool   `json:"has_screenshot"`
		Console       []string
		Network       []string
	}
	json.Unmarshal(surfaces["/api/v1/artifacts"], &artifacts)
	if browser && len(artifacts) == 0 {
		t.Error("no artifacts to audit")
	}
	for _, a := range artifacts {
		add("/api/v1/artifacts/{id}", auditGet(t, fmt.Sprintf("%s/api/v1/artifacts/%d", proc.base, a.ID)))
		if a.HasScreenshot {
			shot := auditGet(t, fmt.Sprintf("%s/api/v1/artifacts/%d/screenshot.png", proc.base, a.ID))
			if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
				t.Errorf("artifact %d: the screenshot is not a PNG: %v", a.ID, err)
			}
			add("screenshot.png", shot)
		}
		t.Logf("artifact %d: console %q, network %q", a.ID, a.Console, a.Network)
	}

	// A bad reload whose every error is about a field holding a secret.
	writeConfig(t, cfg, "%s", badAuditConfig(app.URL))
	code, reloadBody := proc.post("/-/reload")
	if code != 400 {
		t.Errorf("POST /-/reload of a bad config: %d %s", code, reloadBody)
	}
	t.Logf("the bad reload's errors:\n%s", reloadBody)
	add("POST /-/reload", []byte(reloadBody))
	add("/ after the bad reload", auditGet(t, proc.base+"/"))
	add("/api/v1/journeys after the bad reload", auditGet(t, proc.base+"/api/v1/journeys"))
	r := runCLI(t, env, "check", "--config", cfg)
	if r.code != 1 {
		t.Errorf("check of the bad config: exit %d", r.code)
	}
	add("check (bad config)", []byte(r.stdout+r.stderr))
	writeConfig(t, cfg, "%s", good)
	r = runCLI(t, env, "check", "--config", cfg)
	if r.code != 0 {
		t.Errorf("check: exit %d\n%s", r.code, r.stderr)
	}
	add("check", []byte(r.stdout+r.stderr))

	onceRecv := newReceiver(t)
	onceEnv := append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+onceRecv.URL)
	r = runCLI(t, onceEnv, "once", "--config", cfg, "--log.level", "debug")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL form-login") {
		t.Errorf("once: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	add("once", []byte(r.stdout+r.stderr))
	r = runCLI(t, onceEnv, "once", "--config", cfg, "--log.level", "debug", "--output", "json")
	add("once --output json", []byte(r.stdout+r.stderr))

	proc.waitFor(t, 5*time.Second, "spans at the receiver", func() bool { return len(recv.rawBytes()) > 0 && len(onceRecv.rawBytes()) > 0 })
	for _, rc := range []*otlpReceiver{recv, onceRecv} {
		for _, b := range rc.rawBytes() {
			add("OTLP export bytes", b)
		}
		add("OTLP strings", []byte(strings.Join(rc.strings(), "\n")))
	}
	add("run logs (stdout+stderr)", []byte(proc.logs()))

	// What the JSON and HTML surfaces hold once decoded, as their readers
	// see it: a form escaped once more on the way out is found too.
	for name, b := range maps.Clone(surfaces) {
		if strs := auditJSONStrings(b); strs != "" {
			add(name+" (JSON decoded)", []byte(strs))
		}
		if strings.HasPrefix(string(b), "<!doctype html>") {
			add(name+" (HTML decoded)", []byte(html.UnescapeString(string(b))))
		}
	}

	// Every configured secret and run-time token in every form.
	forms := map[string]string{}
	for name, v := range s {
		auditForms(forms, name, v)
	}
	for name, v := range basics {
		auditForms(forms, name, v)
	}
	auditForms(forms, "http token", httpToken)
	for kind, vs := range tokens {
		for i, v := range vs {
			auditForms(forms, fmt.Sprintf("%s #%d", kind, i), v)
		}
	}
	names := slices.Sorted(maps.Keys(surfaces))
	for _, surface := range names {
		text := surfaces[surface]
		if len(text) == 0 {
			t.Errorf("%s: nothing collected", surface)
		}
		leaked := map[string]bool{}
		for form, v := range forms {
			if i := bytes.Index(text, []byte(v)); i >= 0 {
				secret, _, _ := strings.Cut(form, " (")
				if leaked[secret] {
					continue
				}
				leaked[secret] = true
				t.Errorf("%s holds %s: …%s…", surface, form, auditAround(text, i, len(v)))
			}
		}
		for _, m := range auditCredentialParam.FindAllSubmatchIndex(text, -1) {
			if v := string(text[m[2]:m[3]]); !auditMasked(v) {
				t.Errorf("%s holds an unmasked credential parameter: …%s…", surface, auditAround(text, m[0], m[1]-m[0]))
			}
		}
	}
	// A page that logs its password input's every change would have put
	// every prefix of the password in its console had it been typed key by
	// key.
	if browser {
		pw := s["env browser pw"]
		for n := 4; n < len(pw); n++ {
			for _, surface := range names {
				if bytes.Contains(surfaces[surface], []byte(pw[:n])) {
					t.Errorf("%s holds the first %d characters of the browser password", surface, n)
					break
				}
			}
		}
	}
	if !bytes.Contains(surfaces["/api/v1/journeys"], []byte("<secret>")) {
		t.Error("the API shows no masked value; the journeys did not exercise the redactor")
	}
}

// auditSecrets are the configured secrets by description.
type auditSecrets map[string]string

// auditForms adds the forms a value can take on the way out: as is,
// URL-escaped (query and path, and as a URL prints its path), base64
// (standard and URL alphabets, padded or not), JSON-escaped (with and
// without HTML escaping) and HTML-escaped.
func auditForms(forms map[string]string, name, v string) {
	add := func(form, s string) {
		if s != "" {
			forms[name+" ("+form+")"] = s
		}
	}
	add("raw", v)
	add("query-escaped", url.QueryEscape(v))
	add("path-escaped", url.PathEscape(v))
	add("in a URL path", (&url.URL{Path: v}).EscapedPath())
	add("base64", base64.StdEncoding.EncodeToString([]byte(v)))
	add("base64 unpadded", base64.RawStdEncoding.EncodeToString([]byte(v)))
	add("base64url", base64.URLEncoding.EncodeToString([]byte(v)))
	add("base64url unpadded", base64.RawURLEncoding.EncodeToString([]byte(v)))
	j, _ := json.Marshal(v)
	add("JSON-escaped", string(j[1:len(j)-1]))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	add("JSON-escaped, HTML kept", strings.TrimSuffix(b.String(), "\n")[1:len(strings.TrimSuffix(b.String(), "\n"))-1])
	add("HTML-escaped", html.EscapeString(v))
}

// auditCredentialParam finds parameters that carry credentials in URLs, forms
// and JSON; their values must be masked wherever they are shown.
var auditCredentialParam = regexp.MustCompile(`(?i)[?&"](?:code|code_verifier|client_secret|password|access_token|refresh_token|id_token|client_assertion)(?:=|":\s*")([^&\s"'<>\\]+)`)

func auditMasked(v string) bool {
	for _, m := range []string{"REDACTED", "<secret>", "%3Csecret%3E", "&lt;secret&gt;", "\\u003csecret\\u003e", "{{"} {
		if strings.HasPrefix(v, m) {
			return true
		}
	}
	return false
}

func auditAround(b []byte, i, n int) string {
	from, to := max(0, i-60), min(len(b), i+n+60)
	return strings.ToValidUTF8(string(b[from:to]), "?")
}

func auditGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func auditSeed(t *testing.T) string {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// chromiumInstalled reports whether browser steps can run; without Chromium a
// test leaves them out, and fails in CI.
func chromiumInstalled(t *testing.T) bool {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Log("chromium is not installed (apt-get install chromium); leaving the browser journey out")
		return false
	}
	return true
}

// auditTarget is the application the audit's journeys log in to and the API
// they use. It checks the credentials it gets, echoes them back in its
// errors as careless and hostile servers do, and records the tokens the
// real IdP issued so that the test can look for them.
type auditTarget struct {
	*httptest.Server
	mu  sync.Mutex
	got map[string][]string
}

func (a *auditTarget) record(kind, v string) {
	if v == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.got[kind], v) {
		a.got[kind] = append(a.got[kind], v)
	}
}

func (a *auditTarget) tokens() map[string][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string][]string{}
	for k, v := range a.got {
		out[k] = slices.Clone(v)
	}
	return out
}

func newAuditTarget(t *testing.T, s auditSecrets, token string) *auditTarget {
	t.Helper()
	a := &auditTarget{got: map[string][]string{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login":
			user, pass, ok := r.BasicAuth()
			if r.Method != http.MethodPost || !ok || user != "svc" || pass != s["file basic password"] || r.FormValue("password") != s["env password"] {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q}`, token)
		case r.URL.Path == "/echo/json":
			// Careless APIs: their errors quote what they got, as
			// validation errors do, JSON-encoded or as text.
			var in map[string]string
			json.NewDecoder(r.Body).Decode(&in)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]string{"detail": "invalid password " + in["password"] + " with " + in["token"]})
		case r.URL.Path == "/echo/form":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]string{"detail": "invalid password " + r.FormValue("password") + " with " + r.FormValue("token")})
		case r.URL.Path == "/echo/query":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad query %s (t=%s)\n", r.URL.RawQuery, r.URL.Query().Get("t"))
		case r.URL.Path == "/echo/auth":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "upstream refused Authorization: %s X-Api-Key: %s\n", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		case strings.HasPrefix(r.URL.Path, "/record/"):
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			prefix := "idp "
			if r.URL.Path == "/record/ok" {
				prefix = "idp mfa "
			}
			a.record(prefix+"access token", strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			a.record(prefix+"refresh token", auditFirst(r.URL.Query().Get("rt"), form.Get("refresh_token"), r.Header.Get("X-Refresh")))
			a.record("idp id token", r.URL.Query().Get("id_token"))
			if r.URL.Path == "/record/ok" {
				fmt.Fprintln(w, "ok")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "token %s is not for this API (refresh %s)\n", r.Header.Get("Authorization"), form.Get("refresh_token"))
		case r.URL.Path == "/token-hostile":
			// A hostile token endpoint: it refuses and quotes the client's
			// credentials back, in every encoding it can think of.
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			desc := fmt.Sprintf("bad client: %s %s %s %s", r.Header.Get("Authorization"), body, form.Get("client_secret"),
				base64.StdEncoding.EncodeToString([]byte(form.Get("client_secret"))))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": desc})
		case r.URL.Path == "/page":
			// A login page that reads the password as it is typed and puts
			// it in its console, its title and its requests.
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<!doctype html><html><head><title>Sign in</title></head><body>
<form><input id="username" name="username"><input id="password" name="password" type="password"></form>
<script>
const pw = document.getElementById('password');
pw.addEventListener('input', () => console.error('key ' + pw.value));
pw.addEventListener('change', () => {
  const v = pw.value;
  console.error('typed ' + v);
  document.title = 'pw ' + v;
  fetch('/nope/' + encodeURIComponent(v) + '?pw=' + encodeURIComponent(v)).catch(() => {});
  fetch('/raw/' + v).catch(() => {});
});
</script></body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// auditJSONStrings returns every string in a JSON document or a stream of
// them, one a line; "" if b is not JSON.
func auditJSONStrings(b []byte) string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				out = append(out, k)
				walk(e)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			break
		}
		walk(v)
	}
	return strings.Join(out, "\n")
}

func auditFirst(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// auditConfig uses every step kind with secrets: a password from
// ${env:...}, client secrets from ${file:...}, a TOTP seed, basic auth, a
// bearer token extracted as a secret and sent in headers, the query and the
// body, and a browser step typing a password. Most journeys fail, so that
// their messages quote what the targets said.
func auditConfig(app, issuer, closed string, browser bool) string {
	cfg := fmt.Sprintf(`
global: { interval: 4s, timeout: 4s, location: audit }
journeys:
  - name: form-login
    steps:
      - name: login
        http:
          method: POST
          url: "%[1]s/login"
          form: { user: probe, password: "${env:AUDIT_PASSWORD}" }
          basic_auth: { username: svc, password: "${file:secrets/basic}" }
        extract: { access_token: { json: "$.access_token", secret: true } }
      - name: json
        always: true
        http: { url: "%[1]s/echo/json", json: { password: "${env:AUDIT_PASSWORD}", token: "{{ .access_token }}" } }
      - name: form
        always: true
        http: { url: "%[1]s/echo/form", form: { password: "${env:AUDIT_PASSWORD}", token: "{{ .access_token }}" } }
      - name: query
        always: true
        http: { url: "%[1]s/echo/query?t={{ .access_token }}&q={{ urlquery .access_token }}&k=${env:AUDIT_API_KEY}" }
      - name: header
        always: true
        http: { url: "%[1]s/echo/auth", headers: { Authorization: "Bearer {{ .access_token }}", X-Api-Key: "${env:AUDIT_API_KEY}" } }
      - name: basic
        always: true
        http: { url: "%[1]s/echo/auth", basic_auth: { username: svc, password: "${file:secrets/basic}" } }
  - name: idp-tokens
    steps:
      - name: token
        oauth2: { issuer: %[2]q, grant: password, client_id: %[4]s, client_secret: "${file:secrets/ropc}",
                  username: %[5]s, password: "${env:AUDIT_IDP_PASSWORD}", scopes: [api, openid, offline_access] }
      - name: validate
        jwt: { token: "{{ .access_token }}", issuer: %[2]q, audience: %[6]q }
      - name: use
        http:
          method: POST
          url: "%[1]s/record/reject?rt={{ urlquery .refresh_token }}"
          headers: { Authorization: "Bearer {{ .access_token }}", Content-Type: application/x-www-form-urlencoded }
          body: "refresh_token={{ urlquery .refresh_token }}&access_token={{ urlquery .access_token }}"
  - name: idp-mfa
    steps:
      - name: login
        oauth2:
          issuer: %[2]q
          grant: authorization_code
          client_id: %[7]s
          client_secret: "${file:secrets/web}"
          redirect_uri: %[8]q
          scopes: [openid, profile, api]
          login:
            form: { username: %[9]s, password: "${env:AUDIT_MFA_PASSWORD}" }
            mfa: { form: { otp: '{{ totp "${env:AUDIT_TOTP_SEED}" }}' } }
      - name: id-token
        jwt: { token: "{{ .id_token }}", issuer: %[2]q, audience: %[7]s, nonce: "{{ .nonce }}" }
      - name: record
        http:
          url: "%[1]s/record/ok?id_token={{ .id_token }}"
          headers: { Authorization: "Bearer {{ .access_token }}", X-Refresh: "{{ .refresh_token }}" }
  - name: idp-wrong-secret
    steps:
      - name: token
        oauth2: { issuer: %[2]q, grant: client_credentials, client_id: %[10]s, client_secret: "${file:secrets/wrong}" }
  - name: idp-wrong-password
    steps:
      - name: login
        oauth2:
          issuer: %[2]q
          grant: authorization_code
          client_id: %[7]s
          client_secret: "${file:secrets/web}"
          redirect_uri: %[8]q
          scopes: [openid]
          login: { form: { username: %[5]s, password: "${env:AUDIT_WRONG_PASSWORD}" } }
  - name: hostile-token
    steps:
      - name: token
        oauth2: { token_url: "%[1]s/token-hostile", grant: client_credentials, client_id: audit,
                  client_secret: "${env:AUDIT_HOSTILE_SECRET}", client_auth: client_secret_post }
  - name: hostile-token-basic
    steps:
      - name: token
        oauth2: { token_url: "%[1]s/token-hostile", grant: password, client_id: audit, client_secret: "${file:secrets/wrong}",
                  username: probe, password: "${env:AUDIT_PASSWORD}" }
  - name: unreachable
    steps:
      - name: get
        http: { url: "http://%[3]s/p/${env:AUDIT_API_KEY}/${file:secrets/basic}?k=${file:secrets/basic}&h=${env:AUDIT_HOSTILE_SECRET}" }
`, app, issuer, closed, idp.PasswordClient, idp.User, idp.Audience, idp.WebClient, idp.RedirectURI, idp.MFAUser, idp.CCClient)
	if browser {
		cfg += fmt.Sprintf(`  - name: browser-login
    steps:
      - name: login
        browser:
          action_timeout: 1s
          actions:
            - navigate: "%[1]s/page"
            - fill: { selector: "#username", value: probe }
            - fill: { selector: "#password", value: "${env:AUDIT_BROWSER_PASSWORD}" }
            - click: "#username"
            - wait_visible: "#signed-in"
`, app)
	}
	return cfg
}

// badAuditConfig has an error in every field that takes a secret and can
// be wrong in a way a message would like to quote.
func badAuditConfig(app string) string {
	return fmt.Sprintf(`
global: { interval: 4s, timeout: "${env:AUDIT_PASSWORD}" }
journeys:
  - name: broken
    steps:
      - name: url
        http: { url: "${env:AUDIT_PASSWORD}", headers: { X-Key: "${env:AUDIT_PASSWORD}\n" } }
        extract: { v: { regex: "${env:AUDIT_PASSWORD}(" } }
        expect: { status: "${env:AUDIT_API_KEY}", header: { X: "${env:AUDIT_PASSWORD}[" } }
      - name: token
        oauth2: { issuer: "${env:AUDIT_API_KEY}", grant: "${env:AUDIT_HOSTILE_SECRET}", client_id: x, client_secret: "${file:secrets/missing}" }
      - name: jwt
        jwt: { token: "{{ .nope }}", issuer: "${env:AUDIT_API_KEY}", audience: x, leeway: "${file:secrets/basic}" }
      - name: browse
        browser: { actions: [{ navigate: "%s/${file:secrets/wrong}" }, { press: { selector: x, key: "${env:AUDIT_BROWSER_PASSWORD}" } }] }
`, app)
}
