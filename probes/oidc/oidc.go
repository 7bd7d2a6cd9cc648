// Package oidc is the OAuth 2.0 and OpenID Connect plumbing the token step
// kinds share: endpoint discovery with the exact issuer check, key set
// fetching, client authentication, and token-endpoint requests whose every
// failure maps to one reason. It fetches through the run's transport, so a
// fan-out over the identity provider's replicas reaches each of them.
package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

// maxBody bounds every document read from an identity provider.
const maxBody = 1 << 20

// Provider says where an identity provider's endpoints are: discovered from
// the issuer, or given explicitly (an explicit URL wins over discovery).
type Provider struct {
	Issuer           string          `yaml:"issuer" doc:"The issuer; endpoints are discovered from {issuer}/.well-known/openid-configuration, whose issuer must match exactly."`
	TokenURL         config.Template `yaml:"token_url" doc:"Token endpoint, instead of discovery."`
	AuthorizationURL config.Template `yaml:"authorization_url" doc:"Authorization endpoint, instead of discovery."`
	JWKSURL          config.Template `yaml:"jwks_url" doc:"Key set, instead of discovery."`
	IntrospectionURL config.Template `yaml:"introspection_url" doc:"Introspection endpoint (RFC 7662), instead of discovery."`
	RevocationURL    config.Template `yaml:"revocation_url" doc:"Revocation endpoint (RFC 7009), instead of discovery."`
	UserinfoURL      config.Template `yaml:"userinfo_url" doc:"Userinfo endpoint, instead of discovery."`
	TLS              *config.TLS     `yaml:"tls" doc:"TLS settings for requests to the identity provider."`
}

// CheckProvider validates the issuer; kinds call it from their Check, and
// CheckNeeds for the endpoints they need.
func (p *Provider) CheckProvider(c *config.Check) {
	if p.Issuer != "" {
		u, err := url.Parse(p.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			c.Errorf("issuer", "%q is not an issuer URL; write it like https://idp.example.com/realms/main", p.Issuer)
		}
	}
}

// CheckNeeds reports an endpoint a kind needs that neither discovery nor an
// explicit URL provides.
func (p *Provider) CheckNeeds(c *config.Check, needs ...Endpoint) {
	if p.Issuer != "" {
		return
	}
	for _, e := range needs {
		if p.explicit(e).IsZero() {
			c.Errorf(string(e), "is required without issuer; give issuer to discover it, or the URL")
		}
	}
}

// Endpoint names an endpoint by its config key.
type Endpoint string

// Endpoints.
const (
	TokenEndpoint         Endpoint = "token_url"
	AuthorizationEndpoint Endpoint = "authorization_url"
	JWKSEndpoint          Endpoint = "jwks_url"
	IntrospectionEndpoint Endpoint = "introspection_url"
	RevocationEndpoint    Endpoint = "revocation_url"
	UserinfoEndpoint      Endpoint = "userinfo_url"
)

func (p *Provider) explicit(e Endpoint) config.Template {
	switch e {
	case TokenEndpoint:
		return p.TokenURL
	case AuthorizationEndpoint:
		return p.AuthorizationURL
	case JWKSEndpoint:
		return p.JWKSURL
	case IntrospectionEndpoint:
		return p.IntrospectionURL
	case RevocationEndpoint:
		return p.RevocationURL
	}
	return p.UserinfoURL
}

// Discovery is the part of an OpenID Provider Metadata document authprobe uses.
type Discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
}

// URL returns an endpoint's URL: the explicit one, or the discovered one.
func (p *Provider) URL(ctx context.Context, run *probes.Run, e Endpoint) (string, error) {
	if t := p.explicit(e); !t.IsZero() {
		return run.Render(t)
	}
	d, err := p.Discover(ctx, run)
	if err != nil {
		return "", err
	}
	var u string
	switch e {
	case TokenEndpoint:
		u = d.TokenEndpoint
	case AuthorizationEndpoint:
		u = d.AuthorizationEndpoint
	case JWKSEndpoint:
		u = d.JWKSURI
	case IntrospectionEndpoint:
		u = d.IntrospectionEndpoint
	case RevocationEndpoint:
		u = d.RevocationEndpoint
	case UserinfoEndpoint:
		u = d.UserinfoEndpoint
	}
	if u == "" {
		name := strings.TrimSuffix(string(e), "_url")
		return "", probes.Failf(probes.ReasonDiscovery, "the discovery document of %s names no %s endpoint; set %s", p.Issuer, name, e)
	}
	return u, nil
}

