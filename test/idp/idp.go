// Package idp runs the real identity provider of authprobe's integration
// tests: npm oidc-provider (pinned by package-lock.json in this directory),
// driven by server.mjs, in a node process started from a Go test.
//
// Set-up once per checkout: npm ci --prefix test/idp
//
// Start a fresh IdP per test; it listens on a free loopback port and is killed
// when the test ends:
//
//	p := idp.Start(t, idp.Options{})
//	// discovery: p.Issuer + "/.well-known/openid-configuration"
package idp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Well-known identities the server configures (see server.mjs).
const (
	// User signs in with a password only.
	User     = "probe"
	Password = "probe-password"

	// MFAUser signs in with a password, then a TOTP code (see TOTP).
	MFAUser     = "mfa"
	MFAPassword = "mfa-password"
	// DefaultTOTPSeed is MFAUser's TOTP seed when Options.TOTPSeed is empty.
	DefaultTOTPSeed = "JBSWY3DPEHPK3PXP"

	// CCClient: client_credentials, client_secret_basic.
	CCClient = "probe-cc"
	CCSecret = "probe-cc-secret"
	// PostClient: client_credentials, client_secret_post.
	PostClient = "probe-post"
	PostSecret = "probe-post-secret"
	// PKJWTClient: client_credentials, private_key_jwt (RS256), configured only
	// when Options.PrivateKeyJWTClientKey is set.
	PKJWTClient = "probe-pkjwt"

	// WebClient: authorization_code with PKCE (S256, required) and
	// refresh_token; client_secret_basic; never shows a consent page. It gets
	// a refresh token with every code exchange.
	WebClient = "web"
	WebSecret = "web-secret"
	// ConsentClient is like WebClient but shows a consent page on every
	// authorization.
	ConsentClient = "web-consent"
	ConsentSecret = "web-consent-secret"

	// PasswordClient may use grant_type=password (username, password, scope);
	// with scope offline_access it also gets a refresh token.
	PasswordClient = "probe-ropc"
	PasswordSecret = "probe-ropc-secret"

	// RedirectURI is registered for WebClient and ConsentClient; nothing serves it.
	RedirectURI = "http://127.0.0.1:1/callback"

	// Audience is the audience (resource indicator) of every access token.
	// Access tokens are JWTs signed by the IdP's first key, with scope "api"
	// when requested (and the granted OpenID scopes for user tokens).
	Audience = "urn:api"
)

// Options configure one IdP process.
type Options struct {
	// Keys is the IdP's private signing key set (JWKS with private parts), the first key signs.
	// Zero value: Start generates one RSA-2048 key with a random kid.
	Keys jose.JSONWebKeySet
	// PrivateKeyJWTClientKey is the public key of the private_key_jwt client "probe-pkjwt" (its JWK, public part). Zero: that client is not configured.
	PrivateKeyJWTClientKey jose.JSONWebKey
	// TOTPSeed is the base32 TOTP seed of user "mfa" (RFC 6238, SHA1, 6 digits, 30 s). Empty: a fixed default, see DefaultTOTPSeed.
	TOTPSeed string
	// AccessTokenTTL in seconds; 0 = 300.
	AccessTokenTTL int
	// Issuer overrides the issuer, which is otherwise the listening URL.
	// Replicas of one logical IdP share it: the prober reaches each through
	// fan-out (targets.host = the issuer's host:port, static = their Addr).
	Issuer string
	// Port to listen on; 0 = a free port. Set it to restart a stopped IdP
	// where its clients expect it (Stop, then Start with the same Port and Keys).
	Port int
}

// IdP is a running oidc-provider.
type IdP struct {
	Issuer string             // "http://127.0.0.1:PORT" (or Options.Issuer) — no trailing slash; discovery at Issuer + "/.well-known/openid-configuration"
	Addr   string             // host:port it listens on
	Keys   jose.JSONWebKeySet // private keys it signs with

	proc *process
}

// Stop ends the IdP now (the outage of an end-to-end test); the test's
// cleanup would otherwise do it. Stopping twice is harmless.
func (p *IdP) Stop() { p.proc.stop() }

// startTimeout bounds how long Start waits for the IdP to answer discovery.
const startTimeout = 20 * time.Second

