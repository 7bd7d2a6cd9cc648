// Package demo is the embedded demo realm behind `authprobe demo`: a fake
// company on loopback (login site, OAuth2 token endpoint, JWKS, protected
// API) whose fault switches reproduce the login incidents authprobe exists to
// catch.
package demo

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	// probeUser is both the only user of the login site and the only OAuth2 client.
	probeUser   = "probe"
	apiAudience = "urn:demo:api"
	apiScope    = "api"
	tokenTTL    = 300 * time.Second

	// Bounds on state any client can create with one request.
	maxPending  = 10_000
	maxSessions = 10_000
	stateTTL    = 10 * time.Minute

	// maxLatency is the largest delay the latency fault accepts; beyond it the
	// demo would only be testing the patience of whoever runs it.
	maxLatency = 30 * time.Second

	maxFormBytes = 64 << 10
)

// Realm is the demo company: login site, OAuth2 token endpoint, JWKS, protected API.
type Realm struct {
	password     string
	clientSecret string

	signer jose.Signer
	// issuerKeys is what the issuer publishes and what the API trusts while
	// nothing is broken.
	issuerKeys jose.JSONWebKeySet
	// driftKeys is the key set the API trusts under the key-drift fault: a key
	// the issuer never signs with, as after a rotation done on one side only.
	driftKeys jose.JSONWebKeySet

	pending  *store // pre-session id → CSRF token
	sessions *store // session id → user name

	mu     sync.RWMutex
	faults Faults
	issuer string
}

// Replicas is how many replicas of the protected API the demo runs, and
// DriftedReplica the one the key-drift fault breaks: a rotation done on
// some replicas only is what fan-out exists to find.
const (
	Replicas       = 2
	DriftedReplica = 2
)

// Faults are the realm's fault switches; the zero value means healthy.
type Faults struct {
	// KeyDrift makes API replica DriftedReplica verify tokens with a key the
	// issuer does not sign with; the other replicas keep working.
	KeyDrift bool
	// Login500 makes the login pages and the token endpoint fail with 500, as
	// after a config change that references a missing environment variable.
	Login500 bool
	// Latency delays every realm request, as when a connection pool is exhausted.
	Latency time.Duration
}

// New creates a realm with fresh RSA keys; password and client secret are the credentials it accepts.
func New(password, clientSecret string) (*Realm, error) {
	// An empty credential would make the realm accept anyone, which is not a
	// demo of anything.
	if password == "" {
		return nil, errors.New("demo: password must not be empty")
	}
	if clientSecret == "" {
		return nil, errors.New("demo: client secret must not be empty")
	}
	issuer, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("demo: issuer key: %w", err)
	}
	drift, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("demo: drift key: %w", err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: issuer},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("demo: signer: %w", err)
	}
	return &Realm{
		password:     password,
		clientSecret: clientSecret,
		signer:       signer,
		issuerKeys:   jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuer.Public()}},
		driftKeys:    jose.JSONWebKeySet{Keys: []jose.JSONWebKey{drift.Public()}},
		pending:      newStore(maxPending, stateTTL),
		sessions:     newStore(maxSessions, stateTTL),
	}, nil
}

// newKey generates an RS256 key whose kid is its RFC 7638 thumbprint, so two
// keys never share a kid.
func newKey() (jose.JSONWebKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	k := jose.JSONWebKey{Key: priv, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	k.KeyID = b64url(tp)
	return k, nil
}

// Faults reports the current fault switches (for tests and the page).
func (r *Realm) Faults() Faults {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.faults
}

// SetFaults replaces the switches (used by the control endpoints and tests).
// Latency is clamped to 0..maxLatency.
func (r *Realm) SetFaults(f Faults) {
	f.Latency = min(max(f.Latency, 0), maxLatency)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = f
}

// apiKeys is the key set an API replica verifies tokens with.
func (r *Realm) apiKeys(replica int) *jose.JSONWebKeySet {
	if replica == DriftedReplica && r.Faults().KeyDrift {
		return &r.driftKeys
	}
	return &r.issuerKeys
}

// SetIssuer fixes the issuer URL the realm puts in tokens and discovery and
// the API replicas expect, once its listener's address is known. Until it
// is set the issuer is the URL a request reached the realm at.
func (r *Realm) SetIssuer(iss string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.issuer = iss
}

// issuerURL is the issuer: the one set, or the URL the request came to.
func (r *Realm) issuerURL(req *http.Request) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.issuer != "" {
		return r.issuer
	}
	return "http://" + req.Host
}

// APIHandler serves replica n (1..Replicas) of the protected API,
// GET /api/me. Each replica trusts its own copy of the key set; under the
// key-drift fault replica DriftedReplica's copy holds another key. Mount
// each on its own listener; they share the realm's latency fault.
func (r *Realm) APIHandler(replica int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, req *http.Request) { r.me(w, req, replica) })
	return r.withLatency(mux)
}

// Handler serves the realm's site (login pages, token endpoint, discovery,
// JWKS). Mount it on its own listener.
func (r *Realm) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", r.loginPage)
	mux.HandleFunc("POST /login", r.login)
	mux.HandleFunc("GET /account", r.account)
	mux.HandleFunc("POST /logout", r.logout)
	mux.HandleFunc("POST /oauth/token", r.token)
	mux.HandleFunc("GET /.well-known/openid-configuration", r.discovery)
	mux.HandleFunc("GET /.well-known/jwks.json", r.jwks)
	mux.HandleFunc("GET /spa/{$}", r.spaPage(spaLogin))
	mux.HandleFunc("GET /spa/home", r.spaPage(spaHome))
	mux.HandleFunc("POST /spa/api/login", r.spaLoginAPI)
	mux.HandleFunc("GET /spa/api/session", r.spaSession)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	return r.withLatency(mux)
}

// withLatency applies the latency fault to every request.
func (r *Realm) withLatency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if d := r.Faults().Latency; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-req.Context().Done():
				// The client gave up; holding the goroutine until the
				// delay ends would only pile up work nobody waits for.
				t.Stop()
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// login500 answers like a service whose config references a missing env var,
// and reports whether it did.
func (r *Realm) login500(w http.ResponseWriter) bool {
	if !r.Faults().Login500 {
		return false
	}
	http.Error(w, "missing env var DB_PASSWORD", http.StatusInternalServerError)
	return true
}
