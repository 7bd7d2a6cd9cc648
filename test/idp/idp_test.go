package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/goleak"
	"golang.org/x/net/html"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ---------------------------------------------------------------- helpers

type discoveryDoc struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	ScopesSupported       []string `json:"scopes_supported"`
	GrantTypesSupported   []string `json:"grant_types_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// env is one IdP with an HTTP client that keeps its connections to itself.
type env struct {
	t    *testing.T
	p    *IdP
	d    discoveryDoc
	http *http.Client
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	p := Start(t, o)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	e := &env{t: t, p: p, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	e.getJSON(p.Issuer+"/.well-known/openid-configuration", &e.d)
	return e
}

func (e *env) getJSON(u string, v any) {
	e.t.Helper()
	resp, err := e.http.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: HTTP %d: %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		e.t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

// post sends a form, with HTTP basic client authentication when user != "",
// and decodes a JSON answer.
func (e *env) post(u string, form url.Values, user, pass string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			e.t.Fatalf("POST %s: HTTP %d, not JSON: %s", u, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, out
}

func (e *env) token(form url.Values, user, pass string) map[string]any {
	e.t.Helper()
	status, out := e.post(e.d.TokenEndpoint, form, user, pass)
	if status != http.StatusOK {
		e.t.Fatalf("token (%s): HTTP %d: %v", form.Get("grant_type"), status, out)
	}
	return out
}

func (e *env) clientCredentials(user, pass string) string {
	e.t.Helper()
	out := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, user, pass)
	return str(e.t, out, "access_token")
}

func (e *env) introspect(token, user, pass string) map[string]any {
	e.t.Helper()
	status, out := e.post(e.d.IntrospectionEndpoint, url.Values{"token": {token}}, user, pass)
	if status != http.StatusOK {
		e.t.Fatalf("introspection: HTTP %d: %v", status, out)
	}
	return out
}

func (e *env) revoke(token, hint, user, pass string) {
	e.t.Helper()
	status, out := e.post(e.d.RevocationEndpoint, url.Values{"token": {token}, "token_type_hint": {hint}}, user, pass)
	if status != http.StatusOK {
		e.t.Fatalf("revocation: HTTP %d: %v", status, out)
	}
}

func (e *env) jwks() jose.JSONWebKeySet {
	e.t.Helper()
	var set jose.JSONWebKeySet
	e.getJSON(e.d.JWKSURI, &set)
	return set
}

var allAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

// verify checks a JWT's signature against the IdP's served JWKS, by kid, and
// returns its header and claims.
func (e *env) verify(token string) (jose.Header, map[string]any) {
	e.t.Helper()
	jws, err := jose.ParseSignedCompact(token, allAlgs)
	if err != nil {
		e.t.Fatalf("parse JWT: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.KeyID == "" {
		e.t.Fatalf("JWT has no kid")
	}
	set := e.jwks()
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		e.t.Fatalf("JWT signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		e.t.Fatal(err)
	}
	return h, claims
}

// checkAccessToken verifies an access token and its standard claims.
func (e *env) checkAccessToken(token, sub, clientID string) map[string]any {
	e.t.Helper()
	h, c := e.verify(token)
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "at+jwt" {
		e.t.Errorf("access token typ = %q, want at+jwt", typ)
	}
	want := map[string]any{"aud": Audience, "iss": e.p.Issuer, "sub": sub, "client_id": clientID}
	for k, v := range want {
		if c[k] != v {
			e.t.Errorf("access token %s = %v, want %v (claims %v)", k, c[k], v, c)
		}
	}
	for _, k := range []string{"exp", "iat", "jti", "scope"} {
		if c[k] == nil {
			e.t.Errorf("access token has no %s: %v", k, c)
		}
	}
	if scope, _ := c["scope"].(string); !slices.Contains(strings.Fields(scope), "api") {
		e.t.Errorf("access token scope %q lacks api", scope)
	}
	return c
}

func str(t *testing.T, m map[string]any, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok || s == "" {
		t.Fatalf("no %s in %v", k, m)
	}
	return s
}

func randomString(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---------------------------------------------------------------- browser

// browser is a cookie-carrying client that stops at RedirectURI.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{
		Transport: e.http.Transport,
		Jar:       jar,
		Timeout:   10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == "127.0.0.1:1" {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return &browser{e: e, c: c}
}

// page is an HTML answer of the IdP.
type page struct {
	status   int
	url      *url.URL
	body     string
	location string // Location of a redirect to RedirectURI
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(body), location: resp.Header.Get("Location")}
}

type authRequest struct {
	clientID, verifier, state, nonce string
}

// authorize starts an authorization code + PKCE request.
func (b *browser) authorize(clientID string) (authRequest, page) {
	t := b.e.t
	t.Helper()
	ar := authRequest{clientID: clientID, verifier: randomString(t), state: randomString(t), nonce: randomString(t)}
	sum := sha256.Sum256([]byte(ar.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {RedirectURI},
		"scope":                 {"openid profile email offline_access api"},
		"state":                 {ar.state},
		"nonce":                 {ar.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	req, _ := http.NewRequest(http.MethodGet, b.e.d.AuthorizationEndpoint+"?"+q.Encode(), nil)
	return ar, b.do(req)
}

// submit fills the page's form number i (hidden inputs are carried over) and posts it.
func (b *browser) submit(p page, fields map[string]string) page {
	t := b.e.t
	t.Helper()
	action, values := parseForm(t, p)
	for k, v := range fields {
		values.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// parseForm returns the absolute action of the page's only form and its
// inputs' values.
func parseForm(t *testing.T, p page) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	var forms int
	values := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				forms++
				action = attr["action"]
				if attr["method"] != "post" {
					t.Errorf("form method %q", attr["method"])
				}
			case "input":
				values.Set(attr["name"], attr["value"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if forms != 1 {
		t.Fatalf("%d forms on the page (HTTP %d): %s", forms, p.status, p.body)
	}
	u, err := p.url.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	return u.String(), values
}

// code checks the redirect to RedirectURI and returns its code.
func (ar authRequest) code(t *testing.T, p page) string {
	t.Helper()
	if p.location == "" || !strings.HasPrefix(p.location, RedirectURI) {
		t.Fatalf("no redirect to %s: HTTP %d at %s: %s", RedirectURI, p.status, p.url, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error: %v", q)
	}
	if q.Get("state") != ar.state {
		t.Fatalf("state = %q, want %q", q.Get("state"), ar.state)
	}
	return str(t, map[string]any{"code": q.Get("code")}, "code")
}

func (e *env) exchange(ar authRequest, code, secret string) map[string]any {
	e.t.Helper()
	return e.token(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {RedirectURI},
		"code_verifier": {ar.verifier},
	}, ar.clientID, secret)
}

func requireLoginForm(t *testing.T, p page) {
	t.Helper()
	if p.status != http.StatusOK || !strings.Contains(p.body, "/login\"") ||
		!strings.Contains(p.body, `name="username"`) || !strings.Contains(p.body, `name="password"`) ||
		!strings.Contains(p.body, `type="hidden" name="csrf"`) {
		t.Fatalf("not the login form (HTTP %d at %s): %s", p.status, p.url, p.body)
	}
}

// ---------------------------------------------------------------- tests

func TestDiscovery(t *testing.T) {
	start := time.Now()
	e := newEnv(t, Options{})
	t.Logf("Start took %v", time.Since(start))

	if !strings.HasPrefix(e.p.Issuer, "http://127.0.0.1:") || strings.HasSuffix(e.p.Issuer, "/") {
		t.Errorf("Issuer = %q", e.p.Issuer)
	}
	if e.d.Issuer != e.p.Issuer {
		t.Errorf("discovery issuer %q, want %q", e.d.Issuer, e.p.Issuer)
	}
	for name, v := range map[string]string{
		"authorization_endpoint": e.d.AuthorizationEndpoint, "token_endpoint": e.d.TokenEndpoint,
		"jwks_uri": e.d.JWKSURI, "introspection_endpoint": e.d.IntrospectionEndpoint,
		"revocation_endpoint": e.d.RevocationEndpoint, "userinfo_endpoint": e.d.UserinfoEndpoint,
	} {
		if !strings.HasPrefix(v, e.p.Issuer+"/") {
			t.Errorf("%s = %q", name, v)
		}
	}
	for _, s := range []string{"openid", "profile", "email", "offline_access", "api"} {
		if !slices.Contains(e.d.ScopesSupported, s) {
			t.Errorf("scopes_supported %v lacks %s", e.d.ScopesSupported, s)
		}
	}
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials", "password"} {
		if !slices.Contains(e.d.GrantTypesSupported, g) {
			t.Errorf("grant_types_supported %v lacks %s", e.d.GrantTypesSupported, g)
		}
	}
	if !slices.Equal(e.d.CodeChallengeMethods, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v", e.d.CodeChallengeMethods)
	}
	if len(e.p.Keys.Keys) != 1 || e.p.Keys.Keys[0].IsPublic() || e.p.Keys.Keys[0].KeyID == "" {
		t.Fatalf("IdP.Keys = %+v", e.p.Keys)
	}
	served := e.jwks()
	if len(served.Keys) != 1 || served.Keys[0].KeyID != e.p.Keys.Keys[0].KeyID || !served.Keys[0].IsPublic() {
		t.Errorf("JWKS = %+v", served)
	}
	resp, err := e.http.Get(e.p.Issuer + "/__test/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/__test/ready: HTTP %d", resp.StatusCode)
	}
}

func TestClientCredentials(t *testing.T) {
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := jose.JSONWebKey{Key: pk, KeyID: "client-1", Algorithm: string(jose.RS256), Use: "sig"}
	e := newEnv(t, Options{PrivateKeyJWTClientKey: clientKey.Public()})

	t.Run("client_secret_basic", func(t *testing.T) {
		e := *e
		e.t = t
		at := e.clientCredentials(CCClient, CCSecret)
		c := e.checkAccessToken(at, CCClient, CCClient)
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 300 {
			t.Errorf("access token lifetime %v s, want 300", exp-iat)
		}
		// Introspectable, a tampered copy is not, and revocation ends it.
		in := e.introspect(at, CCClient, CCSecret)
		if in["active"] != true || in["client_id"] != CCClient || in["aud"] != Audience {
			t.Errorf("introspection = %v", in)
		}
		tampered := at[:len(at)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(at, "AAAA")]
		if in := e.introspect(tampered, CCClient, CCSecret); in["active"] != false {
			t.Errorf("tampered token introspection = %v", in)
		}
		e.revoke(at, "access_token", CCClient, CCSecret)
		if in := e.introspect(at, CCClient, CCSecret); in["active"] != false {
			t.Errorf("revoked token introspection = %v", in)
		}
	})

	t.Run("client_secret_post", func(t *testing.T) {
		e := *e
		e.t = t
		// Without a scope parameter the token gets scope "api" all the same.
		out := e.token(url.Values{
			"grant_type": {"client_credentials"},
			"client_id":  {PostClient}, "client_secret": {PostSecret},
		}, "", "")
		e.checkAccessToken(str(t, out, "access_token"), PostClient, PostClient)
		if out["scope"] != "api" {
			t.Errorf("token response scope = %v, want api", out["scope"])
		}
	})

	t.Run("wrong_secret", func(t *testing.T) {
		e := *e
		e.t = t
		status, out := e.post(e.d.TokenEndpoint, url.Values{"grant_type": {"client_credentials"}}, CCClient, "nope")
		if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("wrong secret: HTTP %d %v", status, out)
		}
	})

	t.Run("private_key_jwt", func(t *testing.T) {
		e := *e
		e.t = t
		form := url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {"api"},
			"client_id":             {PKJWTClient},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {clientAssertion(t, clientKey, e.d.TokenEndpoint)},
		}
		out := e.token(form, "", "")
		e.checkAccessToken(str(t, out, "access_token"), PKJWTClient, PKJWTClient)
		// An assertion is single-use (its jti is remembered).
		if status, out := e.post(e.d.TokenEndpoint, form, "", ""); status != http.StatusUnauthorized {
			t.Errorf("replayed assertion: HTTP %d %v", status, out)
		}
	})
}

// clientAssertion is a private_key_jwt client assertion (RFC 7523) of PKJWTClient.
func clientAssertion(t *testing.T, key jose.JSONWebKey, aud string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:   PKJWTClient,
		Subject:  PKJWTClient,
		Audience: jwt.Audience{aud},
		ID:       randomString(t),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return assertion
}

func TestPKJWTClientAbsentByDefault(t *testing.T) {
	e := newEnv(t, Options{AccessTokenTTL: 60})
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	status, out := e.post(e.d.TokenEndpoint, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {PKJWTClient},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {clientAssertion(t, jose.JSONWebKey{Key: k, KeyID: "x"}, e.d.TokenEndpoint)},
	}, "", "")
	if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("HTTP %d %v, want 401", status, out)
	}
	at := e.clientCredentials(CCClient, CCSecret)
	c := e.checkAccessToken(at, CCClient, CCClient)
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 60 {
		t.Errorf("access token lifetime %v s, want 60 (Options.AccessTokenTTL)", exp-iat)
	}
}

func TestPasswordGrant(t *testing.T) {
	e := newEnv(t, Options{})
	out := e.token(url.Values{
		"grant_type": {"password"}, "username": {User}, "password": {Password},
		"scope": {"openid profile api offline_access"},
	}, PasswordClient, PasswordSecret)
	at := str(t, out, "access_token")
	e.checkAccessToken(at, User, PasswordClient)
	if out["token_type"] != "Bearer" || out["expires_in"] != float64(300) {
		t.Errorf("token response %v", out)
	}
	rt := str(t, out, "refresh_token")
	refreshed := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, PasswordClient, PasswordSecret)
	e.checkAccessToken(str(t, refreshed, "access_token"), User, PasswordClient)
	if in := e.introspect(at, PasswordClient, PasswordSecret); in["active"] != true || in["sub"] != User {
		t.Errorf("introspection = %v", in)
	}

	for _, tc := range []struct{ user, pass string }{{User, "wrong"}, {"nobody", Password}, {MFAUser, MFAPassword}} {
		status, out := e.post(e.d.TokenEndpoint, url.Values{
			"grant_type": {"password"}, "username": {tc.user}, "password": {tc.pass}, "scope": {"api"},
		}, PasswordClient, PasswordSecret)
		if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%s/%s: HTTP %d %v, want 400 invalid_grant", tc.user, tc.pass, status, out)
		}
	}
	// Only probe-ropc may use the grant.
	status, out := e.post(e.d.TokenEndpoint, url.Values{
		"grant_type": {"password"}, "username": {User}, "password": {Password},
	}, CCClient, CCSecret)
	if status != http.StatusBadRequest {
		t.Errorf("password grant for %s: HTTP %d %v", CCClient, status, out)
	}
}

func TestAuthorizationCode(t *testing.T) {
	e := newEnv(t, Options{})
	b := e.browser()
	ar, p := b.authorize(WebClient)
	requireLoginForm(t, p)
	p = b.submit(p, map[string]string{"username": User, "password": Password})
	code := ar.code(t, p)

	out := e.exchange(ar, code, WebSecret)
	at := str(t, out, "access_token")
	e.checkAccessToken(at, User, WebClient)
	_, idc := e.verify(str(t, out, "id_token"))
	if idc["nonce"] != ar.nonce || idc["aud"] != WebClient || idc["iss"] != e.p.Issuer || idc["sub"] != User {
		t.Errorf("id_token claims %v", idc)
	}
	if idc["name"] != "Probe User" || idc["email"] != "probe@example.test" {
		t.Errorf("id_token profile/email claims missing: %v", idc)
	}

	rt := str(t, out, "refresh_token")
	refreshed := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, WebClient, WebSecret)
	e.checkAccessToken(str(t, refreshed, "access_token"), User, WebClient)

	// userinfo with the JWT access token.
	req, _ := http.NewRequest(http.MethodGet, e.d.UserinfoEndpoint, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ui map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &ui) != nil || ui["sub"] != User || ui["name"] != "Probe User" {
		t.Errorf("userinfo: HTTP %d %s", resp.StatusCode, body)
	}

	in := e.introspect(at, WebClient, WebSecret)
	if in["active"] != true || in["sub"] != User || in["client_id"] != WebClient {
		t.Errorf("introspection = %v", in)
	}
	e.revoke(at, "access_token", WebClient, WebSecret)
	if in := e.introspect(at, WebClient, WebSecret); in["active"] != false {
		t.Errorf("revoked token introspection = %v", in)
	}
	resp, err = e.http.Do(req.Clone(req.Context()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a revoked token: HTTP %d, want 401", resp.StatusCode)
	}

	// The code is single-use; reusing it revokes what it gave (RFC 6749 4.1.2).
	if status, out := e.post(e.d.TokenEndpoint, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI}, "code_verifier": {ar.verifier},
	}, WebClient, WebSecret); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("code reuse: HTTP %d %v", status, out)
	}
	if status, out := e.post(e.d.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, WebClient, WebSecret); status != http.StatusBadRequest {
		t.Errorf("refresh after code reuse: HTTP %d %v", status, out)
	}
}

func TestAuthorizationCodeRequiresPKCE(t *testing.T) {
	e := newEnv(t, Options{})
	b := e.browser()
	req, _ := http.NewRequest(http.MethodGet, e.d.AuthorizationEndpoint+"?"+url.Values{
		"response_type": {"code"}, "client_id": {WebClient}, "redirect_uri": {RedirectURI},
		"scope": {"openid"}, "state": {"s"},
	}.Encode(), nil)
	p := b.do(req)
	u, err := url.Parse(p.location)
	if err != nil || u.Query().Get("error") != "invalid_request" {
		t.Errorf("authorization without PKCE: HTTP %d Location %q", p.status, p.location)
	}
}

func TestLoginForm(t *testing.T) {
	e := newEnv(t, Options{})

	t.Run("wrong_password", func(t *testing.T) {
		e := *e
		e.t = t
		b := e.browser()
		ar, p := b.authorize(WebClient)
		requireLoginForm(t, p)
		p = b.submit(p, map[string]string{"username": User, "password": "wrong"})
		if p.status != http.StatusOK || !strings.Contains(p.body, `<p class="error">Invalid username or password</p>`) {
			t.Fatalf("wrong password: HTTP %d: %s", p.status, p.body)
		}
		requireLoginForm(t, p)
		// The re-shown form still works.
		p = b.submit(p, map[string]string{"username": User, "password": Password})
		ar.code(t, p)
	})

	t.Run("csrf", func(t *testing.T) {
		e := *e
		e.t = t
		b := e.browser()
		_, p := b.authorize(WebClient)
		requireLoginForm(t, p)
		p = b.submit(p, map[string]string{"username": User, "password": Password, "csrf": "forged"})
		if p.status != http.StatusForbidden {
			t.Errorf("forged csrf: HTTP %d, want 403", p.status)
		}
	})

	t.Run("mfa", func(t *testing.T) {
		e := *e
		e.t = t
		b := e.browser()
		ar, p := b.authorize(WebClient)
		p = b.submit(p, map[string]string{"username": MFAUser, "password": MFAPassword})
		if p.status != http.StatusOK || !strings.Contains(p.body, "/mfa\"") || !strings.Contains(p.body, `name="otp"`) {
			t.Fatalf("no MFA form: HTTP %d: %s", p.status, p.body)
		}
		p = b.submit(p, map[string]string{"otp": wrongCode(t, DefaultTOTPSeed)})
		if p.status != http.StatusOK || !strings.Contains(p.body, `<p class="error">Invalid code</p>`) {
			t.Fatalf("wrong code: HTTP %d: %s", p.status, p.body)
		}
		code, err := TOTP(DefaultTOTPSeed, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p = b.submit(p, map[string]string{"otp": code})
		out := e.exchange(ar, ar.code(t, p), WebSecret)
		e.checkAccessToken(str(t, out, "access_token"), MFAUser, WebClient)
		_, idc := e.verify(str(t, out, "id_token"))
		if amr, _ := idc["amr"].([]any); !slices.Contains(amr, any("otp")) {
			t.Errorf("id_token amr = %v", idc["amr"])
		}
	})

	t.Run("mfa_custom_seed", func(t *testing.T) {
		seed := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
		e := newEnv(t, Options{TOTPSeed: seed})
		b := e.browser()
		ar, p := b.authorize(WebClient)
		p = b.submit(p, map[string]string{"username": MFAUser, "password": MFAPassword})
		def, _ := TOTP(DefaultTOTPSeed, time.Now())
		if mine, _ := TOTP(seed, time.Now()); def != mine {
			if q := b.submit(p, map[string]string{"otp": def}); !strings.Contains(q.body, "Invalid code") {
				t.Errorf("the default seed's code was accepted: HTTP %d", q.status)
			}
		}
		code, _ := TOTP(seed, time.Now())
		ar.code(t, b.submit(p, map[string]string{"otp": code}))
	})

	t.Run("consent", func(t *testing.T) {
		e := *e
		e.t = t
		b := e.browser()
		for i := range 2 { // consent every time, also with a live session
			ar, p := b.authorize(ConsentClient)
			if i == 0 {
				requireLoginForm(t, p)
				p = b.submit(p, map[string]string{"username": User, "password": Password})
			}
			if p.status != http.StatusOK || !strings.Contains(p.body, "/confirm\"") || !strings.Contains(p.body, ">Allow</button>") {
				t.Fatalf("round %d: no consent page: HTTP %d at %s: %s", i, p.status, p.url, p.body)
			}
			p = b.submit(p, nil)
			out := e.exchange(ar, ar.code(t, p), ConsentSecret)
			e.checkAccessToken(str(t, out, "access_token"), User, ConsentClient)
			str(t, out, "refresh_token")
		}
	})

	t.Run("web_sso_without_consent", func(t *testing.T) {
		e := *e
		e.t = t
		b := e.browser()
		ar, p := b.authorize(WebClient)
		ar.code(t, b.submit(p, map[string]string{"username": User, "password": Password}))
		ar, p = b.authorize(WebClient) // the session signs in without a form
		ar.code(t, p)
	})
}

// wrongCode is a 6-digit code the IdP rejects now.
func wrongCode(t *testing.T, seed string) string {
	now := time.Now()
	valid := map[string]bool{}
	for d := -2; d <= 2; d++ {
		c, err := TOTP(seed, now.Add(time.Duration(d)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		valid[c] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i*111111%1000000)
		if !valid[c] {
			return c
		}
	}
}

func TestTOTP(t *testing.T) {
	// RFC 6238 appendix B, SHA1: seed "12345678901234567890", 8 digits; the
	// 6-digit code is the last 6 digits.
	seed := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := TOTP(seed, time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("TOTP at %d = %q, %v; want %q", tc.unix, got, err, tc.want)
		}
	}
}

func TestExplicitKeys(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: ec, KeyID: "ec-1", Use: "sig"},
		{Key: rk, KeyID: "rsa-1", Use: "sig"},
	}}
	e := newEnv(t, Options{Keys: keys})
	if len(e.p.Keys.Keys) != 2 || e.p.Keys.Keys[0].KeyID != "ec-1" || e.p.Keys.Keys[1].KeyID != "rsa-1" {
		t.Fatalf("IdP.Keys = %+v", e.p.Keys)
	}

	served := e.jwks()
	if len(served.Keys) != 2 {
		t.Fatalf("JWKS has %d keys", len(served.Keys))
	}
	for i, k := range served.Keys {
		if !k.IsPublic() {
			t.Errorf("served key %d is private", i)
		}
		want := keys.Keys[i].Public()
		wt, _ := want.Thumbprint(crypto.SHA256)
		gt, _ := k.Thumbprint(crypto.SHA256)
		if k.KeyID != want.KeyID || string(wt) != string(gt) {
			t.Errorf("served key %d = %s, want %s", i, k.KeyID, want.KeyID)
		}
	}

	h, _ := e.verify(e.clientCredentials(CCClient, CCSecret))
	if h.KeyID != "ec-1" || h.Algorithm != string(jose.ES256) {
		t.Errorf("access token signed by %s/%s, want ec-1/ES256", h.KeyID, h.Algorithm)
	}
	b := e.browser()
	ar, p := b.authorize(WebClient)
	out := e.exchange(ar, ar.code(t, b.submit(p, map[string]string{"username": User, "password": Password})), WebSecret)
	if h, _ := e.verify(str(t, out, "id_token")); h.KeyID != "ec-1" || h.Algorithm != string(jose.ES256) {
		t.Errorf("id_token signed by %s/%s, want ec-1/ES256", h.KeyID, h.Algorithm)
	}

	// The same keys in the other order: the RSA key signs.
	e2 := newEnv(t, Options{Keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{keys.Keys[1], keys.Keys[0]}}})
	if h, _ := e2.verify(e2.clientCredentials(CCClient, CCSecret)); h.KeyID != "rsa-1" || h.Algorithm != string(jose.RS256) {
		t.Errorf("access token signed by %s/%s, want rsa-1/RS256", h.KeyID, h.Algorithm)
	}
}

func TestTwoIdPs(t *testing.T) {
	a := newEnv(t, Options{})
	b := newEnv(t, Options{})
	if a.p.Issuer == b.p.Issuer {
		t.Fatalf("both IdPs at %s", a.p.Issuer)
	}
	if a.p.Keys.Keys[0].KeyID == b.p.Keys.Keys[0].KeyID {
		t.Errorf("both IdPs use kid %s", a.p.Keys.Keys[0].KeyID)
	}
	ta := a.clientCredentials(CCClient, CCSecret)
	tb := b.clientCredentials(CCClient, CCSecret)
	a.checkAccessToken(ta, CCClient, CCClient)
	b.checkAccessToken(tb, CCClient, CCClient)
	// A's token is unknown to B.
	if in := b.introspect(ta, CCClient, CCSecret); in["active"] != false {
		t.Errorf("B introspects A's token: %v", in)
	}
}

func TestStopEndsTheIdP(t *testing.T) {
	var issuer string
	t.Run("start", func(t *testing.T) { issuer = Start(t, Options{}).Issuer })
	if issuer == "" {
		t.Skip("no IdP started")
	}
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	if resp, err := c.Get(issuer + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Errorf("the IdP at %s still answers after its test ended", issuer)
	}
}