// Dir is the directory holding server.mjs, package.json and node_modules:
// this package's source directory, found from its compiled-in file name or,
// when that is not a real path (go test -trimpath), as test/idp below the
// nearest directory above the working directory that has a go.mod.
func Dir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Dir(file)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "test/idp"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "test", "idp")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "test", "idp")
		}
	}
}

// TOTP returns the RFC 6238 code (HMAC-SHA1, 6 digits, 30 s step) of a base32
// seed at time at, as the IdP expects it from MFAUser.
func TOTP(seed string, at time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(
		strings.TrimRight(strings.ToUpper(strings.ReplaceAll(seed, " ", "")), "="))
	if err != nil {
		return "", fmt.Errorf("idp: TOTP seed: %w", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff % 1_000_000
	return fmt.Sprintf("%06d", code), nil
}

// serverConfig is the JSON file server.mjs reads.
type serverConfig struct {
	Port           int                `json:"port"`
	Issuer         string             `json:"issuer,omitempty"`
	Keys           jose.JSONWebKeySet `json:"keys"`
	PKJWTKey       *jose.JSONWebKey   `json:"pkjwtKey"`
	TOTPSeed       string             `json:"totpSeed"`
	AccessTokenTTL int                `json:"accessTokenTTL"`
}

// Start runs the IdP on a free loopback port until the test ends (t.Cleanup kills the node process and its children, no zombie).
// If node or test/idp/node_modules is missing: with CI=true in the environment it calls t.Fatal with the reason; otherwise t.Skip with the reason and the command to fix it ("npm ci --prefix test/idp").
// It waits until discovery answers (timeout 20s; on failure it fails the test and prints the node process's output).
// When the test fails for any reason, the node process's output is logged too:
// it names the reason of every refused token, introspection or userinfo request.
func Start(t testing.TB, o Options) *IdP {
	t.Helper()
	dir := Dir()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node (Node.js) is not on PATH; install it (Debian: apt-get install nodejs npm), then run: npm ci --prefix test/idp")
	}
	if _, err := os.Stat(filepath.Join(dir, "server.mjs")); err != nil {
		t.Fatalf("idp: the IdP's server.mjs is not in %s: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		missing(t, "test/idp/node_modules is missing (oidc-provider not installed); run: npm ci --prefix test/idp")
	}

	keys, err := signingKeys(o.Keys)
	if err != nil {
		t.Fatalf("idp: Options.Keys: %v", err)
	}
	if o.TOTPSeed != "" {
		if _, err := TOTP(o.TOTPSeed, time.Now()); err != nil {
			t.Fatalf("idp: Options.TOTPSeed: %v", err)
		}
	}
	cfg := serverConfig{Port: o.Port, Keys: keys, TOTPSeed: o.TOTPSeed, AccessTokenTTL: o.AccessTokenTTL, Issuer: strings.TrimSuffix(o.Issuer, "/")}
	if cfg.TOTPSeed == "" {
		cfg.TOTPSeed = DefaultTOTPSeed
	}
	if o.PrivateKeyJWTClientKey.Key != nil {
		pub := o.PrivateKeyJWTClientKey.Public()
		if !pub.Valid() {
			t.Fatalf("idp: Options.PrivateKeyJWTClientKey is not a valid key")
		}
		cfg.PKJWTKey = &pub
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("idp: encoding the server configuration: %v", err)
	}
	cfgPath := filepath.Join(t.TempDir(), "idp.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o600); err != nil {
		t.Fatalf("idp: %v", err)
	}

	p, err := startProcess(node, dir, cfgPath)
	if err != nil {
		t.Fatalf("idp: starting node: %v", err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("idp %s: node output:\n%s", cfgPath, p.output())
		}
	})

	base, err := p.waitReady(startTimeout, cfg.Issuer)
	if err != nil {
		t.Fatalf("idp: %v\n--- node output ---\n%s", err, p.output())
	}
	issuer := base
	if cfg.Issuer != "" {
		issuer = cfg.Issuer
	}
	return &IdP{Issuer: issuer, Addr: strings.TrimPrefix(base, "http://"), Keys: keys, proc: p}
}

func missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("idp: " + reason)
	}
	t.Skip("idp: " + reason)
}

