package hostile

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authprobe/authprobe/probes"
)

// Keys for the token cases, made once: RSA key generation is slow under
// the race detector.
var (
	keysOnce         sync.Once
	legit, attacker  *rsa.PrivateKey
	legitJWK         jose.JSONWebKey
	hugeModulusJWK   json.RawMessage // a 16,384-bit RSA public key, kid "huge"
	wideExponentJWKs []json.RawMessage
)

const (
	issuerName = "https://idp.hostile.test"
	audience   = "urn:api"
)

func keys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if legit, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if attacker, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		legitJWK = jose.JSONWebKey{Key: &legit.PublicKey, KeyID: "legit", Algorithm: "RS256", Use: "sig"}
		// No one needs the private half of a 16,384-bit key to publish
		// one: any odd number of that size is a modulus to the verifier.
		hugeModulusJWK = rsaJWK("huge", oddOfBits(16384), 65537)
		// 1,000 4096-bit keys (the largest go-jose accepts) with the
		// largest exponent crypto/rsa accepts: the most expensive set to
		// try every key of.
		for i := range 1000 {
			wideExponentJWKs = append(wideExponentJWKs, rsaJWK(fmt.Sprintf("wide-%d", i), oddOfBits(4096), 1<<31-1))
		}
	})
}

func oddOfBits(bits int) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		panic(err)
	}
	n.SetBit(n, bits-1, 1)
	return n.SetBit(n, 0, 1)
}

func rsaJWK(kid string, n *big.Int, e int64) json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig",
		"n": b64(n.Bytes()), "e": b64(big.NewInt(e).Bytes()),
	})
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64(b)
}

// validClaims are claims a relying party would accept.
func validClaims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": issuerName, "aud": audience, "sub": "probe", "iat": now, "exp": now + 300}
}

// token signs a header and payload with RS256 and key, as any header
// asks, without go-jose's opinions about the header.
func token(header map[string]any, payload string, key *rsa.PrivateKey) string {
	if _, ok := header["alg"]; !ok {
		header["alg"] = "RS256"
	}
	input := b64json(header) + "." + payload
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + b64(sig)
}

// jwksServer serves key sets and counts what it is asked for.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newJWKSServer(t *testing.T, sets map[string]func(w http.ResponseWriter)) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		f, ok := sets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		f(w)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

func (s *jwksServer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = nil
}

func writeSet(keys ...json.RawMessage) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { json.NewEncoder(w).Encode(map[string]any{"keys": keys}) }
}

// verify is a journey that validates tok against the key set at jwksURL.
func verify(tok, jwksURL string) string {
	return fmt.Sprintf(`
journeys:
  - name: hostile
    timeout: 1s
    steps:
      - name: verify
        jwt: { token: %q, issuer: %q, audience: %q, jwks_url: %q }
`, tok, issuerName, audience, jwksURL)
}

