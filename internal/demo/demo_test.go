package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

// testRealm is a realm on its own listener plus its control endpoints on another,
// as `authprobe demo` runs them.
type testRealm struct {
	*Realm
	site, control *httptest.Server
	api           map[int]*httptest.Server // replicas of the protected API
	password      string
	secret        string
}

func newTestRealm(t *testing.T) *testRealm {
	t.Helper()
	pw, secret := "pw-"+rand.Text(), "secret-"+rand.Text()
	r, err := New(pw, secret)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tr := &testRealm{Realm: r, password: pw, secret: secret}
	tr.site = httptest.NewServer(r.Handler())
	tr.control = httptest.NewServer(r.ControlHandler())
	r.SetIssuer(tr.site.URL)
	t.Cleanup(tr.site.Close)
	t.Cleanup(tr.control.Close)
	tr.api = map[int]*httptest.Server{}
	for i := 1; i <= Replicas; i++ {
		tr.api[i] = httptest.NewServer(r.APIHandler(i))
		t.Cleanup(tr.api[i].Close)
	}
	return tr
}

// browser returns a client that keeps cookies and shows redirects instead of following them.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func get(t *testing.T, c *http.Client, u string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

var csrfRE = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)

func loginPage(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	resp := get(t, c, base+"/login")
	if resp.status != http.StatusOK {
		t.Fatalf("GET /login: status %d, want 200", resp.status)
	}
	m := csrfRE.FindStringSubmatch(resp.body)
	if m == nil {
		t.Fatalf("GET /login: no csrf field in %q", resp.body)
	}
	return m[1]
}

func TestPasswordLogin(t *testing.T) {
	tr := newTestRealm(t)
	base := tr.site.URL

	tests := []struct {
		name string
		// form builds the POST from the csrf token the client's own GET received.
		form       func(csrf string) url.Values
		fromOther  bool // post with another browser's csrf token
		wantStatus int
		wantBody   string
	}{
		{
			name: "success",
			form: func(csrf string) url.Values {
				return url.Values{"username": {"probe"}, "password": {tr.password}, "csrf": {csrf}}
			},
			wantStatus: http.StatusFound,
		},
		{
			name: "wrong password",
			form: func(csrf string) url.Values {
				return url.Values{"username": {"probe"}, "password": {"nope"}, "csrf": {csrf}}
			},
			wantStatus: http.StatusOK,
			wantBody:   `<p class="error">Invalid username or password</p>`,
		},
		{
			name: "wrong user",
			form: func(csrf string) url.Values {
				return url.Values{"username": {"admin"}, "password": {tr.password}, "csrf": {csrf}}
			},
			wantStatus: http.StatusOK,
			wantBody:   "Invalid username or password",
		},
		{
			name: "bad csrf",
			form: func(string) url.Values {
				return url.Values{"username": {"probe"}, "password": {tr.password}, "csrf": {"forged"}}
			},
			wantStatus: http.StatusForbidden,
			wantBody:   "invalid csrf token",
		},
		{
			name:       "missing csrf",
			form:       func(string) url.Values { return url.Values{"username": {"probe"}, "password": {tr.password}} },
			wantStatus: http.StatusForbidden,
			wantBody:   "invalid csrf token",
		},
		{
			name: "csrf of another pre-session",
			form: func(csrf string) url.Values {
				return url.Values{"username": {"probe"}, "password": {tr.password}, "csrf": {csrf}}
			},
			fromOther:  true,
			wantStatus: http.StatusForbidden,
			wantBody:   "invalid csrf token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := browser(t)
			csrf := loginPage(t, c, base)
			if tt.fromOther {
				csrf = loginPage(t, browser(t), base)
			}
			resp := postForm(t, c, base+"/login", tt.form(csrf))
			if resp.status != tt.wantStatus {
				t.Fatalf("POST /login: status %d, want %d; body %q", resp.status, tt.wantStatus, resp.body)
			}
			if !strings.Contains(resp.body, tt.wantBody) {
				t.Errorf("POST /login: body %q does not contain %q", resp.body, tt.wantBody)
			}
			if tt.wantStatus != http.StatusFound {
				if acc := get(t, c, base+"/account"); acc.status != http.StatusFound {
					t.Errorf("GET /account after failed login: status %d, want 302", acc.status)
				}
				return
			}

			if loc := resp.header.Get("Location"); loc != "/account" {
				t.Errorf("Location %q, want /account", loc)
			}
			var session *http.Cookie
			for _, ck := range (&http.Response{Header: resp.header}).Cookies() {
				if ck.Name == "session" {
					session = ck
				}
			}
			if session == nil || session.Value == "" || !session.HttpOnly || session.Path != "/" {
				t.Fatalf("session cookie %+v, want a non-empty HttpOnly cookie on /", session)
			}
			acc := get(t, c, base+"/account")
			if acc.status != http.StatusOK || !strings.Contains(acc.body, "<h1>Welcome, probe</h1>") {
				t.Fatalf("GET /account: status %d body %q, want 200 with the welcome", acc.status, acc.body)
			}

			// The csrf token was used; replaying it must fail.
			if replay := postForm(t, c, base+"/login", tt.form(csrf)); replay.status != http.StatusForbidden {
				t.Errorf("replayed csrf: status %d, want 403", replay.status)
			}

			req, _ := http.NewRequest(http.MethodPost, base+"/logout", nil)
			if out := do(t, c, req); out.status != http.StatusFound || out.header.Get("Location") != "/login" {
				t.Errorf("POST /logout: status %d Location %q, want 302 to /login", out.status, out.header.Get("Location"))
			}
			if acc := get(t, c, base+"/account"); acc.status != http.StatusFound {
				t.Errorf("GET /account after logout: status %d, want 302", acc.status)
			}
		})
	}
}

