package jwtstep_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/goleak"

	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type key struct {
	jwk jose.JSONWebKey // private
	alg jose.SignatureAlgorithm
}

func rsaKey(t testing.TB, kid string) key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key{jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"}, jose.RS256}
}

func ecKey(t testing.TB, kid string) key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key{jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"}, jose.ES256}
}

// sign makes a JWS with the given header kid (which may differ from the
// key's, to forge), algorithm and claims.
func sign(t testing.TB, k key, alg jose.SignatureAlgorithm, kid string, claims map[string]any, headers map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for h, v := range headers {
		opts = opts.WithHeader(h, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.jwk.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned builds a token by hand, for headers go-jose will not produce.
func unsigned(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

// issuer is an httptest identity provider: discovery and a key set.
type issuer struct {
	*httptest.Server
	mu         sync.Mutex
	keys       []key
	jwksStatus int
	jwksBody   string
	iss        string // discovery's issuer; default the server's URL
	fetches    atomic.Int64
}

func newIssuer(t *testing.T, keys ...key) *issuer {
	is := &issuer{keys: keys, jwksStatus: 200}
	is.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			iss := is.iss
			if iss == "" {
				iss = is.URL
			}
			json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": is.URL + "/jwks"})
		case "/jwks":
			is.fetches.Add(1)
			is.mu.Lock()
			status := is.jwksStatus
			is.mu.Unlock()
			w.WriteHeader(status)
			if is.jwksBody != "" {
				fmt.Fprint(w, is.jwksBody)
				return
			}
			var set jose.JSONWebKeySet
			for _, k := range is.keys {
				set.Keys = append(set.Keys, k.jwk.Public())
			}
			json.NewEncoder(w).Encode(set)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(is.Close)
	return is
}

func (is *issuer) setStatus(s int) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.jwksStatus = s
}

func claims(iss string, mods ...func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": iss, "sub": "probe", "aud": []string{"urn:api"}, "scope": "api",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for _, m := range mods {
		m(c)
	}
	return c
}

func set(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
func del(k string) func(map[string]any)        { return func(c map[string]any) { delete(c, k) } }

// validate runs one jwt step over a token and returns the result.
func validate(t *testing.T, token, settings string) probes.Result {
	t.Helper()
	return validateWith(t, token, settings, "")
}

func validateWith(t *testing.T, token, settings, stepExtra string) probes.Result {
	t.Helper()
	_, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: j
    vars: { tok: %q, nonce: n-123 }
    steps:
      - name: check
        jwt: { token: "{{ .tok }}", %s }
        %s`, token, settings, stepExtra))
	return js[0].Execute(context.Background(), nil, js[0].Variants[0], "")
}

func TestReasons(t *testing.T) {
	k1, k2, stranger := rsaKey(t, "k1"), ecKey(t, "k2"), rsaKey(t, "k3")
	is := newIssuer(t, k1, k2)
	base := fmt.Sprintf(`issuer: %q, audience: urn:api`, is.URL)
	pub, _ := x509.MarshalPKIXPublicKey(&k1.jwk.Key.(*rsa.PrivateKey).PublicKey)
	hmacConfused := func() string {
		// The classic confusion: HS256 keyed with the RSA public key.
		h, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"})
		c, _ := json.Marshal(claims(is.URL))
		in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	tests := []struct {
		name, token, extra string
		reason             probes.Reason
		msg                string
	}{
		{"valid RS256", sign(t, k1, jose.RS256, "k1", claims(is.URL), nil), "", "", ""},
		{"valid ES256", sign(t, k2, jose.ES256, "k2", claims(is.URL), nil), "", "", ""},
		{"alg none", unsigned(map[string]any{"alg": "none", "kid": "k1"}, claims(is.URL), ""), "", probes.ReasonAlgNotAllowed, "unsigned"},
		{"HS256 with the RSA public key", hmacConfused, "", probes.ReasonAlgNotAllowed, "key-confusion"},
		{"algorithm outside the allow-list", sign(t, k1, jose.PS256, "k1", claims(is.URL), nil), "algorithms: [RS256]", probes.ReasonAlgNotAllowed, `alg "PS256" is not allowed`},
		{"kid not in the key set", sign(t, stranger, jose.RS256, "k3", claims(is.URL), nil), "", probes.ReasonUnknownKID, `kid "k3" is not in the key set`},
		{"known kid, wrong key", sign(t, stranger, jose.RS256, "k1", claims(is.URL), nil), "", probes.ReasonBadSignature, "does not verify"},
		{"jku is never followed", sign(t, stranger, jose.RS256, "evil", claims(is.URL), map[jose.HeaderKey]any{"jku": is.URL + "/evil-jwks"}), "", probes.ReasonUnknownKID, `kid "evil"`},
		{"issuer", sign(t, k1, jose.RS256, "k1", claims("https://other.example"), nil), "", probes.ReasonIssuerMismatch, `iss is "https://other.example"`},
		{"audience", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("aud", "urn:other")), nil), "", probes.ReasonAudienceMismatch, `aud is "urn:other", want one of "urn:api"`},
		{"expired", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("exp", time.Now().Add(-time.Hour).Unix())), nil), "", probes.ReasonExpired, "expired at"},
		{"expired within the leeway", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("exp", time.Now().Add(-10*time.Second).Unix())), nil), "", "", ""},
		{"expired with leeway 0", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("exp", time.Now().Add(-10*time.Second).Unix())), nil), "leeway: 0s", probes.ReasonExpired, "leeway 0s"},
		{"not yet valid", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("nbf", time.Now().Add(time.Hour).Unix())), nil), "", probes.ReasonNotYetValid, "not valid before"},
		{"issued in the future", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("iat", time.Now().Add(time.Hour).Unix())), nil), "", probes.ReasonIATFuture, "in the future"},
		{"no exp", sign(t, k1, jose.RS256, "k1", claims(is.URL, del("exp")), nil), "", probes.ReasonMissingClaim, "no exp"},
		{"required claim", sign(t, k1, jose.RS256, "k1", claims(is.URL, del("sub")), nil), "required_claims: [sub]", probes.ReasonMissingClaim, "no sub claim"},
		{"nonce", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("nonce", "n-123")), nil), `nonce: "{{ .nonce }}"`, "", ""},
		{"nonce mismatch", sign(t, k1, jose.RS256, "k1", claims(is.URL, set("nonce", "replayed")), nil), `nonce: "{{ .nonce }}"`, probes.ReasonNonceMismatch, `"replayed", not the "n-123" sent`},
		{"nonce missing", sign(t, k1, jose.RS256, "k1", claims(is.URL), nil), `nonce: "{{ .nonce }}"`, probes.ReasonNonceMismatch, "no nonce"},
		{"min remaining", sign(t, k1, jose.RS256, "k1", claims(is.URL), nil), "min_remaining: 1h", probes.ReasonAssertion, "less than min_remaining 1h0m0s"},
		{"typ", sign(t, k1, jose.RS256, "k1", claims(is.URL), nil), "type: at+jwt", probes.ReasonAssertion, `typ is "JWT", want "at+jwt"`},
		{"crit", sign(t, k1, jose.RS256, "k1", claims(is.URL), map[jose.HeaderKey]any{"crit": []string{"exp"}}), "", probes.ReasonTokenResponse, "crit"},
		{"not a JWT", "opaque-token-value", "", probes.ReasonTokenResponse, "not a JWT"},
		{"encrypted", "a.b.c.d.e", "", probes.ReasonTokenResponse, "encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := validate(t, tt.token, base+prefixComma(tt.extra))
			if res.Reason != tt.reason {
				t.Fatalf("reason %q (%s); want %q", res.Reason, res.Message, tt.reason)
			}
			if !strings.Contains(res.Message, tt.msg) {
				t.Errorf("message %q should contain %q", res.Message, tt.msg)
			}
		})
	}
}

func prefixComma(s string) string {
	if s == "" {
		return ""
	}
	return ", " + s
}

func TestKeySetFailures(t *testing.T) {
	k1 := rsaKey(t, "k1")
	tok := func(is *issuer) string { return sign(t, k1, jose.RS256, "k1", claims(is.URL), nil) }
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k1.jwk}})
	tests := []struct {
		name   string
		setup  func(*issuer)
		reason probes.Reason
		msg    string
	}{
		{"key set 500", func(is *issuer) { is.jwksStatus = 500 }, probes.ReasonJWKSFetch, "status 500"},
		{"key set not JSON", func(is *issuer) { is.jwksBody = "<html>" }, probes.ReasonJWKSFetch, "not a JWKS"},
		{"key set empty", func(is *issuer) { is.jwksBody = `{"keys":[]}` }, probes.ReasonJWKSFetch, "no usable signing key"},
		{"key set with private keys", func(is *issuer) { is.jwksBody = string(priv) }, probes.ReasonJWKSFetch, "private key material"},
		{"discovery names another issuer", func(is *issuer) { is.iss = is.URL + "/" }, probes.ReasonIssuerMismatch, "must match exactly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, k1)
			tt.setup(is)
			res := validate(t, tok(is), fmt.Sprintf("issuer: %q, ignore_audience: true", is.URL))
			if res.Reason != tt.reason || !strings.Contains(res.Message, tt.msg) {
				t.Errorf("got %q %q; want %q containing %q", res.Reason, res.Message, tt.reason, tt.msg)
			}
		})
	}
	t.Run("discovery unreachable", func(t *testing.T) {
		is := newIssuer(t, k1)
		token := tok(is)
		is.Close()
		res := validate(t, token, fmt.Sprintf("issuer: %q, ignore_audience: true", is.URL))
		if res.Reason != probes.ReasonDiscovery {
			t.Errorf("got %q %q; want discovery", res.Reason, res.Message)
		}
	})
}

// The key set is fetched once per run however many steps use it, and
// anew each run; its size, fingerprint and the token's expiry are
// reported for export.
func TestKeySetPerRunAndGauges(t *testing.T) {
	k1, k2 := rsaKey(t, "k1"), ecKey(t, "k2")
	is := newIssuer(t, k1, k2)
	exp := time.Now().Add(5 * time.Minute).Unix()
	token := sign(t, k1, jose.RS256, "k1", claims(is.URL, set("exp", exp)), nil)
	_, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: j
    vars: { tok: %q }
    steps:
      - { name: a, jwt: { token: "{{ .tok }}", issuer: %q, audience: urn:api }, expect: { json: { "$.scope": api } } }
      - { name: b, jwt: { token: "{{ .tok }}", issuer: %[2]q, audience: urn:api } }`, token, is.URL))
	var fingerprint string
	for run := 1; run <= 2; run++ {
		res := js[0].Execute(context.Background(), nil, js[0].Variants[0], "")
		if res.Outcome != probes.OutcomeSuccess {
			t.Fatalf("%s %s", res.Reason, res.Message)
		}
		if got := is.fetches.Load(); got != int64(run) {
			t.Errorf("after %d runs of two jwt steps the key set was fetched %d times; want once per run", run, got)
		}
		gauges := map[string]probes.StepGauge{}
		for _, g := range res.Gauges {
			gauges[g.Step+"/"+g.Name] = g
		}
		if g := gauges["a/"+probes.GaugeTokenExpiry]; g.Value != float64(exp) {
			t.Errorf("token expiry %v, want %d", g.Value, exp)
		}
		if g := gauges["a/"+probes.GaugeJWKSKeys]; g.Value != 2 {
			t.Errorf("jwks keys %v, want 2", g.Value)
		}
		fp := gauges["b/"+probes.GaugeJWKSFingerprint].Label
		if fp == "" || (fingerprint != "" && fp != fingerprint) {
			t.Errorf("fingerprint %q, previously %q: it must be stable for the same keys", fp, fingerprint)
		}
		fingerprint = fp
	}
	is.keys = []key{k2, k1} // same keys, other order
	res := js[0].Execute(context.Background(), nil, js[0].Variants[0], "")
	for _, g := range res.Gauges {
		if g.Name == probes.GaugeJWKSFingerprint && g.Label != fingerprint {
			t.Error("the fingerprint depends on key order")
		}
	}
	is.keys = []key{k1}
	res = js[0].Execute(context.Background(), nil, js[0].Variants[0], "")
	for _, g := range res.Gauges {
		if g.Name == probes.GaugeJWKSFingerprint && g.Label == fingerprint {
			t.Error("the fingerprint did not change with the key set")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	err := probetest.Errors(t, `journeys: [{ name: j, steps: [
	  { name: s, jwt: { token: x } },
	  { name: t, jwt: { token: x, issuer: "https://i.example", leeway: 1h, algorithms: [HS256, none, XX256] } } ] }]`)
	for _, want := range []string{
		"journeys[0].steps[0].jwt.issuer: is required",
		"journeys[0].steps[1].jwt.audience: is required: the token's aud must name what it is for",
		"journeys[0].steps[1].jwt.leeway: 1h0m0s is out of range; use 0s to 5m0s",
		"algorithms[0]: HS256 is never accepted",
		"algorithms[1]: none is never accepted",
		`algorithms[2]: "XX256" is not a signing algorithm`,
	} {
		if !strings.Contains(err, want) {
			t.Errorf("errors lack %q:\n%s", want, err)
		}
	}
}

// Keys the step cannot use for the token's algorithm are never tried: an
// encryption key, a key pinned to another algorithm, a key of another type.
func TestKeyUse(t *testing.T) {
	k1 := rsaKey(t, "k1")
	enc := rsaKey(t, "k1")
	tests := []struct {
		name   string
		pub    func() []jose.JSONWebKey
		alg    jose.SignatureAlgorithm
		reason probes.Reason
	}{
		{"encryption key with the kid", func() []jose.JSONWebKey {
			k := k1.jwk.Public()
			k.Use = "enc"
			other := enc.jwk.Public()
			other.KeyID = "k2"
			return []jose.JSONWebKey{k, other}
		}, jose.RS256, probes.ReasonUnknownKID},
		{"key pinned to RS256, token PS256", func() []jose.JSONWebKey {
			k := k1.jwk.Public()
			k.Algorithm = "RS256"
			return []jose.JSONWebKey{k}
		}, jose.PS256, probes.ReasonBadSignature},
		{"an unusable key beside the good one", func() []jose.JSONWebKey {
			e := enc.jwk.Public()
			e.Use, e.KeyID = "enc", "e1"
			return []jose.JSONWebKey{e, k1.jwk.Public()}
		}, jose.RS256, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t)
			body, _ := json.Marshal(jose.JSONWebKeySet{Keys: tt.pub()})
			is.jwksBody = string(body)
			res := validate(t, sign(t, k1, tt.alg, "k1", claims(is.URL), nil), fmt.Sprintf("issuer: %q, audience: urn:api", is.URL))
			if res.Reason != tt.reason {
				t.Errorf("reason %q (%s), want %q", res.Reason, res.Message, tt.reason)
			}
		})
	}
}

// A fail-closed check with a jwt step: a tampered token must fail
// validation; a valid one fails the check with not_rejected.
func TestRejected(t *testing.T) {
	k1 := rsaKey(t, "k1")
	is := newIssuer(t, k1)
	good := sign(t, k1, jose.RS256, "k1", claims(is.URL), nil)
	_, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: j
    vars: { tok: %q }
    steps:
      - { name: tampered, jwt: { token: "{{ tamper .tok }}", issuer: %q, audience: urn:api }, expect: { rejected: true } }
      - { name: valid, jwt: { token: "{{ .tok }}", issuer: %[2]q, audience: urn:api }, expect: { rejected: true } }`, good, is.URL))
	res := js[0].Execute(context.Background(), nil, js[0].Variants[0], "")
	if res.Reason != probes.ReasonNotRejected || res.FailedStep != "valid" {
		t.Errorf("got %s at %s (%s); want the tampered token refused and the valid one not_rejected", res.Reason, res.FailedStep, res.Message)
	}
}

// A step retried with retry_until fetches the key set again: a failure is
// not remembered for the rest of the run.
func TestRetryRefetchesKeys(t *testing.T) {
	k1 := rsaKey(t, "k1")
	is := newIssuer(t, k1)
	is.jwksStatus = 503
	go func() {
		time.Sleep(300 * time.Millisecond)
		is.setStatus(200)
	}()
	res := validateWith(t, sign(t, k1, jose.RS256, "k1", claims(is.URL), nil), fmt.Sprintf("issuer: %q, audience: urn:api", is.URL),
		"retry_until: { every: 100ms, for: 3s }")
	if res.Outcome != probes.OutcomeSuccess {
		t.Errorf("%s: %s", res.Reason, res.Message)
	}
}