// Discover fetches the issuer's discovery document, once per run.
func (p *Provider) Discover(ctx context.Context, run *probes.Run) (*Discovery, error) {
	v, err := run.Memo(fmt.Sprintf("discovery %p %s", p.TLS.Config(), p.Issuer), func() (any, error) {
		u := strings.TrimSuffix(p.Issuer, "/") + "/.well-known/openid-configuration"
		resp, err := Get(ctx, run, p.TLS, u, "")
		if err != nil {
			return nil, asDiscovery(err)
		}
		if resp.Status != http.StatusOK {
			return nil, probes.Failf(probes.ReasonDiscovery, "discovery at %s: status %d", u, resp.Status)
		}
		var d Discovery
		if err := json.Unmarshal(resp.Body, &d); err != nil {
			return nil, probes.Failf(probes.ReasonDiscovery, "discovery at %s: not a JSON document: %v", u, err)
		}
		if d.Issuer != p.Issuer {
			return nil, probes.Failf(probes.ReasonIssuerMismatch, "discovery at %s names the issuer %q, not %q; the issuer must match exactly, trailing slash included", u, d.Issuer, p.Issuer)
		}
		return &d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Discovery), nil
}

// asDiscovery turns a failure to reach the discovery document into the
// discovery reason, keeping timeouts: a slow IdP is a timeout.
func asDiscovery(err error) error {
	if r := probes.Classify(err); r == probes.ReasonTimeout || r == probes.ReasonInternal {
		return err
	}
	return probes.Fail(probes.ReasonDiscovery, fmt.Errorf("discovery: %w", err))
}

// KeySet is a fetched JWKS with what the key-drift alerts need.
type KeySet struct {
	jose.JSONWebKeySet
	// Fingerprint identifies the set of public signing keys, whatever
	// their order.
	Fingerprint string
	URL         string
	// Skipped counts keys that are not usable signing keys (encryption
	// keys, unknown types).
	Skipped int
	// Unparsed says why each skipped key with a kid could not be parsed
	// (a modulus over 4096 bits, an unknown curve), so that a token naming
	// one fails for that and not as if keys had rotated.
	Unparsed map[string]string
}

// maxKeys bounds a key set; real ones hold a handful.
const maxKeys = 1000

// FetchKeys fetches the key set at url, once per run, and checks it as a
// relying party should: parseable, every key with a kid, no duplicate kids,
// no private key material.
func FetchKeys(ctx context.Context, run *probes.Run, tlsSettings *config.TLS, u string) (*KeySet, error) {
	v, err := run.Memo(fmt.Sprintf("jwks %p %s", tlsSettings.Config(), u), func() (any, error) {
		resp, err := Get(ctx, run, tlsSettings, u, "")
		if err != nil {
			if r := probes.Classify(err); r == probes.ReasonTimeout || r == probes.ReasonInternal {
				return nil, err
			}
			return nil, probes.Fail(probes.ReasonJWKSFetch, fmt.Errorf("key set: %w", err))
		}
		if resp.Status != http.StatusOK {
			return nil, probes.Failf(probes.ReasonJWKSFetch, "key set at %s: status %d", probes.ShortURL(u), resp.Status)
		}
		// Keys are parsed one by one: a key authprobe cannot use (an
		// encryption key, an unknown curve) is skipped, not a reason to
		// fail the whole set; only a set with no usable signing key is.
		var doc struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(resp.Body, &doc); err != nil {
			return nil, probes.Failf(probes.ReasonJWKSFetch, "key set at %s is not a JWKS: %v", probes.ShortURL(u), err)
		}
		if len(doc.Keys) > maxKeys {
			return nil, probes.Failf(probes.ReasonJWKSFetch, "key set at %s holds %d keys, more than %d", probes.ShortURL(u), len(doc.Keys), maxKeys)
		}
		var set jose.JSONWebKeySet
		skipped := 0
		seen := map[string]bool{}
		unparsed := map[string]string{}
		var prints []string
		for _, raw := range doc.Keys {
			var k jose.JSONWebKey
			if err := k.UnmarshalJSON(raw); err != nil {
				var named struct {
					Kid string `json:"kid"`
				}
				if json.Unmarshal(raw, &named) == nil && named.Kid != "" {
					unparsed[named.Kid] = strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
				}
				skipped++
				continue
			}
			if k.Use != "" && k.Use != "sig" {
				skipped++
				continue
			}
			if !k.IsPublic() {
				return nil, probes.Failf(probes.ReasonJWKSFetch, "key set at %s publishes private key material (kid %q)", probes.ShortURL(u), k.KeyID)
			}
			if k.KeyID != "" && seen[k.KeyID] {
				return nil, probes.Failf(probes.ReasonJWKSFetch, "key set at %s has two signing keys with kid %q", probes.ShortURL(u), k.KeyID)
			}
			seen[k.KeyID] = true
			tp, err := k.Thumbprint(cryptoSHA256)
			if err != nil {
				skipped++
				continue
			}
			set.Keys = append(set.Keys, k)
			prints = append(prints, k.KeyID+"="+hex.EncodeToString(tp))
		}
		if len(set.Keys) == 0 {
			return nil, probes.Failf(probes.ReasonJWKSFetch, "key set at %s holds no usable signing key (%d keys skipped)", probes.ShortURL(u), skipped)
		}
		slices.Sort(prints)
		sum := sha256.Sum256([]byte(strings.Join(prints, ",")))
		return &KeySet{JSONWebKeySet: set, Fingerprint: hex.EncodeToString(sum[:6]), URL: u, Skipped: skipped, Unparsed: unparsed}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*KeySet), nil
}

// KIDs lists the key ids of the set, for messages.
func (k *KeySet) KIDs() string {
	var ids []string
	for _, key := range k.Keys {
		ids = append(ids, key.KeyID)
	}
	return strings.Join(ids, ", ")
}

// Get fetches a document from the identity provider without following
// redirects, with an optional bearer token.
func Get(ctx context.Context, run *probes.Run, tlsSettings *config.TLS, u, bearer string) (*probes.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, probes.Failf(probes.ReasonInternal, "url %s: %v", probes.ShortURL(u), err)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return Do(run, tlsSettings, req)
}

// Do sends a request through the run's transport and cookie jar, without
// following redirects, and reads the body up to a bound.
func Do(run *probes.Run, tlsSettings *config.TLS, req *http.Request) (*probes.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	client := &http.Client{
		Transport:     run.Transport(tlsSettings.Config()),
		Jar:           run.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, probes.ShortURL(ue.URL), ue.Err)
		}
		return nil, probes.Fail(probes.ClassifyNetwork(err), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, probes.Failf(probes.ClassifyNetwork(err), "reading %s: %v", probes.ShortURL(req.URL.String()), err)
	}
	if len(body) > maxBody {
		return nil, probes.Failf(probes.ReasonBodyTooLarge, "the response of %s is larger than 1MiB", probes.ShortURL(req.URL.String()))
	}
	out := &probes.Response{Status: resp.StatusCode, Header: resp.Header, Body: body, URL: resp.Request.URL.String(), SetCookies: resp.Cookies()}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		out.Location = resp.Header.Get("Location")
	}
	if resp.TLS != nil {
		for _, c := range resp.TLS.PeerCertificates {
			if out.CertExpiry.IsZero() || c.NotAfter.Before(out.CertExpiry) {
				out.CertExpiry = c.NotAfter
			}
		}
	}
	return out, nil
}