func TestWrongPasswordOffersNewForm(t *testing.T) {
	tr := newTestRealm(t)
	c := browser(t)
	csrf := loginPage(t, c, tr.site.URL)
	resp := postForm(t, c, tr.site.URL+"/login", url.Values{"username": {"probe"}, "password": {"nope"}, "csrf": {csrf}})
	m := csrfRE.FindStringSubmatch(resp.body)
	if m == nil {
		t.Fatalf("re-shown form has no csrf field: %q", resp.body)
	}
	// A user who mistyped must be able to try again from the page they see.
	ok := postForm(t, c, tr.site.URL+"/login", url.Values{"username": {"probe"}, "password": {tr.password}, "csrf": {m[1]}})
	if ok.status != http.StatusFound {
		t.Errorf("second attempt: status %d, want 302", ok.status)
	}
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
}

// fetchToken gets a client_credentials token the way the built-in config does.
func fetchToken(t *testing.T, tr *testRealm) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tr.site.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("probe", tr.secret)
	resp := do(t, http.DefaultClient, req)
	var tok tokenJSON
	if err := json.Unmarshal([]byte(resp.body), &tok); err != nil || resp.status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: status %d body %q err %v", resp.status, resp.body, err)
	}
	return tok.AccessToken
}

func callAPI(t *testing.T, base, authorization string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return do(t, http.DefaultClient, req)
}