// signingKeys validates the configured keys, or makes one RSA key, and gives
// every key a kid. The caller's slice is not modified.
func signingKeys(in jose.JSONWebKeySet) (jose.JSONWebKeySet, error) {
	if len(in.Keys) == 0 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return in, err
		}
		in = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, Use: "sig", Algorithm: string(jose.RS256)}}}
	}
	out := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(in.Keys))}
	for i, k := range in.Keys {
		if !k.Valid() || k.IsPublic() {
			return out, fmt.Errorf("key %d (kid %q) is not a valid private key", i, k.KeyID)
		}
		if k.KeyID == "" {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return out, err
			}
			k.KeyID = hex.EncodeToString(b[:])
		}
		out.Keys[i] = k
	}
	return out, nil
}

// process is one running server.mjs.
type process struct {
	cmd     *exec.Cmd
	stdin   *os.File      // held open; node exits when it closes
	exited  chan struct{} // closed when Wait returned
	readEOF chan struct{} // closed when the output reader is done
	ready   chan string   // the issuer, once printed

	mu  sync.Mutex
	out bytes.Buffer

	stopOnce sync.Once
}

const readyPrefix = "authprobe-idp listening on "

func startProcess(node, dir, cfgPath string) (*process, error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, err
	}
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"), cfgPath)
	cmd.Dir = dir
	cmd.Stdin = stdinR
	cmd.Stdout = outW
	cmd.Stderr = outW
	cmd.Env = append(os.Environ(), "NODE_ENV=test")
	setProcessGroup(cmd)
	err = cmd.Start()
	stdinR.Close()
	outW.Close()
	if err != nil {
		stdinW.Close()
		outR.Close()
		return nil, err
	}
	p := &process{
		cmd:     cmd,
		stdin:   stdinW,
		exited:  make(chan struct{}),
		readEOF: make(chan struct{}),
		ready:   make(chan string, 1),
	}
	go func() {
		defer close(p.exited)
		_ = cmd.Wait()
	}()
	go func() {
		defer close(p.readEOF)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line)
			p.out.WriteByte('\n')
			p.mu.Unlock()
			if issuer, ok := strings.CutPrefix(line, readyPrefix); ok {
				select {
				case p.ready <- strings.TrimSpace(issuer):
				default:
				}
			}
		}
	}()
	return p, nil
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitReady waits for the listening line, then for discovery at that
// address to answer with the issuer (the address itself unless issuer is
// set). It returns the address's base URL.
func (p *process) waitReady(timeout time.Duration, issuer string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var base string
	select {
	case base = <-p.ready:
	case <-p.exited:
		<-p.readEOF
		return "", fmt.Errorf("node exited before listening: %v", p.cmd.ProcessState)
	case <-ctx.Done():
		return "", fmt.Errorf("node did not start listening within %v", timeout)
	}

	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for {
		want := issuer
		if want == "" {
			want = base
		}
		err := checkDiscovery(ctx, client, base, want)
		if err == nil {
			client.CloseIdleConnections()
			return base, nil
		}
		lastErr = err
		select {
		case <-p.exited:
			<-p.readEOF
			return "", fmt.Errorf("node exited (%v) while waiting for discovery: %v", p.cmd.ProcessState, lastErr)
		case <-ctx.Done():
			return "", fmt.Errorf("discovery did not answer within %v: %v", timeout, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func checkDiscovery(ctx context.Context, client *http.Client, base, issuer string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != issuer {
		return fmt.Errorf("discovery: issuer %q, want %q", doc.Issuer, issuer)
	}
	return nil
}

// stop ends node and everything in its process group, reaps it and waits for
// the output reader, so no process, zombie or goroutine outlives the test.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		p.stdin.Close() // node exits on EOF
		_ = signalGroup(p.cmd, false)
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
		}
		// Anything left in the group: node itself if it hung, or its children.
		_ = signalGroup(p.cmd, true)
		<-p.exited
		select {
		case <-p.readEOF:
		case <-time.After(5 * time.Second):
			// A stray process still holds the output pipe; do not hang the test.
		}
	})
}