// UserAgent is sent with every request; main sets the version.
var UserAgent = "authprobe"

// Client is how a step authenticates to the identity provider.
type Client struct {
	ClientID     config.Template `yaml:"client_id" doc:"The client's id."`
	ClientSecret config.Template `yaml:"client_secret" doc:"The client's secret; use ${env:...} or ${file:...}."`
	// ClientAuth is client_secret_basic (the default with a secret),
	// client_secret_post, private_key_jwt or none (the default without).
	ClientAuth string          `yaml:"client_auth" doc:"client_secret_basic (default with a secret), client_secret_post, private_key_jwt, or none (default without a secret)."`
	PrivateKey config.Template `yaml:"private_key" doc:"For private_key_jwt: the client's private key, PEM (RSA, EC or Ed25519); use ${file:...}."`
	KeyID      string          `yaml:"key_id" doc:"For private_key_jwt: the kid of the client's key, if the IdP needs it."`

	signingKey any
	signingAlg jose.SignatureAlgorithm
}

var clientAuths = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}

// CheckClient validates the client settings and parses a private key.
func (c *Client) CheckClient(ch *config.Check) {
	if c.ClientAuth != "" && !slices.Contains(clientAuths, c.ClientAuth) {
		ch.Errorf("client_auth", "%q is not a client authentication method; use %s", c.ClientAuth, strings.Join(clientAuths, ", "))
		return
	}
	if c.ClientAuth == "" {
		c.ClientAuth = "none"
		switch {
		case !c.ClientSecret.IsZero():
			c.ClientAuth = "client_secret_basic"
		case !c.PrivateKey.IsZero():
			c.ClientAuth = "private_key_jwt"
		}
	}
	switch c.ClientAuth {
	case "client_secret_basic", "client_secret_post":
		if c.ClientSecret.IsZero() {
			ch.Errorf("client_secret", "is required with client_auth %s", c.ClientAuth)
		}
	case "private_key_jwt":
		pem, ok := c.PrivateKey.Static()
		if c.PrivateKey.IsZero() || !ok {
			ch.Errorf("private_key", "is required with client_auth private_key_jwt, as PEM (use ${file:...}), without {{ }}")
			return
		}
		key, alg, err := parsePrivateKey([]byte(pem))
		if err != nil {
			ch.Errorf("private_key", "%v", err)
			return
		}
		c.signingKey, c.signingAlg = key, alg
	}
	if c.ClientAuth != "none" && c.ClientID.IsZero() {
		ch.Errorf("client_id", "is required with client_auth %s", c.ClientAuth)
	}
	if c.ClientAuth != "client_secret_basic" && c.ClientAuth != "client_secret_post" && !c.ClientSecret.IsZero() {
		ch.Errorf("client_secret", "is not used with client_auth %s; remove it or change client_auth", c.ClientAuth)
	}
	if c.ClientAuth != "private_key_jwt" && (!c.PrivateKey.IsZero() || c.KeyID != "") {
		ch.Errorf("private_key", "and key_id only apply to client_auth private_key_jwt")
	}
}