func TestTokenEndpoint(t *testing.T) {
	tr := newTestRealm(t)
	base := tr.site.URL

	tests := []struct {
		name       string
		form       url.Values
		basic      []string // client id, secret
		wantStatus int
		wantError  string
		wantSub    string
	}{
		{
			name:       "client_credentials with basic auth",
			form:       url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}},
			basic:      []string{"probe", tr.secret},
			wantStatus: http.StatusOK,
			wantSub:    "probe",
		},
		{
			name:       "client_credentials with form auth",
			form:       url.Values{"grant_type": {"client_credentials"}, "client_id": {"probe"}, "client_secret": {tr.secret}},
			wantStatus: http.StatusOK,
			wantSub:    "probe",
		},
		{
			name:       "password grant",
			form:       url.Values{"grant_type": {"password"}, "username": {"probe"}, "password": {tr.password}},
			basic:      []string{"probe", tr.secret},
			wantStatus: http.StatusOK,
			wantSub:    "probe",
		},
		{
			name:       "password grant with wrong password",
			form:       url.Values{"grant_type": {"password"}, "username": {"probe"}, "password": {"nope"}},
			basic:      []string{"probe", tr.secret},
			wantStatus: http.StatusBadRequest,
			wantError:  "invalid_grant",
		},
		{
			name:       "wrong client secret",
			form:       url.Values{"grant_type": {"client_credentials"}},
			basic:      []string{"probe", "nope"},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name:       "unknown client",
			form:       url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {tr.secret}},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name:       "no client authentication",
			form:       url.Values{"grant_type": {"client_credentials"}},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name:       "two client authentication methods",
			form:       url.Values{"grant_type": {"client_credentials"}, "client_secret": {tr.secret}},
			basic:      []string{"probe", tr.secret},
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid_client",
		},
		{
			name:       "unsupported grant",
			form:       url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}},
			basic:      []string{"probe", tr.secret},
			wantStatus: http.StatusBadRequest,
			wantError:  "unsupported_grant_type",
		},
		{
			name:       "unknown scope",
			form:       url.Values{"grant_type": {"client_credentials"}, "scope": {"api admin"}},
			basic:      []string{"probe", tr.secret},
			wantStatus: http.StatusBadRequest,
			wantError:  "invalid_scope",
		},
	}

	jwks := fetchJWKS(t, base)
	if len(jwks.Keys) != 1 || jwks.Keys[0].KeyID == "" {
		t.Fatalf("jwks: %d keys, want 1 with a kid", len(jwks.Keys))
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic != nil {
				req.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			resp := do(t, http.DefaultClient, req)
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", resp.status, tt.wantStatus, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			var tok tokenJSON
			if err := json.Unmarshal([]byte(resp.body), &tok); err != nil {
				t.Fatalf("body %q: %v", resp.body, err)
			}
			if tok.Error != tt.wantError {
				t.Errorf("error %q, want %q", tok.Error, tt.wantError)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 300 || tok.Scope != "api" {
				t.Errorf("token response %+v, want Bearer, 300 s, scope api", tok)
			}

			parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if kid := parsed.Headers[0].KeyID; kid != jwks.Keys[0].KeyID {
				t.Errorf("kid %q, want the published %q", kid, jwks.Keys[0].KeyID)
			}
			var claims jwt.Claims
			var extra struct {
				Scope string `json:"scope"`
			}
			if err := parsed.Claims(&jwks, &claims, &extra); err != nil {
				t.Fatalf("verify against the published JWKS: %v", err)
			}
			if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: base, AnyAudience: jwt.Audience{"urn:demo:api"}, Subject: tt.wantSub}, 0); err != nil {
				t.Errorf("claims %+v: %v", claims, err)
			}
			if claims.Expiry == nil || claims.IssuedAt == nil || claims.NotBefore == nil || claims.ID == "" {
				t.Fatalf("claims %+v: want exp, iat, nbf and jti", claims)
			}
			if life := claims.Expiry.Time().Sub(claims.IssuedAt.Time()); life != 300*time.Second {
				t.Errorf("exp - iat = %s, want 5m0s", life)
			}
			if extra.Scope != "api" {
				t.Errorf("scope claim %q, want api", extra.Scope)
			}

			me := callAPI(t, tr.api[1].URL, "Bearer "+tok.AccessToken)
			if me.status != http.StatusOK {
				t.Fatalf("/api/me: status %d body %q, want 200", me.status, me.body)
			}
			var who map[string]any
			if err := json.Unmarshal([]byte(me.body), &who); err != nil || who["sub"] != tt.wantSub || who["scope"] != "api" {
				t.Errorf("/api/me body %q (err %v), want sub %q scope api", me.body, err, tt.wantSub)
			}
		})
	}
}

