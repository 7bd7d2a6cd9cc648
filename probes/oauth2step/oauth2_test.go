package oauth2step_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(t *testing.T, yaml string, args ...any) probes.Result {
	t.Helper()
	_, js := probetest.Compile(t, fmt.Sprintf(yaml, args...))
	return js[0].Execute(context.Background(), nil, js[0].Variants[0], "")
}

func want(t *testing.T, res probes.Result, reason probes.Reason, msg string) {
	t.Helper()
	if res.Reason != reason {
		t.Fatalf("reason %q at %q (%s); want %q", res.Reason, res.FailedStep, res.Message, reason)
	}
	if !strings.Contains(res.Message, msg) {
		t.Errorf("message %q should contain %q", res.Message, msg)
	}
}

// Exact token endpoints for every way a token request can fail.
func TestTokenEndpointReasons(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		reason probes.Reason
		msg    string
	}{
		{"ok", 200, "application/json", `{"access_token":"at","token_type":"Bearer","expires_in":300,"scope":"api"}`, "", ""},
		{"ok, token_type in lower case", 200, "application/json; charset=utf-8", `{"access_token":"at","token_type":"bearer"}`, "", ""},
		{"wrong client secret", 401, "application/json", `{"error":"invalid_client","error_description":"client authentication failed"}`, probes.ReasonInvalidCredentials, "invalid_client: client authentication failed"},
		{"wrong password", 400, "application/json", `{"error":"invalid_grant"}`, probes.ReasonInvalidCredentials, "invalid_grant"},
		{"other OAuth error", 400, "application/json", `{"error":"invalid_scope"}`, probes.ReasonIdPError, "invalid_scope"},
		{"server error", 503, "text/html", `<h1>upstream down</h1>`, probes.ReasonIdPError, "status 503"},
		{"server error saying invalid_grant", 503, "application/json", `{"error":"invalid_grant"}`, probes.ReasonIdPError, "failed (status 503): invalid_grant"},
		{"HTML with 200", 200, "text/html", `<html>login</html>`, probes.ReasonTokenResponse, "not application/json"},
		{"not JSON", 200, "application/json", `{"access_token":`, probes.ReasonTokenResponse, "not a JSON object"},
		{"no access token", 200, "application/json", `{"token_type":"Bearer"}`, probes.ReasonTokenResponse, "no access_token"},
		{"wrong token type", 200, "application/json", `{"access_token":"at","token_type":"mac"}`, probes.ReasonTokenResponse, `token_type is "mac"`},
		{"expires_in as text", 200, "application/json", `{"access_token":"at","token_type":"Bearer","expires_in":"soon"}`, probes.ReasonTokenResponse, "expires_in is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got url.Values
			var user, pass string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/token" {
					return
				}
				r.ParseForm()
				got = r.PostForm
				user, pass, _ = r.BasicAuth()
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			res := run(t, `
journeys:
  - name: j
    steps:
      - name: token
        oauth2: { token_url: "%s/token", grant: client_credentials, client_id: "my client", client_secret: "s3cr&t", scopes: [api, read] }
      - name: use
        http: { url: "%[1]s/use", headers: { Authorization: "Bearer {{ .access_token }}" } }
        expect: { status: 2xx }`, srv.URL)
			if tt.reason == "" {
				if res.FailedStep == "token" {
					t.Fatalf("%s: %s", res.Reason, res.Message)
				}
				if got.Get("grant_type") != "client_credentials" || got.Get("scope") != "api read" || user != "my+client" || pass != "s3cr%26t" {
					t.Errorf("request: form %v, basic %q:%q (RFC 6749 2.3.1 form-encodes both)", got, user, pass)
				}
				return
			}
			want(t, res, tt.reason, tt.msg)
		})
	}
}

