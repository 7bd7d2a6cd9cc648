// Package test runs authprobe's journeys against real components: the npm
// oidc-provider in test/idp, and API replicas on loopback.
package test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/internal/browser"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/browserstep"
	"github.com/authprobe/authprobe/test/idp"
)

func TestMain(m *testing.M) {
	browserstep.Configure(browser.Options{})
	code := m.Run()
	browserstep.Shutdown()
	os.Exit(code)
}

// runAll runs every journey once, for every target, with the config's
// secrets redacted, keyed by journey (and target when fanned out).
func runAll(t *testing.T, yaml string) map[string]probes.Result {
	t.Helper()
	cfg, js := probetest.Compile(t, yaml)
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	out := map[string]probes.Result{}
	for _, r := range probes.RunOnce(context.Background(), env, js, 8) {
		key := r.Journey
		if r.Target != "" {
			key += "@" + r.Target
		}
		out[key] = r
	}
	return out
}

func expect(t *testing.T, got map[string]probes.Result, want map[string]string) {
	t.Helper()
	for name, reason := range want {
		r, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: no result", name)
		case string(r.Reason)+"@"+r.FailedStep != reason:
			t.Errorf("%s: %s at %q (%s); want %s", name, r.Reason, r.FailedStep, r.Message, reason)
		}
	}
}

func rsaPEM(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "client-key.pem")
	b, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}), 0o600)
	return k, path
}