func fetchJWKS(t *testing.T, base string) jose.JSONWebKeySet {
	t.Helper()
	disc := get(t, http.DefaultClient, base+"/.well-known/openid-configuration")
	var meta map[string]any
	if err := json.Unmarshal([]byte(disc.body), &meta); err != nil || disc.status != http.StatusOK {
		t.Fatalf("discovery: status %d body %q err %v", disc.status, disc.body, err)
	}
	if meta["issuer"] != base || meta["token_endpoint"] != base+"/oauth/token" {
		t.Errorf("discovery issuer %v token_endpoint %v, want %s and its /oauth/token", meta["issuer"], meta["token_endpoint"], base)
	}
	uri, _ := meta["jwks_uri"].(string)
	resp := get(t, http.DefaultClient, uri)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(resp.body), &set); err != nil || resp.status != http.StatusOK {
		t.Fatalf("jwks: status %d body %q err %v", resp.status, resp.body, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("jwks publishes a private key (kid %s)", k.KeyID)
		}
	}
	return set
}

// corrupt flips one character in the middle of the signature, where every
// base64url bit is significant.
func corrupt(token string) string {
	i := strings.LastIndexByte(token, '.') + (len(token)-strings.LastIndexByte(token, '.'))/2
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestAPIRejects(t *testing.T) {
	tr := newTestRealm(t)
	base := tr.site.URL
	good := fetchToken(t, tr)

	mint := func(iss string, now time.Time) string {
		tok, err := tr.issue(iss, "probe", now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name          string
		authorization string
		wantChallenge string
		wantBody      string
	}{
		{"no token", "", "Bearer", "a bearer token is required"},
		{"other scheme", "Basic cHJvYmU6eA==", "Bearer", "a bearer token is required"},
		{"corrupted signature", "Bearer " + corrupt(good), `Bearer error="invalid_token"`, "signature is invalid"},
		{"not a jwt", "Bearer abc.def", `Bearer error="invalid_token"`, "not a signed RS256 JWT"},
		{"expired", "Bearer " + mint(base, time.Now().Add(-time.Hour)), `Bearer error="invalid_token"`, "expired"},
		{"other issuer", "Bearer " + mint("http://elsewhere.example", time.Now()), `Bearer error="invalid_token"`, "issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := callAPI(t, tr.api[1].URL, tt.authorization)
			if resp.status != http.StatusUnauthorized {
				t.Fatalf("status %d body %q, want 401", resp.status, resp.body)
			}
			if got := resp.header.Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.wantChallenge)
			}
			if !strings.Contains(resp.body, tt.wantBody) {
				t.Errorf("body %q does not contain %q", resp.body, tt.wantBody)
			}
		})
	}
}

// switchFault drives a control endpoint as a script would and returns its JSON answer.
func switchFault(t *testing.T, tr *testRealm, method, path string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, tr.control.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp := do(t, http.DefaultClient, req)
	if resp.status != http.StatusOK {
		t.Fatalf("%s %s: status %d body %q, want 200", method, path, resp.status, resp.body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(resp.body), &got); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, resp.body, err)
	}
	return got
}