// Authenticate adds the client's credentials to a request to the token,
// introspection or revocation endpoint.
func (c *Client) Authenticate(run *probes.Run, req *http.Request, form url.Values, endpoint string) error {
	id, err := run.Render(c.ClientID)
	if err != nil {
		return err
	}
	switch c.ClientAuth {
	case "client_secret_basic":
		secret, err := run.Render(c.ClientSecret)
		if err != nil {
			return err
		}
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		// A server that echoes the header must not reveal the secret.
		run.AddSecret(strings.TrimPrefix(req.Header.Get("Authorization"), "Basic "))
	case "client_secret_post":
		secret, err := run.Render(c.ClientSecret)
		if err != nil {
			return err
		}
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	case "private_key_jwt":
		assertion, err := c.assertion(id, endpoint)
		if err != nil {
			return probes.Failf(probes.ReasonInternal, "signing the client assertion: %v", err)
		}
		run.AddSecret(assertion)
		form.Set("client_id", id)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	default:
		if id != "" {
			form.Set("client_id", id)
		}
	}
	return nil
}

// assertion is a private_key_jwt client assertion (RFC 7523) for endpoint.
func (c *Client) assertion(clientID, endpoint string) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if c.KeyID != "" {
		opts = opts.WithHeader("kid", c.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.signingAlg, Key: c.signingKey}, opts)
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{endpoint},
		ID: randomString(16), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
}

// PostForm sends a form to an endpoint of the identity provider with the
// client's authentication.
func (c *Client) PostForm(ctx context.Context, run *probes.Run, tlsSettings *config.TLS, endpoint string, form url.Values) (*probes.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, probes.Failf(probes.ReasonInternal, "url %s: %v", probes.ShortURL(endpoint), err)
	}
	if err := c.Authenticate(run, req, form, endpoint); err != nil {
		return nil, err
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return Do(run, tlsSettings, req)
}

// OAuthError is an error response of an OAuth endpoint (RFC 6749 §5.2).
type OAuthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// ErrorOf returns the OAuth error in a response body, if it holds one.
func ErrorOf(resp *probes.Response) (OAuthError, bool) {
	var e OAuthError
	if json.Unmarshal(resp.Body, &e) != nil || e.Code == "" {
		return e, false
	}
	return e, true
}

