// Package jwtstep is the jwt step kind: it validates a token the way a
// careful relying party does, in an order that makes the first failure the
// cause — parse, algorithm, key id, signature, then claims — so the page
// says unknown_kid when keys were rotated on one side, and not "invalid
// token". The key set is fetched during the run (per target under fan-out)
// and never from the token's own jku or x5u.
package jwtstep

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/oidc"
)

func init() {
	probes.Register(probes.Kind{
		Name:    "jwt",
		Doc:     "Validates a JWT against the issuer's key set: algorithm, kid, signature, iss, aud, exp, nbf, iat, claims, nonce.",
		NewSpec: func() any { return new(Spec) },
		Build:   func(spec any) (probes.Step, error) { return step{spec.(*Spec)}, nil },
		Reasons: append(slices.Clone(probes.NetworkReasons), probes.ReasonDiscovery, probes.ReasonJWKSFetch,
			probes.ReasonUnknownKID, probes.ReasonBadSignature, probes.ReasonAlgNotAllowed, probes.ReasonExpired,
			probes.ReasonNotYetValid, probes.ReasonIATFuture, probes.ReasonIssuerMismatch, probes.ReasonAudienceMismatch,
			probes.ReasonMissingClaim, probes.ReasonNonceMismatch, probes.ReasonTokenResponse, probes.ReasonBodyTooLarge),
		// A token that fails validation is refused; a key set that cannot
		// be fetched decides nothing.
		Refusals: []probes.Reason{probes.ReasonAlgNotAllowed, probes.ReasonUnknownKID, probes.ReasonBadSignature,
			probes.ReasonExpired, probes.ReasonNotYetValid, probes.ReasonIATFuture, probes.ReasonIssuerMismatch,
			probes.ReasonAudienceMismatch, probes.ReasonMissingClaim, probes.ReasonNonceMismatch, probes.ReasonTokenResponse},
	})
}

// asymmetric are the algorithms a public key set can verify. HMAC and none
// are never accepted: with public keys, HS256 is the key-confusion attack.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// DefaultLeeway absorbs small clock differences between prober and issuer.
const DefaultLeeway = 30 * time.Second

// Spec is the jwt step's settings.
type Spec struct {
	Token          config.Template   `yaml:"token,required" doc:"The token, e.g. {{ .access_token }} or {{ .id_token }}."`
	Issuer         string            `yaml:"issuer,required" doc:"The expected iss, exactly; the key set is discovered from it unless jwks_url is given."`
	JWKSURL        config.Template   `yaml:"jwks_url" doc:"The key set's URL, instead of discovery."`
	TLS            *config.TLS       `yaml:"tls" doc:"TLS settings for fetching discovery and the key set."`
	Audience       config.StringList `yaml:"audience" doc:"The aud must contain one of these. Required unless ignore_audience."`
	IgnoreAudience bool              `yaml:"ignore_audience" doc:"Accept any aud (an IdP that sets none). Checking the audience is what stops a token for another API."`
	Algorithms     []string          `yaml:"algorithms" doc:"Allowed signing algorithms. Default: every asymmetric one (RS*, PS*, ES*, EdDSA); none and HS* are never allowed."`
	Type           string            `yaml:"type" doc:"The expected typ header, e.g. at+jwt for RFC 9068 access tokens."`
	Leeway         *config.Duration  `yaml:"leeway" doc:"Allowed clock difference for exp, nbf and iat, at most 5m. Default 30s."`
	RequiredClaims []string          `yaml:"required_claims" doc:"Claims that must be present (reason missing_claim); check their values with expect.json on the claims."`
	Nonce          config.Template   `yaml:"nonce" doc:"For ID tokens: the nonce it must carry, e.g. {{ .nonce }} from the oauth2 step."`
	MinRemaining   config.Duration   `yaml:"min_remaining" doc:"The token must stay valid at least this long (reason assertion)."`
}

// MaxLeeway bounds the clock difference a check may forgive; beyond it a
// token that expired long ago would pass.
const MaxLeeway = 5 * time.Minute

// Check validates the settings. The checks a relying party must make are
// not optional: iss always, aud unless explicitly waived.
func (s *Spec) Check(c *config.Check) {
	if len(s.Audience) == 0 && !s.IgnoreAudience {
		c.Errorf("audience", "is required: the token's aud must name what it is for (the API, or the client for an ID token); set ignore_audience: true to accept any")
	}
	if s.Leeway != nil && (*s.Leeway < 0 || s.Leeway.D() > MaxLeeway) {
		c.Errorf("leeway", "%s is out of range; use 0s to %s", s.Leeway, MaxLeeway)
	}
	for i, a := range s.Algorithms {
		switch {
		case a == "none" || strings.HasPrefix(strings.ToUpper(a), "HS"):
			c.Errorf(fmt.Sprintf("algorithms[%d]", i), "%s is never accepted: authprobe verifies with public keys, and HMAC or none with them is an attack", a)
		case !slices.Contains(asymmetric, a):
			c.Errorf(fmt.Sprintf("algorithms[%d]", i), "%q is not a signing algorithm authprobe knows; use %s", a, strings.Join(asymmetric, ", "))
		}
	}
	if len(s.Algorithms) == 0 {
		s.Algorithms = asymmetric
	}
	if s.Leeway == nil {
		l := config.Duration(DefaultLeeway)
		s.Leeway = &l
	}
}