// A fake identity provider for the authorization-code walk: the test sets
// which pages it shows.
type fakeIdP struct {
	*httptest.Server
	loginOK    func(r *http.Request) bool
	failStatus int    // status of the login form shown again; default 200
	answerTo   string // where the answer goes; default the redirect_uri
	action     string // where the login form posts; default /login
	mfa        bool
	consent    bool
	stateFn    func(string) string
	callback   func(q url.Values) url.Values
	lastToken  url.Values
	sawCSRF    bool
	codeIssued string
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{loginOK: func(r *http.Request) bool { return r.PostForm.Get("password") == "right" }}
	var state, redirect string
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		done := func() {
			q := url.Values{"code": {"the-code"}, "state": {state}, "iss": {f.URL}}
			if f.stateFn != nil {
				q.Set("state", f.stateFn(state))
			}
			if f.callback != nil {
				q = f.callback(q)
			}
			f.codeIssued = q.Get("code")
			to := redirect
			if f.answerTo != "" {
				to = f.answerTo
			}
			http.Redirect(w, r, to+"?"+q.Encode(), http.StatusFound)
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":"%[1]s/authorize","token_endpoint":"%[1]s/token"}`, f.URL)
		case "/authorize":
			if r.Form.Get("code_challenge_method") != "S256" || r.Form.Get("code_challenge") == "" || r.Form.Get("nonce") == "" {
				http.Error(w, "PKCE and nonce required", 400)
				return
			}
			state, redirect = r.Form.Get("state"), r.Form.Get("redirect_uri")
			http.SetCookie(w, &http.Cookie{Name: "interaction", Value: "i1", Path: "/"})
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		case "/login":
			if r.Method == http.MethodGet {
				action := f.action
				if action == "" {
					action = "/login"
				}
				fmt.Fprintf(w, `<html><form method="post" action="%s"><input type="hidden" name="csrf" value="c-42"><input name="username"><input type="password" name="password"><button name="action" value="signin">Sign in</button></form></html>`, action)
				return
			}
			if c, err := r.Cookie("interaction"); err != nil || c.Value != "i1" {
				http.Error(w, "no interaction cookie", 400)
				return
			}
			f.sawCSRF = r.PostForm.Get("csrf") == "c-42" && r.PostForm.Get("action") == "signin"
			if !f.loginOK(r) {
				if f.failStatus != 0 {
					w.WriteHeader(f.failStatus)
				}
				fmt.Fprint(w, `<html><form method="post" action="/login"><p class="error">Invalid username or password.</p><input name="username"><input type="password" name="password"></form></html>`)
				return
			}
			switch {
			case f.mfa:
				http.Redirect(w, r, "/mfa", http.StatusFound)
			case f.consent:
				http.Redirect(w, r, "/consent", http.StatusFound)
			default:
				done()
			}
		case "/mfa":
			if r.Method == http.MethodGet || r.PostForm.Get("otp") != "123456" {
				msg := ""
				if r.Method == http.MethodPost {
					msg = `<div role="alert">Wrong code</div>`
				}
				fmt.Fprintf(w, `<form method="post">%s<input name="otp"></form>`, msg)
				return
			}
			done()
		case "/consent":
			if r.Method == http.MethodGet {
				fmt.Fprint(w, `<h1>Allow app?</h1><form method="post"><button>Allow</button></form>`)
				return
			}
			done()
		case "/token":
			f.lastToken = r.PostForm
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"at-1","token_type":"Bearer","id_token":"it-1","refresh_token":"rt-1","expires_in":60}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func authCode(f *fakeIdP, password, login string) string {
	return fmt.Sprintf(`
journeys:
  - name: j
    steps:
      - name: login
        oauth2:
          issuer: %q
          grant: authorization_code
          client_id: web
          client_secret: web-secret
          redirect_uri: "https://app.example.com/callback"
          scopes: [openid]
          login: { form: { username: probe, password: %q }%s }
      - name: show
        http: { url: "%[1]s/show", headers: { X-Tokens: "{{ .access_token }} {{ .id_token }} {{ .refresh_token }} {{ .expires_in }} {{ .nonce }}" } }`,
		f.URL, password, login)
}

func TestAuthorizationCode(t *testing.T) {
	t.Run("through the login form", func(t *testing.T) {
		f := newFakeIdP(t)
		res := run(t, "%s", authCode(f, "right", ""))
		if res.Outcome != probes.OutcomeSuccess {
			t.Fatalf("%s at %s: %s", res.Reason, res.FailedStep, res.Message)
		}
		if !f.sawCSRF {
			t.Error("the hidden CSRF input and the submit button were not carried over")
		}
		tok := f.lastToken
		if tok.Get("grant_type") != "authorization_code" || tok.Get("code") != "the-code" || len(tok.Get("code_verifier")) < 43 ||
			tok.Get("redirect_uri") != "https://app.example.com/callback" {
			t.Errorf("the code exchange sent %v", tok)
		}
	})
	tests := []struct {
		name   string
		setup  func(*fakeIdP)
		pass   string
		login  string
		reason probes.Reason
		msg    string
	}{
		{"wrong password", nil, "wrong", "", probes.ReasonInvalidCredentials, `the login form again: "Invalid username or password."`},
		{"second factor", func(f *fakeIdP) { f.mfa = true }, "right", `, mfa: { form: { otp: "123456" } }`, "", ""},
		{"wrong second factor", func(f *fakeIdP) { f.mfa = true }, "right", `, mfa: { form: { otp: "000000" } }`, probes.ReasonMFA, `"Wrong code"`},
		{"consent", func(f *fakeIdP) { f.consent = true }, "right", `, consent: true`, "", ""},
		{"consent not configured", func(f *fakeIdP) { f.consent = true }, "right", "", probes.ReasonIdPError, "set login.consent: true"},
		{"state mismatch", func(f *fakeIdP) { f.stateFn = func(string) string { return "forged" } }, "right", "", probes.ReasonIdPError, `state "forged"`},
		{"issuer mix-up", func(f *fakeIdP) {
			f.callback = func(q url.Values) url.Values { q.Set("iss", "https://evil.example"); return q }
		}, "right", "", probes.ReasonIssuerMismatch, "https://evil.example"},
		{"wrong password shown again with a 400", func(f *fakeIdP) { f.failStatus = 400 }, "wrong", "", probes.ReasonInvalidCredentials, "Invalid username or password"},
		{"login form posting to another host", func(f *fakeIdP) { f.action = "http://collector.example/steal" }, "right", "", probes.ReasonIdPError, "add collector.example to login.allowed_hosts"},
		{"the answer sent elsewhere", func(f *fakeIdP) { f.answerTo = "http://app.example.com/callback" }, "right", "", probes.ReasonIdPError, "sent the authorization answer to http://app.example.com/callback, not to redirect_uri"},
		{"error redirect", func(f *fakeIdP) {
			f.callback = func(url.Values) url.Values {
				return url.Values{"error": {"server_error"}, "error_description": {"db down"}}
			}
		}, "right", "", probes.ReasonIdPError, "server_error: db down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIdP(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			res := run(t, "%s", authCode(f, tt.pass, tt.login))
			if tt.reason == "" {
				if res.Outcome != probes.OutcomeSuccess {
					t.Fatalf("%s at %s: %s", res.Reason, res.FailedStep, res.Message)
				}
				return
			}
			want(t, res, tt.reason, tt.msg)
			if strings.Contains(res.Message, "the-code") {
				t.Error("the authorization code reached a message")
			}
		})
	}
}

