package jwtstep

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/oidc"
)

// FuzzVerify validates arbitrary token strings against a fixed key set:
// it never panics, fails only with the reasons the kind declares, and
// accepts a token only if its signature verifies with one of the set's
// keys when checked independently of go-jose — never an unsigned or
// wrongly signed one.
func FuzzVerify(f *testing.F) {
	// The EC and Ed25519 keys are fixed, so that corpus entries signed
	// with them stay valid across runs; RSA keys cannot be derived from a
	// seed, so the RSA seeds are made fresh each run.
	ecKey, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), fixedBytes(32, 1))
	if err != nil {
		f.Fatal(err)
	}
	edKey := ed25519.NewKeyFromSeed(fixedBytes(ed25519.SeedSize, 2))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	keys := &oidc.KeySet{
		JSONWebKeySet: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &rsaKey.PublicKey, KeyID: "rsa", Use: "sig"},
			{Key: &ecKey.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"},
			{Key: edKey.Public(), KeyID: "ed", Use: "sig"},
		}},
		Fingerprint: "fuzz", URL: "https://idp.example.com/jwks",
		Unparsed: map[string]string{"huge": "invalid RSA key, modulus too large"},
	}
	publics := map[string]crypto.PublicKey{"rsa": &rsaKey.PublicKey, "ec": &ecKey.PublicKey, "ed": edKey.Public()}
	leeway := config.Duration(DefaultLeeway)
	s := step{&Spec{Issuer: "https://idp.example.com", Audience: config.StringList{"urn:api"}, Algorithms: asymmetric,
		Leeway: &leeway, RequiredClaims: []string{"sub"}}}
	var kind probes.Kind
	for _, k := range probes.Kinds() {
		if k.Name == "jwt" {
			kind = k
		}
	}
	// A fixed time, so that corpus entries do not expire.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	claims := map[string]any{"iss": "https://idp.example.com", "aud": []string{"urn:api", "other"}, "sub": "probe",
		"iat": now.Unix() - 10, "nbf": now.Unix() - 10, "exp": now.Unix() + 300, "scope": "api", "nonce": "n-1"}
	sign := func(alg jose.SignatureAlgorithm, key any, kid string, headers map[jose.HeaderKey]any, payload any) string {
		opts := (&jose.SignerOptions{}).WithType("JWT")
		if kid != "" {
			opts = opts.WithHeader("kid", kid)
		}
		for k, v := range headers {
			opts = opts.WithHeader(k, v)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(payload)
		jws, err := signer.Sign(b)
		if err != nil {
			f.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	good := sign(jose.RS256, rsaKey, "rsa", nil, claims)
	for _, tok := range []string{
		good,
		sign(jose.PS384, rsaKey, "rsa", nil, claims),
		sign(jose.RS512, rsaKey, "", nil, claims),
		sign(jose.ES256, ecKey, "ec", nil, claims),
		sign(jose.EdDSA, edKey, "ed", nil, claims),
		sign(jose.ES256, ecKey, "rsa", nil, claims),
		sign(jose.RS256, rsaKey, "rsa", map[jose.HeaderKey]any{"cty": "JWT"}, good),
		sign(jose.RS256, rsaKey, "rsa", map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}, claims),
		sign(jose.RS256, rsaKey, "rsa", map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}, claims),
		sign(jose.RS256, rsaKey, "rsa", nil, map[string]any{"iss": "https://idp.example.com", "aud": "urn:api", "exp": "soon"}),
		sign(jose.RS256, rsaKey, "rsa", nil, []int{1, 2}),
		config.Tamper(good),
		" " + good + "\n",
		good + "==",
		b64(map[string]any{"alg": "none", "kid": "rsa"}) + "." + b64(claims) + ".",
		b64(map[string]any{"alg": "HS256", "kid": "rsa"}) + "." + b64(claims) + ".c2ln",
		b64(map[string]any{"alg": "RS256", "kid": "huge"}) + "." + b64(claims) + ".c2ln",
		b64(map[string]any{"alg": "RS256", "kid": "../../etc/passwd"}) + "." + b64(claims) + ".c2ln",
		b64(map[string]any{"alg": "ES256"}) + "." + b64(claims) + "." + strings.Repeat("A", 86),
		"a.b.c.d.e",
		"..",
		"e30.e30.",
		"",
	} {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.TrimSpace(raw)
		h, err := s.header(raw)
		if err == nil {
			var resp *probes.Response
			resp, err = s.verify(context.Background(), raw, h, keys, "", now)
			if err == nil && resp == nil {
				t.Fatal("verify accepted a token without a response")
			}
		}
		if err != nil {
			var pe *probes.Error
			if !errors.As(err, &pe) {
				t.Fatalf("the error is a %T, without a reason: %v", err, err)
			}
			if !slices.Contains(kind.Reasons, pe.Reason) && pe.Reason != probes.ReasonAssertion {
				t.Fatalf("reason %q is not one the jwt kind declares: %v", pe.Reason, err)
			}
			return
		}
		if !signedBy(raw, publics) {
			t.Fatalf("accepted %q, whose signature verifies with none of the keys", raw)
		}
	})
}

// fixedBytes is n bytes derived from seed, for keys that must not change.
func fixedBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)*7
	}
	return b
}

// signedBy checks a compact JWS the long way, with the standard library
// only: its alg is an asymmetric one and its signature verifies with one
// of the keys.
func signedBy(raw string, keys map[string]crypto.PublicKey) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false // RFC 7515 §2: base64url without padding, line breaks or anything else
		}
	}
	dec := base64.RawURLEncoding.DecodeString
	hb, err := dec(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return false
	}
	sig, err := dec(parts[2])
	if err != nil {
		return false
	}
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	input := []byte(parts[0] + "." + parts[1])
	digest := func(hash crypto.Hash) []byte { d := hash.New(); d.Write(input); return d.Sum(nil) }
	for _, key := range keys {
		switch key := key.(type) {
		case *rsa.PublicKey:
			hash, ok := hashes[strings.TrimLeft(h.Alg, "RSP")]
			switch {
			case !ok:
			case strings.HasPrefix(h.Alg, "RS") && rsa.VerifyPKCS1v15(key, hash, digest(hash), sig) == nil:
				return true
			case strings.HasPrefix(h.Alg, "PS") && rsa.VerifyPSS(key, hash, digest(hash), sig, nil) == nil:
				return true
			}
		case *ecdsa.PublicKey:
			if h.Alg == "ES256" && len(sig) == 64 {
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				if ecdsa.Verify(key, digest(crypto.SHA256), r, s) {
					return true
				}
			}
		case ed25519.PublicKey:
			if h.Alg == "EdDSA" && ed25519.Verify(key, input, sig) {
				return true
			}
		}
	}
	return false
}