type step struct{ *Spec }

// header is the part of a JOSE header the checks read.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Cty  string          `json:"cty"`
	Crit json.RawMessage `json:"crit"`
}

// Do validates the token; the response's body is its claims, for expect.json.
func (s step) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	raw, err := run.Render(s.Token)
	if err != nil {
		return nil, err
	}
	nonce := ""
	if !s.Nonce.IsZero() {
		if nonce, err = run.Render(s.Nonce); err != nil {
			return nil, err
		}
	}
	h, err := s.header(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	keys, err := s.keySet(ctx, run)
	if err != nil {
		return nil, err
	}
	return s.verify(ctx, strings.TrimSpace(raw), h, keys, nonce, time.Now())
}

// header parses the token's header and checks its algorithm first: a
// forged token must not reach key lookup.
func (s step) header(raw string) (header, error) {
	var h header
	parts := strings.Split(raw, ".")
	switch {
	case len(parts) == 5:
		return h, probes.Failf(probes.ReasonTokenResponse, "the token is encrypted (JWE); authprobe validates signed tokens")
	case len(parts) != 3:
		return h, probes.Failf(probes.ReasonTokenResponse, "the token is not a JWT: it has %d parts, not 3", len(parts))
	case strings.IndexFunc(raw, notBase64URL) >= 0:
		// Go's base64 skips line breaks and go-jose strips padding, then
		// verifies the parts re-encoded: without this check a signed token
		// with characters inserted would verify as it is not written.
		return h, probes.Failf(probes.ReasonTokenResponse, "the token is not a JWT: it holds characters other than base64url and dots")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err == nil {
		err = json.Unmarshal(hb, &h)
	}
	if err != nil {
		return h, probes.Failf(probes.ReasonTokenResponse, "the token's header is not base64url JSON")
	}
	switch {
	case strings.EqualFold(h.Alg, "none"):
		return h, probes.Failf(probes.ReasonAlgNotAllowed, "alg none: the token is unsigned")
	case strings.HasPrefix(strings.ToUpper(h.Alg), "HS"):
		return h, probes.Failf(probes.ReasonAlgNotAllowed, "alg %s is HMAC; with a public key set that is the key-confusion attack", h.Alg)
	case !slices.Contains(s.Algorithms, h.Alg):
		return h, probes.Failf(probes.ReasonAlgNotAllowed, "alg %q is not allowed (%s)", h.Alg, strings.Join(s.Algorithms, ", "))
	}
	if len(h.Crit) > 0 {
		return h, probes.Failf(probes.ReasonTokenResponse, "the token has critical header extensions (crit) authprobe does not understand")
	}
	if s.Type != "" && !strings.EqualFold(h.Typ, s.Type) {
		return h, probes.Failf(probes.ReasonAssertion, "typ is %q, want %q", h.Typ, s.Type)
	}
	return h, nil
}

// notBase64URL reports whether r is neither base64url (RFC 4648 §5,
// unpadded, as JWS uses it) nor the dot between parts.
func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

// verify finds the token's key, checks the signature and then the claims.
// Trying keys stops when ctx is done: a set of the largest keys with the
// largest exponents, and a token without a kid, can cost seconds.
func (s step) verify(ctx context.Context, raw string, h header, keys *oidc.KeySet, nonce string, now time.Time) (*probes.Response, error) {
	gauges := []probes.StepGauge{
		{Name: probes.GaugeJWKSKeys, Value: float64(len(keys.Keys))},
		{Name: probes.GaugeJWKSFingerprint, Value: 1, Label: keys.Fingerprint},
	}
	named := keys.Key(h.Kid)
	if h.Kid == "" {
		named = keys.Keys
	}
	var candidates []jose.JSONWebKey
	for _, k := range named {
		if fits(k, h.Alg) {
			candidates = append(candidates, k)
		}
	}
	switch {
	case len(named) == 0 && keys.Unparsed[h.Kid] != "":
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonJWKSFetch, "key %q of the key set at %s cannot be used: %s", h.Kid, probes.ShortURL(keys.URL), keys.Unparsed[h.Kid])
	case len(named) == 0:
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonUnknownKID, "kid %q is not in the key set at %s (kids: %s)", h.Kid, probes.ShortURL(keys.URL), keys.KIDs())
	case len(candidates) == 0 && h.Kid == "":
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonUnknownKID, "the token has no kid and no key in the set fits %s", h.Alg)
	case len(candidates) == 0:
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonBadSignature, "key %q cannot verify %s: its type or alg is another", h.Kid, h.Alg)
	}

	// The signature is checked apart from the claims, so that a signed
	// payload that is not JSON (a nested JWT) is a malformed token, not a
	// bad signature.
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(h.Alg)})
	if err != nil {
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonTokenResponse, "the token cannot be parsed: %v", err)
	}
	var payload []byte
	var verr error
	for _, k := range candidates {
		if err := ctx.Err(); err != nil {
			return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonTimeout, "the deadline passed while trying the key set's keys: %v", err)
		}
		if payload, verr = jws.Verify(k.Key); verr == nil {
			break
		}
	}
	if verr != nil {
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonBadSignature, "the signature does not verify with key %q: %v", h.Kid, verr)
	}

	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || dec.More() {
		what := "the claims are not a JSON object"
		if h.Cty != "" {
			what += fmt.Sprintf(" (cty %q: authprobe does not validate nested tokens)", truncate(h.Cty))
		}
		return &probes.Response{Gauges: gauges}, probes.Failf(probes.ReasonTokenResponse, "%s", what)
	}
	resp := &probes.Response{Body: payload, Header: map[string][]string{"Content-Type": {"application/json"}}, Gauges: gauges}
	return resp, s.checkClaims(claims, resp, nonce, now)
}