func TestAuthorizationLoop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/authorize?again=1", http.StatusFound)
	}))
	defer srv.Close()
	res := run(t, `
journeys:
  - name: j
    steps:
      - name: login
        oauth2: { authorization_url: "%[1]s/authorize", token_url: "%[1]s/token", grant: authorization_code, client_id: web,
                  redirect_uri: "https://app.example.com/cb", login: { form: { username: u, password: p } } }`, srv.URL)
	want(t, res, probes.ReasonRedirectLoop, "no redirect to https://app.example.com/cb")
}

func TestConfigErrors(t *testing.T) {
	err := probetest.Errors(t, `
journeys:
  - name: j
    steps:
      - { name: a, oauth2: { grant: implicit, token_url: "https://x.example/t" } }
      - { name: b, oauth2: { grant: password, issuer: "https://x.example", client_id: c, client_secret: s } }
      - { name: c, oauth2: { grant: authorization_code, client_id: c } }
      - { name: d, oauth2: { grant: client_credentials, issuer: "https://x.example", client_id: c, client_auth: private_key_jwt, private_key: "not pem" } }`)
	err += probetest.Errors(t, `
journeys:
  - name: j
    steps:
      - { name: e, oauth2: { grant: refresh_token, token_url: "https://x.example/t" } }`)
	err += probetest.Errors(t, `
journeys:
  - name: j
    steps:
      - { name: f, oauth2: { grant: client_credentials, token_url: "https://x.example/t", client_id: c, client_secret: s,
                             username: u, password: p, pkce: false, params: { state: x, audience: a } } }
      - { name: g, oauth2: { grant: client_credentials, token_url: "https://x.example/t", client_id: c, client_secret: s, client_auth: none, key_id: k } }`)
	for _, w := range []string{
		`steps[0].oauth2.grant: "implicit" is not a grant authprobe knows`,
		`steps[1].oauth2: the password grant needs username and password`,
		`steps[2].oauth2.redirect_uri: is required for authorization_code`,
		`steps[2].oauth2.login: is required for authorization_code`,
		`steps[2].oauth2.token_url: is required without issuer`,
		`steps[3].oauth2.private_key: is not a PEM private key`,
		`steps[0].oauth2.refresh_token: uses {{ .refresh_token }}, which no earlier step or vars sets`,
		`steps[0].oauth2: username and password only apply to grant password, not client_credentials`,
		`steps[0].oauth2.pkce: only applies to grant authorization_code, not client_credentials`,
		`steps[0].oauth2.params.state: is set by authprobe from the step's settings`,
		`steps[1].oauth2.client_secret: is not used with client_auth none`,
		`steps[1].oauth2.private_key: and key_id only apply to client_auth private_key_jwt`,
	} {
		if !strings.Contains(err, w) {
			t.Errorf("errors lack %q:\n%s", w, err)
		}
	}
}

// An identity provider that echoes the client's secret into a long error
// description: the message never holds any part of it.
func TestEchoedSecretIsHidden(t *testing.T) {
	const secret = "S3CRET-client-value-42"
	t.Setenv("T_SECRET", secret)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, _ := r.BasicAuth()
		pass, _ = url.QueryUnescape(pass)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, strings.Repeat("x", 110)+" got "+pass+" via "+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	cfg, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: j
    steps:
      - { name: token, oauth2: { token_url: "%s/token", grant: client_credentials, client_id: c, client_secret: "${env:T_SECRET}" } }`, srv.URL))
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	res := js[0].Execute(context.Background(), env, js[0].Variants[0], "")
	if res.Reason != probes.ReasonIdPError {
		t.Fatalf("%s: %s", res.Reason, res.Message)
	}
	if strings.Contains(res.Message, secret[:6]) || strings.Contains(res.Message, "Basic Yz") {
		t.Errorf("a part of the secret or the Basic header is in %q", res.Message)
	}
}