func TestKeyDrift(t *testing.T) {
	tr := newTestRealm(t)
	base := tr.site.URL
	before := fetchJWKS(t, base)

	steps := []struct {
		name, method, path string
		wantStatus         int
	}{
		{"healthy", "", "", http.StatusOK},
		{"drift on", http.MethodPost, "/demo/fault/key-drift", http.StatusUnauthorized},
		{"cleared", http.MethodPost, "/demo/fault/clear", http.StatusOK},
		{"drift on again", http.MethodPost, "/demo/fault/key-drift", http.StatusUnauthorized},
		{"drift off alone", http.MethodDelete, "/demo/fault/key-drift", http.StatusOK},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.method != "" {
				got := switchFault(t, tr, s.method, s.path)
				if want := s.wantStatus != http.StatusOK; got["key_drift"] != want {
					t.Errorf("key_drift %v, want %v", got["key_drift"], want)
				}
			}
			tok := fetchToken(t, tr)
			resp := callAPI(t, tr.api[DriftedReplica].URL, "Bearer "+tok)
			if resp.status != s.wantStatus {
				t.Fatalf("/api/me: status %d body %q, want %d", resp.status, resp.body, s.wantStatus)
			}
			// The other replica never drifts: only fan-out sees the fault.
			if other := callAPI(t, tr.api[1].URL, "Bearer "+tok); other.status != http.StatusOK {
				t.Errorf("replica 1: status %d body %q, want 200", other.status, other.body)
			}
			if s.wantStatus == http.StatusUnauthorized && !strings.Contains(resp.body, "unknown kid") {
				t.Errorf("/api/me body %q, want it to name the unknown kid", resp.body)
			}
			// The issuer side never changes: that is what makes the fault hard to see.
			if after := fetchJWKS(t, base); after.Keys[0].KeyID != before.Keys[0].KeyID {
				t.Errorf("issuer kid changed from %s to %s", before.Keys[0].KeyID, after.Keys[0].KeyID)
			}
		})
	}
}

func TestLogin500(t *testing.T) {
	tr := newTestRealm(t)
	base := tr.site.URL

	check := func(t *testing.T, want int) {
		t.Helper()
		c := browser(t)
		reqs := map[string]func() response{
			"GET /login": func() response { return get(t, c, base+"/login") },
			"POST /login": func() response {
				return postForm(t, c, base+"/login", url.Values{"username": {"probe"}, "password": {tr.password}})
			},
			"POST /oauth/token": func() response {
				return postForm(t, c, base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"probe"}, "client_secret": {tr.secret}})
			},
		}
		for name, fn := range reqs {
			resp := fn()
			if want == http.StatusInternalServerError {
				if resp.status != want || !strings.Contains(resp.body, "missing env var DB_PASSWORD") {
					t.Errorf("%s: status %d body %q, want 500 naming the missing env var", name, resp.status, resp.body)
				}
			} else if resp.status == http.StatusInternalServerError {
				t.Errorf("%s: status 500 with the fault off", name)
			}
		}
		if h := get(t, c, base+"/healthz"); h.status != http.StatusOK || h.body != "ok" {
			t.Errorf("/healthz: status %d body %q, want 200 ok: the pods look healthy", h.status, h.body)
		}
	}

	t.Run("healthy", func(t *testing.T) { check(t, http.StatusOK) })
	t.Run("on", func(t *testing.T) {
		if got := switchFault(t, tr, http.MethodPost, "/demo/fault/login-500"); got["login_500"] != true {
			t.Fatalf("login_500 %v, want true", got["login_500"])
		}
		check(t, http.StatusInternalServerError)
	})
	t.Run("cleared", func(t *testing.T) {
		switchFault(t, tr, http.MethodPost, "/demo/fault/clear")
		check(t, http.StatusOK)
	})
	t.Run("full login works again", func(t *testing.T) {
		c := browser(t)
		csrf := loginPage(t, c, base)
		resp := postForm(t, c, base+"/login", url.Values{"username": {"probe"}, "password": {tr.password}, "csrf": {csrf}})
		if resp.status != http.StatusFound {
			t.Errorf("POST /login: status %d, want 302", resp.status)
		}
	})
}