func (s step) keySet(ctx context.Context, run *probes.Run) (*oidc.KeySet, error) {
	var u string
	var err error
	if !s.JWKSURL.IsZero() {
		u, err = run.Render(s.JWKSURL)
	} else {
		p := oidc.Provider{Issuer: s.Issuer, TLS: s.TLS}
		u, err = p.URL(ctx, run, oidc.JWKSEndpoint)
	}
	if err != nil {
		return nil, err
	}
	return oidc.FetchKeys(ctx, run, s.TLS, u)
}

// checkClaims checks iss, aud, exp, nbf, iat, required claims, nonce and
// remaining lifetime, in that order.
func (s step) checkClaims(claims map[string]any, resp *probes.Response, want string, now time.Time) error {
	leeway := s.Leeway.D()
	if s.Issuer != "" {
		iss, _ := claims["iss"].(string)
		if iss != s.Issuer {
			return probes.Failf(probes.ReasonIssuerMismatch, "iss is %q, want %q", truncate(iss), s.Issuer)
		}
	}
	if len(s.Audience) > 0 {
		aud := audiences(claims["aud"])
		if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(s.Audience, a) }) {
			return probes.Failf(probes.ReasonAudienceMismatch, "aud is %s, want one of %s", quoteList(aud), quoteList(s.Audience))
		}
	}
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return probes.Failf(probes.ReasonMissingClaim, "the token has no exp: it would never expire")
	}
	resp.Gauges = append(resp.Gauges, probes.StepGauge{Name: probes.GaugeTokenExpiry, Value: float64(exp.Unix())})
	if now.Add(-leeway).After(exp) {
		return probes.Failf(probes.ReasonExpired, "the token expired at %s, %s ago (leeway %s)", exp.UTC().Format(time.RFC3339), now.Sub(exp).Round(time.Second), leeway)
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return err
	} else if ok && now.Add(leeway).Before(nbf) {
		return probes.Failf(probes.ReasonNotYetValid, "the token is not valid before %s, %s from now (leeway %s)", nbf.UTC().Format(time.RFC3339), nbf.Sub(now).Round(time.Second), leeway)
	}
	if iat, ok, err := numericDate(claims, "iat"); err != nil {
		return err
	} else if ok && now.Add(leeway).Before(iat) {
		return probes.Failf(probes.ReasonIATFuture, "the token was issued %s in the future (leeway %s): the issuer's clock or authprobe's is off", iat.Sub(now).Round(time.Second), leeway)
	}
	for _, c := range s.RequiredClaims {
		if _, ok := claims[c]; !ok {
			return probes.Failf(probes.ReasonMissingClaim, "the token has no %s claim", c)
		}
	}
	if !s.Nonce.IsZero() {
		got, ok := claims["nonce"].(string)
		switch {
		case !ok:
			return probes.Failf(probes.ReasonNonceMismatch, "the token has no nonce; the one sent was %q", want)
		case got != want:
			return probes.Failf(probes.ReasonNonceMismatch, "the nonce is %q, not the %q sent", truncate(got), want)
		}
	}
	if s.MinRemaining > 0 && exp.Sub(now) < s.MinRemaining.D() {
		return probes.Failf(probes.ReasonAssertion, "the token expires in %s, less than min_remaining %s", exp.Sub(now).Round(time.Second), s.MinRemaining)
	}
	return nil
}

// fits reports whether a key can verify a signature algorithm: its alg, if
// it names one, is that algorithm, and its type and curve match.
func fits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return alg == map[int]string{256: "ES256", 384: "ES384", 521: "ES512"}[key.Curve.Params().BitSize]
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// numericDate reads a NumericDate claim (RFC 7519 §2): seconds since the
// epoch, possibly fractional.
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := v.(json.Number)
	f, err := n.Float64()
	if !isNum || err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, false, probes.Failf(probes.ReasonTokenResponse, "the %s claim is not a number of seconds", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func quoteList(l []string) string {
	if len(l) == 0 {
		return "absent"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", truncate(s))
	}
	return strings.Join(q, ", ")
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