// EndpointError classifies a failed answer of an OAuth endpoint. A 5xx is
// the identity provider's failure whatever its body says; a refusal of the
// client's or the user's credentials is invalid_credentials; any other
// error is idp_error. Descriptions are redacted before they are cut.
func EndpointError(run *probes.Run, what string, resp *probes.Response) error {
	e, ok := ErrorOf(resp)
	desc := ""
	if ok {
		desc = ": " + e.Code
		if e.Description != "" {
			desc += ": " + run.Clip(e.Description)
		}
	}
	switch {
	case resp.Status >= 500:
		return probes.Failf(probes.ReasonIdPError, "%s failed (status %d)%s", what, resp.Status, desc)
	case ok && (e.Code == "invalid_grant" || e.Code == "invalid_client" || e.Code == "access_denied"):
		return probes.Failf(probes.ReasonInvalidCredentials, "%s refused (status %d)%s", what, resp.Status, desc)
	case ok:
		return probes.Failf(probes.ReasonIdPError, "%s failed (status %d)%s", what, resp.Status, desc)
	case resp.Status == http.StatusUnauthorized:
		return probes.Failf(probes.ReasonInvalidCredentials, "%s refused the client (status 401)", what)
	}
	return probes.Failf(probes.ReasonIdPError, "%s answered status %d", what, resp.Status)
}

// TokenResponse is a token endpoint's successful answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	IDToken      string
	Scope        string
	ExpiresIn    int64
	HasExpiresIn bool
}

// ParseTokenResponse checks a token endpoint's answer: 200, JSON, an
// access_token, a token_type of Bearer (or DPoP), a numeric expires_in.
func ParseTokenResponse(run *probes.Run, resp *probes.Response) (*TokenResponse, error) {
	if resp.Status != http.StatusOK {
		return nil, EndpointError(run, "the token endpoint", resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, probes.Failf(probes.ReasonTokenResponse, "the token response is %q, not application/json", resp.Header.Get("Content-Type"))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &raw); err != nil {
		return nil, probes.Failf(probes.ReasonTokenResponse, "the token response is not a JSON object: %v", err)
	}
	var t TokenResponse
	str := func(name string, dst *string) error {
		v, ok := raw[name]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return probes.Failf(probes.ReasonTokenResponse, "the token response's %s is not a string", name)
		}
		return nil
	}
	for name, dst := range map[string]*string{"access_token": &t.AccessToken, "token_type": &t.TokenType,
		"refresh_token": &t.RefreshToken, "id_token": &t.IDToken, "scope": &t.Scope} {
		if err := str(name, dst); err != nil {
			return nil, err
		}
	}
	if v, ok := raw["expires_in"]; ok {
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, probes.Failf(probes.ReasonTokenResponse, "the token response's expires_in is not a number")
		}
		i, err := n.Int64()
		if err != nil || i < 0 {
			return nil, probes.Failf(probes.ReasonTokenResponse, "the token response's expires_in %s is not a whole number of seconds", n)
		}
		t.ExpiresIn, t.HasExpiresIn = i, true
	}
	switch {
	case t.AccessToken == "":
		return nil, probes.Failf(probes.ReasonTokenResponse, "the token response has no access_token")
	case !strings.EqualFold(t.TokenType, "bearer") && !strings.EqualFold(t.TokenType, "dpop"):
		return nil, probes.Failf(probes.ReasonTokenResponse, "the token response's token_type is %q, not Bearer", t.TokenType)
	}
	return &t, nil
}

const cryptoSHA256 = crypto.SHA256

// parsePrivateKey reads a PEM private key for private_key_jwt and picks its
// signing algorithm.
func parsePrivateKey(data []byte) (any, jose.SignatureAlgorithm, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("is not a PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("cannot be parsed as a %s: %v", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return k, jose.ES256, nil
		case 384:
			return k, jose.ES384, nil
		case 521:
			return k, jose.ES512, nil
		}
	case ed25519.PrivateKey:
		return k, jose.EdDSA, nil
	}
	return nil, "", fmt.Errorf("holds a %T, which cannot sign a client assertion; use RSA, EC or Ed25519", key)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