func TestLatency(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	defer goleak.VerifyNone(t, leaks)

	r, err := New("pw", "secret")
	if err != nil {
		t.Fatal(err)
	}
	// returned reports when each realm request finishes, so the test can see
	// that a handler stops when its client gives up.
	returned := make(chan time.Time, 16)
	inner := r.Handler()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() { returned <- time.Now() }()
		inner.ServeHTTP(w, req)
	}))
	defer site.Close()
	control := httptest.NewServer(r.ControlHandler())
	defer control.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	setLatency := func(t *testing.T, delay string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, control.URL+"/demo/fault/latency?delay="+url.QueryEscape(delay), nil)
		if err != nil {
			t.Fatal(err)
		}
		return do(t, client, req)
	}

	t.Run("bad delay", func(t *testing.T) {
		for _, delay := range []string{"", "soon", "-1s", "31s", "4"} {
			resp := setLatency(t, delay)
			if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, "delay") {
				t.Errorf("delay=%q: status %d body %q, want 400 explaining the delay", delay, resp.status, resp.body)
			}
		}
		if f := r.Faults(); f.Latency != 0 {
			t.Errorf("latency %s after bad values, want unchanged 0s", f.Latency)
		}
	})

	t.Run("request waits", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		if resp := setLatency(t, delay.String()); resp.status != http.StatusOK || !strings.Contains(resp.body, `"latency":"300ms"`) {
			t.Fatalf("set latency: status %d body %q", resp.status, resp.body)
		}
		start := time.Now()
		resp := get(t, client, site.URL+"/healthz")
		if took := time.Since(start); took < delay || resp.status != http.StatusOK {
			t.Errorf("/healthz: status %d after %s, want 200 after at least %s", resp.status, took, delay)
		}
		<-returned
	})

	t.Run("client gives up", func(t *testing.T) {
		if resp := setLatency(t, "20s"); resp.status != http.StatusOK {
			t.Fatalf("set latency: status %d body %q", resp.status, resp.body)
		}
		impatient := &http.Client{Transport: transport, Timeout: 200 * time.Millisecond}
		_, err := impatient.Get(site.URL + "/login")
		gaveUp := time.Now()
		var uerr *url.Error
		if !errors.As(err, &uerr) || !uerr.Timeout() {
			t.Fatalf("GET /login with 200ms timeout: err %v, want a timeout", err)
		}
		select {
		case done := <-returned:
			if lag := done.Sub(gaveUp); lag > 2*time.Second {
				t.Errorf("handler returned %s after the client gave up", lag)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler still running 5s after the client gave up")
		}
	})

	t.Run("off", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, control.URL+"/demo/fault/latency", nil)
		if resp := do(t, client, req); !strings.Contains(resp.body, `"latency":"0s"`) {
			t.Fatalf("DELETE latency: body %q", resp.body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, site.URL+"/healthz", nil)
		if resp := do(t, client, req); resp.status != http.StatusOK {
			t.Errorf("/healthz: status %d, want 200", resp.status)
		}
	})

	t.Run("SetFaults clamps", func(t *testing.T) {
		for in, want := range map[time.Duration]time.Duration{time.Hour: 30 * time.Second, -time.Second: 0, time.Second: time.Second} {
			r.SetFaults(Faults{Latency: in})
			if got := r.Faults().Latency; got != want {
				t.Errorf("SetFaults(Latency: %s): got %s, want %s", in, got, want)
			}
		}
		r.SetFaults(Faults{})
	})
}