// Every grant and lifecycle step against the real identity provider, and
// every way its credentials can be refused.
func TestGrantsAgainstTheRealIdP(t *testing.T) {
	clientKey, keyFile := rsaPEM(t)
	p := idp.Start(t, idp.Options{PrivateKeyJWTClientKey: jose.JSONWebKey{Key: &clientKey.PublicKey, KeyID: "client-1"}})
	t.Setenv("T_CC_SECRET", idp.CCSecret)
	t.Setenv("T_POST_SECRET", idp.PostSecret)
	t.Setenv("T_ROPC_SECRET", idp.PasswordSecret)
	t.Setenv("T_WEB_SECRET", idp.WebSecret)
	t.Setenv("T_CONSENT_SECRET", idp.ConsentSecret)
	t.Setenv("T_PASSWORD", idp.Password)
	t.Setenv("T_MFA_PASSWORD", idp.MFAPassword)
	t.Setenv("T_SEED", idp.DefaultTOTPSeed)

	yaml := fmt.Sprintf(`
global: { timeout: 20s, interval: 30s }
x-cc: &cc { issuer: %[1]q, client_id: %[2]s, client_secret: "${env:T_CC_SECRET}" }
x-ropc: &ropc { issuer: %[1]q, client_id: %[3]s, client_secret: "${env:T_ROPC_SECRET}" }
x-web: &web { issuer: %[1]q, grant: authorization_code, client_id: %[4]s, client_secret: "${env:T_WEB_SECRET}",
              redirect_uri: %[5]q, scopes: [openid, profile, api] }
journeys:
  - name: client-credentials-lifecycle
    steps:
      - { name: token, oauth2: { <<: *cc, grant: client_credentials, scopes: [api] } }
      - name: validate
        jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: %[6]q, algorithms: [RS256], type: at+jwt, required_claims: [client_id, jti] }
        expect: { json: { "$.client_id": %[2]s, "$.scope": api } }
      - { name: introspect, introspect: *cc, expect: { json: { "$.active": true, "$.client_id": %[2]s } } }
      - { name: revoke, revoke: *cc }
      - { name: revoked-token-refused, introspect: *cc, expect: { rejected: true } }
  - name: client-secret-post
    steps:
      - { name: token, oauth2: { issuer: %[1]q, grant: client_credentials, client_id: %[7]s, client_secret: "${env:T_POST_SECRET}", client_auth: client_secret_post } }
  - name: private-key-jwt
    steps:
      - { name: token, oauth2: { issuer: %[1]q, grant: client_credentials, client_id: %[8]s, private_key: "${file:%[9]s}", key_id: client-1 } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: %[6]q } }
  - name: password-refresh-userinfo
    steps:
      - { name: token, oauth2: { <<: *ropc, grant: password, username: %[10]s, password: "${env:T_PASSWORD}", scopes: [api, openid, offline_access] } }
      - { name: refresh, oauth2: { <<: *ropc, grant: refresh_token } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: %[6]q }, expect: { json: { "$.sub": %[10]s } } }
      - { name: userinfo, userinfo: { issuer: %[1]q }, expect: { json: { "$.sub": %[10]s } } }
  - name: authorization-code
    steps:
      - { name: login, oauth2: { <<: *web, login: { form: { username: %[10]s, password: "${env:T_PASSWORD}" } } } }
      - name: id-token
        jwt: { token: "{{ .id_token }}", issuer: %[1]q, audience: %[4]s, nonce: "{{ .nonce }}", required_claims: [sub, amr] }
        expect: { json: { "$.sub": %[10]s } }
      - { name: access-token, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: %[6]q } }
      - { name: userinfo, userinfo: { issuer: %[1]q } }
      - { name: refresh, oauth2: { issuer: %[1]q, grant: refresh_token, client_id: %[4]s, client_secret: "${env:T_WEB_SECRET}" } }
  - name: second-factor
    steps:
      - name: login
        oauth2: { <<: *web, login: { form: { username: %[11]s, password: "${env:T_MFA_PASSWORD}" }, mfa: { form: { otp: '{{ totp "${env:T_SEED}" }}' } } } }
      - { name: id-token, jwt: { token: "{{ .id_token }}", issuer: %[1]q, audience: %[4]s, nonce: "{{ .nonce }}" }, expect: { json: { "$.amr[1]": otp } } }
  - name: consent
    steps:
      - name: login
        oauth2: { <<: *web, client_id: %[12]s, client_secret: "${env:T_CONSENT_SECRET}", login: { form: { username: %[10]s, password: "${env:T_PASSWORD}" }, consent: true } }
  - name: wrong-password-form
    steps:
      - { name: login, oauth2: { <<: *web, login: { form: { username: %[10]s, password: wrong } } } }
  - name: wrong-password-form-refused
    steps:
      - { name: login, oauth2: { <<: *web, login: { form: { username: %[10]s, password: wrong } } }, expect: { rejected: true } }
  - name: wrong-password-grant
    steps:
      - { name: token, oauth2: { <<: *ropc, grant: password, username: %[10]s, password: wrong } }
  - name: wrong-client-secret
    steps:
      - { name: token, oauth2: { issuer: %[1]q, grant: client_credentials, client_id: %[2]s, client_secret: wrong } }
  - name: wrong-second-factor
    steps:
      - name: login
        oauth2: { <<: *web, login: { form: { username: %[11]s, password: "${env:T_MFA_PASSWORD}" }, mfa: { form: { otp: "000000" } } } }
  - name: consent-not-configured
    steps:
      - name: login
        oauth2: { <<: *web, client_id: %[12]s, client_secret: "${env:T_CONSENT_SECRET}", login: { form: { username: %[10]s, password: "${env:T_PASSWORD}" } } }
  - name: wrong-issuer
    steps:
      - { name: token, oauth2: { issuer: "%[1]s/", grant: client_credentials, client_id: %[2]s, client_secret: "${env:T_CC_SECRET}" } }
`, p.Issuer, idp.CCClient, idp.PasswordClient, idp.WebClient, idp.RedirectURI, idp.Audience, idp.PostClient,
		idp.PKJWTClient, keyFile, idp.User, idp.MFAUser, idp.ConsentClient)

	got := runAll(t, yaml)
	for name, r := range got {
		t.Logf("%s: %s %s at %q: %s (%s)", name, r.Outcome, r.Reason, r.FailedStep, r.Message, r.Duration.Round(time.Millisecond))
	}
	expect(t, got, map[string]string{
		"client-credentials-lifecycle": "@",
		"client-secret-post":           "@",
		"private-key-jwt":              "@",
		"password-refresh-userinfo":    "@",
		"authorization-code":           "@",
		"second-factor":                "@",
		"consent":                      "@",
		"wrong-password-form":          "invalid_credentials@login",
		"wrong-password-form-refused":  "@",
		"wrong-password-grant":         "invalid_credentials@token",
		"wrong-client-secret":          "invalid_credentials@token",
		"wrong-second-factor":          "mfa@login",
		"consent-not-configured":       "idp_error@login",
		"wrong-issuer":                 "issuer_mismatch@token",
	})
	if m := got["wrong-password-form"].Message; !strings.Contains(m, "Invalid username or password") {
		t.Errorf("the wrong password's message should quote the IdP: %q", m)
	}
	for name, r := range got {
		for _, secret := range []string{idp.Password, idp.MFAPassword, idp.CCSecret, idp.WebSecret, idp.PasswordSecret} {
			if strings.Contains(r.Message, secret) {
				t.Errorf("%s: a secret is in the message %q", name, r.Message)
			}
		}
	}
}