// Token endpoints that answer with JSON bombs.
func TestTokenResponseBombs(t *testing.T) {
	noLeaks(t)
	env := testEnv()
	const mb100 = 100 << 20
	stream := func(w http.ResponseWriter, r *http.Request, prefix, unit, suffix string, size int) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(unit, 64<<10/len(unit)))
		if _, err := w.Write([]byte(prefix)); err != nil {
			return
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil || r.Context().Err() != nil {
				return
			}
		}
		w.Write([]byte(suffix))
	}
	bombs := map[string]func(w http.ResponseWriter, r *http.Request){
		// Each fits in the 1 MiB authprobe reads from an identity provider.
		"/deep": func(w http.ResponseWriter, r *http.Request) {
			stream(w, r, `{"access_token":"a","token_type":"Bearer","x":`, "[", "", 1_000_000-64<<10)
		},
		"/array": func(w http.ResponseWriter, r *http.Request) {
			stream(w, r, `{"token_type":"Bearer","access_token":[`, "0,", "0]}", 1_000_000-64<<10)
		},
		"/keys": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			var b strings.Builder
			b.WriteString(`{"token_type":"Bearer"`)
			for i := range 90_000 {
				fmt.Fprintf(&b, `,"k%d":0`, i)
			}
			b.WriteString("}")
			w.Write([]byte(b.String()))
		},
		// These do not.
		"/huge-array": func(w http.ResponseWriter, r *http.Request) {
			stream(w, r, `{"token_type":"Bearer","access_token":[`, "0,", "0]}", mb100)
		},
		"/huge-string": func(w http.ResponseWriter, r *http.Request) {
			stream(w, r, `{"token_type":"Bearer","access_token":"`, "A", `"}`, mb100)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if f, ok := bombs[r.URL.Path]; ok {
			f(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"fine","token_type":"Bearer","expires_in":300}`)
	}))
	t.Cleanup(srv.Close)
	grant := func(path string) string {
		return fmt.Sprintf(`
journeys:
  - name: hostile
    timeout: 1s
    steps:
      - name: token
        oauth2: { token_url: "%s%s", grant: client_credentials, client_id: probe, client_secret: s3cret }
`, srv.URL, path)
	}
	runCases(t, env, []hostileCase{
		{name: "token response (control)", reason: "", yaml: grant("/token")},
		{name: "token response nested 1,000,000 deep", reason: probes.ReasonTokenResponse, yaml: grant("/deep"), msg: "exceeded max depth"},
		{name: "token response with a 500,000-element array", reason: probes.ReasonTokenResponse, yaml: grant("/array")},
		{name: "token response with 90,000 keys", reason: probes.ReasonTokenResponse, yaml: grant("/keys")},
		{name: "token response with a 100 MB array", reason: probes.ReasonBodyTooLarge, yaml: grant("/huge-array"), alloc: 64 << 20},
		{name: "token response with a 100 MB string", reason: probes.ReasonBodyTooLarge, yaml: grant("/huge-string"), alloc: 64 << 20},
	})
}

// Key sets built to exhaust the verifier.
func TestHostileKeySets(t *testing.T) {
	noLeaks(t)
	keys(t)
	env := testEnv()
	legitRaw, _ := legitJWK.Public().MarshalJSON()
	var many, tiny []json.RawMessage
	for i := range 10_000 {
		k := legitJWK.Public()
		k.KeyID = fmt.Sprintf("k%d", i)
		raw, _ := k.MarshalJSON()
		many = append(many, raw)
		tiny = append(tiny, json.RawMessage(`{"kty":"EC"}`))
	}
	srv := newJWKSServer(t, map[string]func(w http.ResponseWriter){
		"/legit":      writeSet(legitRaw),
		"/10000":      writeSet(many...),
		"/10000-tiny": writeSet(tiny...),
		"/huge":       writeSet(hugeModulusJWK),
		"/huge+legit": writeSet(legitRaw, hugeModulusJWK),
		"/wide":       writeSet(wideExponentJWKs...),
		"/deep":       func(w http.ResponseWriter) { w.Write([]byte(`{"keys":` + strings.Repeat("[", 1_000_000))) },
		"/not-a-set":  func(w http.ResponseWriter) { w.Write([]byte(`"keys"`)) },
		"/private-key": func(w http.ResponseWriter) {
			k, _ := json.Marshal(jose.JSONWebKey{Key: legit, KeyID: "legit"})
			writeSet(k)(w)
		},
	})
	good := token(map[string]any{"kid": "legit", "typ": "JWT"}, b64json(validClaims()), legit)
	huge := token(map[string]any{"kid": "huge"}, b64json(validClaims()), attacker)
	// A token without a kid makes the verifier try every key that fits;
	// its signature is as long as a 4096-bit key's, so none is skipped
	// for its length.
	noKid := b64json(map[string]any{"alg": "RS256"}) + "." + b64json(validClaims()) + "." + b64(oddOfBits(4095).FillBytes(make([]byte, 512)))

	runCases(t, env, []hostileCase{
		{name: "key set (control)", reason: "", yaml: verify(good, srv.URL+"/legit")},
		{name: "JWKS with 10,000 keys (7 MiB)", reason: probes.ReasonJWKSFetch, yaml: verify(good, srv.URL+"/10000"), msg: "larger than 1MiB"},
		{name: "JWKS with 10,000 keys (within 1 MiB)", reason: probes.ReasonJWKSFetch, yaml: verify(good, srv.URL+"/10000-tiny"), msg: "10000 keys, more than 1000"},
		{name: "JWKS with a 16,384-bit RSA modulus", reason: probes.ReasonJWKSFetch, yaml: verify(huge, srv.URL+"/huge"), msg: "no usable signing key"},
		{name: "JWKS with a 16,384-bit RSA modulus beside a usable key", reason: probes.ReasonJWKSFetch, yaml: verify(huge, srv.URL+"/huge+legit"), msg: "modulus too large"},
		// Trying all 1,000 keys takes about a second, more than the run has.
		{name: "JWKS with 1,000 4096-bit keys, e=2^31-1, token without kid", reason: probes.ReasonTimeout,
			yaml: timeout(verify(noKid, srv.URL+"/wide"), "300ms"), msg: "trying the key set's keys"},
		{name: "JWKS nested 1,000,000 deep", reason: probes.ReasonJWKSFetch, yaml: verify(good, srv.URL+"/deep"), msg: "exceeded max depth"},
		{name: "JWKS that is not a set", reason: probes.ReasonJWKSFetch, yaml: verify(good, srv.URL+"/not-a-set")},
		{name: "JWKS publishing a private key", reason: probes.ReasonJWKSFetch, yaml: verify(good, srv.URL+"/private-key"), msg: "private key material"},
	})
}

// Tokens whose headers try to talk the verifier into something.
func TestForgedTokens(t *testing.T) {
	noLeaks(t)
	keys(t)
	env := testEnv()
	legitRaw, _ := legitJWK.Public().MarshalJSON()
	attackerJWK := jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: "legit", Algorithm: "RS256", Use: "sig"}
	attackerRaw, _ := attackerJWK.MarshalJSON()

	jwks := newJWKSServer(t, map[string]func(w http.ResponseWriter){"/jwks": writeSet(legitRaw)})
	// The attacker's own key set and certificate, which jku and x5u point at.
	evil := newJWKSServer(t, map[string]func(w http.ResponseWriter){"/jwks": writeSet(attackerRaw), "/x5u": writeSet(attackerRaw)})

	claims := b64json(validClaims())
	pubDER, _ := x509.MarshalPKIXPublicKey(&legit.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hmacInput := b64json(map[string]any{"alg": "HS256", "kid": "legit", "typ": "JWT"}) + "." + claims
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(hmacInput))
	inner := token(map[string]any{"kid": "legit", "typ": "JWT"}, claims, legit)
	pad := map[string]any{"pad": strings.Repeat("p", 768<<10)}
	for k, v := range validClaims() {
		pad[k] = v
	}

	// The 1 MiB token comes from a page, as a token does, not the config.
	hugeTok := token(map[string]any{"kid": "legit"}, b64json(pad), attacker)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"token": hugeTok})
	}))
	t.Cleanup(page.Close)
	fetched := fmt.Sprintf(`
journeys:
  - name: hostile
    timeout: 1s
    steps:
      - name: fetch
        http: { url: %q }
        extract: { tok: { json: $.token, secret: true } }
      - name: verify
        jwt: { token: "{{ .tok }}", issuer: %q, audience: %q, jwks_url: "%s/jwks" }
`, page.URL, issuerName, audience, jwks.URL)

	neverFetched := func(t *testing.T, _ probes.Result) {
		if got := jwks.requests(); len(got) != 0 {
			t.Errorf("a forged token reached key lookup: the key set was fetched (%v)", got)
		}
	}
	onlyTheSet := func(t *testing.T, _ probes.Result) {
		for _, p := range jwks.requests() {
			if p != "/jwks" {
				t.Errorf("the token's header made authprobe ask for %s", p)
			}
		}
		if got := evil.requests(); len(got) != 0 {
			t.Errorf("the token's header sent authprobe to the attacker's server: %v", got)
		}
	}
	u := jwks.URL + "/jwks"
	for _, c := range []hostileCase{
		{name: "valid token (control)", reason: "", yaml: verify(inner, u), check: onlyTheSet},
		{name: "alg none", reason: probes.ReasonAlgNotAllowed, check: neverFetched,
			yaml: verify(b64json(map[string]any{"alg": "none", "kid": "legit"})+"."+claims+".", u)},
		{name: "alg nOnE", reason: probes.ReasonAlgNotAllowed, check: neverFetched,
			yaml: verify(b64json(map[string]any{"alg": "nOnE", "kid": "legit"})+"."+claims+".", u)},
		{name: "HS256 keyed with the RSA public key", reason: probes.ReasonAlgNotAllowed, check: neverFetched,
			yaml: verify(hmacInput+"."+b64(mac.Sum(nil)), u)},
		{name: "kid with path traversal", reason: probes.ReasonUnknownKID, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "../../../../../../etc/passwd"}, claims, attacker), u)},
		{name: "kid with SQL", reason: probes.ReasonUnknownKID, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "' OR '1'='1'; DROP TABLE keys; --"}, claims, attacker), u)},
		{name: "jku pointing at the attacker's key set", reason: probes.ReasonBadSignature, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "legit", "jku": evil.URL + "/jwks"}, claims, attacker), u)},
		{name: "x5u pointing at the attacker's certificate", reason: probes.ReasonBadSignature, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "legit", "x5u": evil.URL + "/x5u"}, claims, attacker), u)},
		{name: "embedded jwk of the attacker's key", reason: probes.ReasonBadSignature, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "legit", "jwk": json.RawMessage(attackerRaw)}, claims, attacker), u)},
		{name: "crit with an unknown extension", reason: probes.ReasonTokenResponse, check: neverFetched,
			yaml: verify(token(map[string]any{"kid": "legit", "crit": []string{"urn:x:ext"}, "urn:x:ext": true}, claims, legit), u)},
		{name: "nested JWT (cty: JWT)", reason: probes.ReasonTokenResponse, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "legit", "cty": "JWT"}, b64([]byte(inner)), legit), u)},
		// Go's base64 skips line breaks; go-jose verifies the parts
		// re-encoded, so this verified before the token's characters
		// were checked.
		{name: "line breaks inside a validly signed token", reason: probes.ReasonTokenResponse, check: neverFetched,
			yaml: verify(inner[:60]+"\r\n"+inner[60:], u)},
		{name: "claims nested 100,000 deep, validly signed", reason: probes.ReasonTokenResponse, check: onlyTheSet,
			yaml: verify(token(map[string]any{"kid": "legit"}, b64([]byte(`{"a":`+strings.Repeat("[", 100_000))), legit), u)},
		{name: "1 MiB token", reason: probes.ReasonBadSignature, yaml: fetched, check: onlyTheSet},
	} {
		t.Run(c.name, func(t *testing.T) {
			noLeaks(t)
			jwks.reset()
			c.run(t, env)
		})
	}
	if len(hugeTok) < 1<<20 {
		t.Errorf("the huge token is %d bytes, less than 1 MiB", len(hugeTok))
	}
}