func TestControl(t *testing.T) {
	tr := newTestRealm(t)
	noFollow := browser(t)

	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType string
		header      map[string]string
		wantStatus  int
		wantBody    string
		wantFaults  Faults
	}{
		{name: "page", method: http.MethodGet, path: "/demo/", wantStatus: http.StatusOK, wantBody: "key-drift"},
		{name: "no trailing slash", method: http.MethodGet, path: "/demo", wantStatus: http.StatusMovedPermanently},
		{name: "GET on a switch", method: http.MethodGet, path: "/demo/fault/key-drift", wantStatus: http.StatusMethodNotAllowed},
		{name: "unknown switch", method: http.MethodPost, path: "/demo/fault/meteor", wantStatus: http.StatusNotFound},
		{name: "outside the prefix", method: http.MethodGet, path: "/metrics", wantStatus: http.StatusNotFound},
		{
			name: "form post redirects back", method: http.MethodPost, path: "/demo/fault/login-500",
			contentType: "application/x-www-form-urlencoded", wantStatus: http.StatusSeeOther,
			wantFaults: Faults{Login500: true},
		},
		{
			name: "form post asking for JSON", method: http.MethodPost, path: "/demo/fault/key-drift",
			contentType: "application/x-www-form-urlencoded", header: map[string]string{"Accept": "application/json"},
			wantStatus: http.StatusOK, wantBody: `{"key_drift":true,"login_500":true,"latency":"0s"}`,
			wantFaults: Faults{Login500: true, KeyDrift: true},
		},
		{
			name: "form turns a switch off", method: http.MethodPost, path: "/demo/fault/login-500",
			body: "_method=DELETE", contentType: "application/x-www-form-urlencoded", wantStatus: http.StatusSeeOther,
			wantFaults: Faults{KeyDrift: true},
		},
		{
			name: "latency from the page's form", method: http.MethodPost, path: "/demo/fault/latency",
			body: "delay=0s", contentType: "application/x-www-form-urlencoded", wantStatus: http.StatusSeeOther,
			wantFaults: Faults{KeyDrift: true},
		},
		{
			name: "script post gets JSON", method: http.MethodPost, path: "/demo/fault/clear",
			wantStatus: http.StatusOK, wantBody: `{"key_drift":false,"login_500":false,"latency":"0s"}`,
		},
		{
			name: "cross-site form post", method: http.MethodPost, path: "/demo/fault/key-drift",
			contentType: "application/x-www-form-urlencoded", header: map[string]string{"Sec-Fetch-Site": "cross-site"},
			wantStatus: http.StatusForbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tr.control.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp := do(t, noFollow, req)
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d body %q, want %d", resp.status, resp.body, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusSeeOther && resp.header.Get("Location") != "/demo/" {
				t.Errorf("Location %q, want /demo/", resp.header.Get("Location"))
			}
			if !strings.Contains(resp.body, tt.wantBody) {
				t.Errorf("body %q does not contain %q", resp.body, tt.wantBody)
			}
			if tt.method != http.MethodGet {
				if got := tr.Faults(); got != tt.wantFaults {
					t.Errorf("faults %+v, want %+v", got, tt.wantFaults)
				}
			}
		})
	}
}

func TestPageShowsState(t *testing.T) {
	tr := newTestRealm(t)
	tr.SetFaults(Faults{KeyDrift: true, Latency: 4 * time.Second})
	resp := get(t, http.DefaultClient, tr.control.URL+"/demo/")
	for _, want := range []string{
		`key-drift: <span class="on">ON</span>`,
		`login-500: <span class="off">off</span>`,
		`latency: <span class="on">4s</span>`,
		`action="/demo/fault/clear"`,
	} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
}