// api is a replica of an API that verifies JWT access tokens with the key
// set it trusts, as resource servers cache the issuer's keys.
type api struct {
	*httptest.Server
	mu     sync.Mutex
	keys   jose.JSONWebKeySet
	hits   int
	leeway time.Duration
}

func newAPI(t *testing.T, issuer string, keys jose.JSONWebKeySet) *api {
	a := &api{keys: keys, leeway: time.Minute}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.hits++
		set, leeway := a.keys, a.leeway
		a.mu.Unlock()
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		var claims jwt.Claims
		if ok && err == nil {
			err = tok.Claims(set, &claims)
		}
		if !ok || err != nil || claims.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{idp.Audience}}, leeway) != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"sub": claims.Subject})
	}))
	t.Cleanup(a.Close)
	return a
}

func publicKeys(set jose.JSONWebKeySet) jose.JSONWebKeySet {
	var out jose.JSONWebKeySet
	for _, k := range set.Keys {
		out.Keys = append(out.Keys, k.Public())
	}
	return out
}

func newRSA(t *testing.T, kid string) jose.JSONWebKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "RS256", Use: "sig"}
}

// The incident: the IdP rotated to a new key, one of two API replicas still
// trusts only the old one. Only that replica's series fails, with
// token_rejected, and /metrics shows it with the right labels.
func TestKeyRotatedOnOneReplica(t *testing.T) {
	oldKey, newKey := newRSA(t, "2026-10"), newRSA(t, "2026-11")
	p := idp.Start(t, idp.Options{Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{newKey}}})
	fresh := newAPI(t, p.Issuer, publicKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{newKey}}))
	stale := newAPI(t, p.Issuer, publicKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{oldKey}}))
	t.Setenv("T_CC_SECRET", idp.CCSecret)
	cfg, js := probetest.Compile(t, fmt.Sprintf(`
global: { location: test }
journeys:
  - name: api-token
    interval: 1s
    targets: { host: "api.internal:80", static: [%[3]q, %[4]q] }
    steps:
      - { name: token, oauth2: { issuer: %[1]q, grant: client_credentials, client_id: %[2]s, client_secret: "${env:T_CC_SECRET}" } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: urn:api } }
      - { name: use, http: { url: "http://api.internal/me", headers: { Authorization: "Bearer {{ .access_token }}" } } }
      - { name: tampered-refused, http: { url: "http://api.internal/me", headers: { Authorization: "Bearer {{ tamper .access_token }}" } }, expect: { rejected: true } }
`, p.Issuer, idp.CCClient, fresh.Listener.Addr(), stale.Listener.Addr()))
	rec := exporter.NewRecorder("test")
	rec.SetLocation(cfg.Global.Location)
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	s := probes.NewScheduler(env)
	s.OnResult, s.OnSkip, s.OnSeries = rec.Result, rec.Skip, rec.Series
	s.Apply(js, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	handler := exporter.Handler(exporter.Options{Recorder: rec})
	// The text format leaves empty labels (reason of a success, variant)
	// out.
	labels := func(target, outcome, reason string) string {
		l := fmt.Sprintf(`authprobe_journey_runs_total{journey="api-token",location="test",outcome=%q,`, outcome)
		if reason != "" {
			l += fmt.Sprintf(`reason=%q,`, reason)
		}
		return l + fmt.Sprintf(`target=%q}`, target)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		text := scrape(t, handler)
		okFresh := counter(text, labels(fresh.Listener.Addr().String(), "success", "")) >= 1
		rejectedStale := counter(text, labels(stale.Listener.Addr().String(), "failure", "token_rejected")) >= 1
		if okFresh && rejectedStale {
			if n := counter(text, labels(stale.Listener.Addr().String(), "success", "")); n != 0 {
				t.Errorf("the stale replica's series has %v successes", n)
			}
			if n := counter(text, labels(fresh.Listener.Addr().String(), "failure", "token_rejected")); n != 0 {
				t.Errorf("the fresh replica's series has %v token_rejected failures", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no success on the fresh replica and token_rejected on the stale one within 15s:\n%s", grep(text, "api-token"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Keys rotated on one IdP replica: each replica's key set is fetched
// through fan-out and exported with its fingerprint, so differing key sets
// are visible; and a token from one replica checked against the other's
// key set fails with unknown_kid.
func TestIdPReplicasWithDifferentKeys(t *testing.T) {
	const issuer = "http://idp.internal"
	a := idp.Start(t, idp.Options{Issuer: issuer, Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{newRSA(t, "a-key")}}})
	b := idp.Start(t, idp.Options{Issuer: issuer, Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{newRSA(t, "b-key")}}})
	t.Setenv("T_CC_SECRET", idp.CCSecret)
	cfg, js := probetest.Compile(t, fmt.Sprintf(`
global: { location: test }
journeys:
  - name: idp-replicas
    targets: { host: "idp.internal:80", static: [%[3]q, %[4]q] }
    steps:
      - { name: token, oauth2: { issuer: %[1]q, grant: client_credentials, client_id: %[2]s, client_secret: "${env:T_CC_SECRET}" } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: urn:api } }
  - name: cross-replica
    steps:
      - { name: token, oauth2: { issuer: %[1]q, token_url: "http://%[3]s/token", grant: client_credentials, client_id: %[2]s, client_secret: "${env:T_CC_SECRET}" } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[1]q, audience: urn:api, jwks_url: "http://%[4]s/jwks" } }
`, issuer, idp.CCClient, a.Addr, b.Addr))
	rec := exporter.NewRecorder("test")
	rec.SetLocation(cfg.Global.Location)
	for _, j := range js {
		for _, target := range []string{"", a.Addr, b.Addr} {
			if (j.Targets == nil) == (target == "") {
				rec.Series(j, probes.SeriesKey{Journey: j.Name, Target: target}, true)
			}
		}
	}
	results := probes.RunOnce(context.Background(), nil, js, 4)
	for _, r := range results {
		rec.Result(js[0], r)
		switch {
		case r.Journey == "cross-replica" && r.Reason != probes.ReasonUnknownKID:
			t.Errorf("token from replica a, keys from replica b: %s %s; want unknown_kid", r.Reason, r.Message)
		case r.Journey == "idp-replicas" && r.Outcome != probes.OutcomeSuccess:
			t.Errorf("replica %s: %s %s", r.Target, r.Reason, r.Message)
		}
	}
	text := scrape(t, exporter.Handler(exporter.Options{Recorder: rec}))
	prints := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "authprobe_jwks_info{") && strings.Contains(line, `journey="idp-replicas"`) {
			fp := between(line, `fingerprint="`, `"`)
			prints[between(line, `target="`, `"`)] = fp
		}
	}
	if len(prints) != 2 || prints[a.Addr] == "" || prints[a.Addr] == prints[b.Addr] {
		t.Errorf("fingerprints per replica %v: want two different ones", prints)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// counter reads one sample of the text exposition, 0 when absent.
func counter(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

// Fail-closed checks against the real IdP: the API must refuse no token,
// a tampered token, and the token once it has expired; a revoked token is
// refused by introspection. Acceptance of any of them is not_rejected.
func TestFailClosedChecks(t *testing.T) {
	p := idp.Start(t, idp.Options{AccessTokenTTL: 2})
	resp, err := http.Get(p.Issuer + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var keys jose.JSONWebKeySet
	json.NewDecoder(resp.Body).Decode(&keys)
	resp.Body.Close()
	// A strict API (no leeway), and one that forgot to check anything.
	strict := newAPI(t, p.Issuer, keys)
	strict.mu.Lock()
	strict.leeway = 0
	strict.mu.Unlock()
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "welcome") }))
	defer open.Close()
	t.Setenv("T_CC_SECRET", idp.CCSecret)
	got := runAll(t, fmt.Sprintf(`
global: { timeout: 10s }
x-cc: &cc { issuer: %[1]q, client_id: %[2]s, client_secret: "${env:T_CC_SECRET}" }
journeys:
  - name: strict-api
    steps:
      - { name: token, oauth2: { <<: *cc, grant: client_credentials } }
      - { name: use, http: { url: "%[3]s/me", headers: { Authorization: "Bearer {{ .access_token }}" } } }
      - { name: no-token-refused, http: { url: "%[3]s/me" }, expect: { rejected: true } }
      - { name: tampered-refused, http: { url: "%[3]s/me", headers: { Authorization: "Bearer {{ tamper .access_token }}" } }, expect: { rejected: true } }
      - name: expired-refused
        http: { url: "%[3]s/me", headers: { Authorization: "Bearer {{ .access_token }}" } }
        expect: { rejected: true }
        retry_until: { every: 500ms, for: 6s }
      - { name: revoke, revoke: *cc }
      - { name: revoked-refused, introspect: *cc, expect: { rejected: true } }
  - name: open-api
    steps:
      - { name: token, oauth2: { <<: *cc, grant: client_credentials } }
      - { name: tampered-refused, http: { url: "%[4]s/me", headers: { Authorization: "Bearer {{ tamper .access_token }}" } }, expect: { rejected: true } }
`, p.Issuer, idp.CCClient, strict.URL, open.URL))
	expect(t, got, map[string]string{
		"strict-api": "@",
		"open-api":   "not_rejected@tampered-refused",
	})
	for _, s := range got["strict-api"].Steps {
		if s.Name == "expired-refused" && s.Attempts < 2 {
			t.Errorf("the token was refused at once (%d attempts); it should have been accepted until it expired", s.Attempts)
		}
	}
}

// A browser authorization-code login through the real IdP's login page:
// the browser fills the IdP's form and stops at the redirect to the
// redirect URI (never served); an http step exchanges the code with the
// PKCE verifier and a jwt step validates the token. A wrong password
// leaves the browser on the login form: assertion.
func TestBrowserLoginThroughTheRealIdP(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	p := idp.Start(t, idp.Options{})
	t.Setenv("T_PASSWORD", idp.Password)
	t.Setenv("T_WEB_SECRET", idp.WebSecret)
	journey := func(name, password string) string {
		return fmt.Sprintf(`
  - name: %[1]s
    vars: { verifier: "authprobe-pkce-verifier-0123456789-abcdefghijklmnop" }
    steps:
      - name: browser-login
        browser:
          action_timeout: 3s
          actions:
            - navigate: '%[2]s/auth?client_id=%[3]s&response_type=code&scope=openid%%20api&redirect_uri={{ urlquery %[4]q }}&state=st-1&nonce=n-1&code_challenge={{ s256 .verifier }}&code_challenge_method=S256'
            - fill: { selector: "#username", value: %[5]s }
            - fill: { selector: "#password", value: %[6]q }
            - click: "#submit"
            - wait_url: { contains: "code=" }
            - assert_url: { contains: "state=st-1" }
            - extract: { code: { url_param: code, secret: true } }
      - name: exchange
        http:
          method: POST
          url: "%[2]s/token"
          basic_auth: { username: %[3]s, password: "${env:T_WEB_SECRET}" }
          form: { grant_type: authorization_code, code: "{{ .code }}", redirect_uri: %[4]q, code_verifier: "{{ .verifier }}" }
        extract: { id_token: { json: "$.id_token", secret: true } }
      - name: id-token
        jwt: { token: "{{ .id_token }}", issuer: %[2]q, audience: %[3]s }
        expect: { json: { "$.nonce": n-1, "$.sub": %[5]s } }
`, name, p.Issuer, idp.WebClient, idp.RedirectURI, idp.User, password)
	}
	got := runAll(t, "global: { timeout: 20s }\njourneys:"+journey("browser-login", "${env:T_PASSWORD}")+journey("browser-wrong-password", "wrong"))
	expect(t, got, map[string]string{
		"browser-login":          "@",
		"browser-wrong-password": "assertion@browser-login",
	})
	if a := got["browser-wrong-password"].Artifact; a == nil || len(a.Screenshot) == 0 {
		t.Error("the failed browser login left no screenshot")
	}
}