func TestConfig(t *testing.T) {
	tr := newTestRealm(t)
	journeys := []string{"password-login", "wrong-password-refused", "api-token"}

	tests := []struct {
		name, base, wantPrefix string
	}{
		{"loopback", "http://127.0.0.1:1234", "http://127.0.0.1:1234/"},
		{"trailing slash", "http://127.0.0.1:1234/", "http://127.0.0.1:1234/"},
		{"hostile base", "http://x\"\n  evil: {{ .csrf }}\\", "http://x\"\n  evil: {{ .csrf }}\\/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := Config(tt.base, []string{"127.0.0.1:1", "127.0.0.1:2"}, false)
			for _, secret := range []string{tr.password, tr.secret} {
				if strings.Contains(string(text), secret) {
					t.Errorf("config contains a credential")
				}
			}
			for _, ref := range []string{"${env:AUTHPROBE_DEMO_PASSWORD}", "${env:AUTHPROBE_DEMO_CLIENT_SECRET}", "{{ .csrf }}", "{{ tamper .access_token }}"} {
				if !strings.Contains(string(text), ref) {
					t.Errorf("config does not contain %q", ref)
				}
			}

			var cfg struct {
				Global   map[string]any `yaml:"global"`
				Journeys []struct {
					Name  string `yaml:"name"`
					Steps []struct {
						Name string         `yaml:"name"`
						HTTP map[string]any `yaml:"http"`
					} `yaml:"steps"`
				} `yaml:"journeys"`
			}
			if err := yaml.Unmarshal(text, &cfg); err != nil {
				t.Fatalf("config is not YAML: %v\n%s", err, text)
			}
			if len(cfg.Global) != 4 {
				t.Errorf("global has %d keys, want 4", len(cfg.Global))
			}
			var names []string
			urls := 0
			for _, j := range cfg.Journeys {
				names = append(names, j.Name)
				for _, s := range j.Steps {
					u, _ := s.HTTP["url"].(string)
					if s.HTTP == nil || strings.HasPrefix(u, "http://api.demo.internal/") {
						continue // token steps, and the API reached through fan-out
					}
					if !strings.HasPrefix(u, tt.wantPrefix) {
						t.Errorf("%s/%s: url %q, want it under %q", j.Name, s.Name, u, tt.wantPrefix)
					}
					urls++
				}
			}
			if strings.Join(names, ",") != strings.Join(journeys, ",") {
				t.Errorf("journeys %v, want %v", names, journeys)
			}
			if urls != 6 {
				t.Errorf("%d step urls under the base, want 6", urls)
			}
		})
	}
}

func TestBoundedState(t *testing.T) {
	tr := newTestRealm(t)
	const requests, workers = 20_000, 8

	transport := &http.Transport{MaxIdleConnsPerHost: workers}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= requests {
				resp, err := client.Get(tr.site.URL + "/login")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d GET /login failed", n, requests)
	}
	if n := tr.pending.len(); n != maxPending {
		t.Errorf("pending csrf tokens: %d, want the cap %d", n, maxPending)
	}

	// The newest pre-session must still work after all that churn.
	c := browser(t)
	csrf := loginPage(t, c, tr.site.URL)
	if resp := postForm(t, c, tr.site.URL+"/login", url.Values{"username": {"probe"}, "password": {tr.password}, "csrf": {csrf}}); resp.status != http.StatusFound {
		t.Errorf("login after churn: status %d, want 302", resp.status)
	}
}

func TestStoreExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newStore(3, time.Minute)
	s.now = func() time.Time { return now }

	s.put("a", "1")
	s.put("b", "2")
	steps := []struct {
		name    string
		advance time.Duration
		put     string
		key     string
		wantOK  bool
		wantLen int
	}{
		{name: "live", key: "a", wantOK: true, wantLen: 2},
		{name: "cap evicts oldest", put: "c", key: "a", wantOK: true, wantLen: 3},
		{name: "fourth put evicts a", put: "d", key: "a", wantOK: false, wantLen: 3},
		{name: "expired", advance: time.Minute, key: "b", wantOK: false, wantLen: 2},
		{name: "put prunes the expired", put: "e", key: "e", wantOK: true, wantLen: 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = now.Add(st.advance)
			if st.put != "" {
				s.put(st.put, "v")
			}
			if _, ok := s.get(st.key); ok != st.wantOK {
				t.Errorf("get(%q) ok=%v, want %v", st.key, ok, st.wantOK)
			}
			if n := s.len(); n != st.wantLen {
				t.Errorf("len %d, want %d", n, st.wantLen)
			}
		})
	}
}

func TestNewRejectsEmptyCredentials(t *testing.T) {
	for _, tt := range []struct{ name, password, secret string }{
		{"empty password", "", "s"},
		{"empty secret", "p", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.password, tt.secret); err == nil {
				t.Error("New accepted an empty credential")
			}
		})
	}
}
