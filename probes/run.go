package probes

import (
	"context"
	"crypto/tls"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/redact"
)

// Env is what runs share across the process: name resolution, logging, and
// the redactor for configured secrets.
type Env struct {
	// Resolver resolves names for every dial; nil means the system resolver.
	Resolver *net.Resolver
	// Logger receives debug logs of runs; nil discards them.
	Logger   *slog.Logger
	redactor atomic.Pointer[redact.Redactor]
}

// SetRedactor sets what hides the config's secrets from runs' messages
// and logs; runs that start afterwards use it.
func (e *Env) SetRedactor(r *redact.Redactor) { e.redactor.Store(r) }

// Redactor returns what hides the config's secrets; nil hides nothing.
func (e *Env) Redactor() *redact.Redactor {
	if e == nil {
		return nil
	}
	return e.redactor.Load()
}

func (e *Env) logger() *slog.Logger {
	if e == nil || e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Env) resolver() *net.Resolver {
	if e == nil || e.Resolver == nil {
		return net.DefaultResolver
	}
	return e.Resolver
}

// Run is the state one run of a journey shares across its steps: a fresh
// cookie jar, the variables, and the connections it opened.
type Run struct {
	// Journey, Variant and Target identify the series the run belongs to.
	Journey, Variant, Target string
	// Jar is the run's cookie jar; it starts empty.
	Jar    http.CookieJar
	logger *slog.Logger

	env      *Env
	host     string // the logical host:port a fan-out redirects, or ""
	vars     map[string]string
	secrets  []string
	redactor *redact.Redactor

	mu         sync.Mutex
	transports map[*tls.Config]*http.Transport
	memo       map[string]any
}

func newRun(env *Env, j *Journey, variant *Variant, target string) *Run {
	jar, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	r := &Run{
		Journey:    j.Name,
		Variant:    variant.Name,
		Target:     target,
		Jar:        jar,
		env:        env,
		vars:       make(map[string]string, len(j.Vars)+len(variant.Vars)+4),
		redactor:   env.Redactor(),
		transports: map[*tls.Config]*http.Transport{},
	}
	if j.Targets != nil {
		r.host = strings.ToLower(j.Targets.Host)
	}
	maps.Copy(r.vars, j.Vars)
	maps.Copy(r.vars, variant.Vars)
	return r
}

// Logger returns the run's logger, which hides the config's and the run's
// secrets. It is built on first use: most runs log nothing.
func (r *Run) Logger() *slog.Logger {
	if r.logger == nil {
		r.logger = slog.New(redact.Handler(r.env.logger().Handler(), func() *redact.Redactor { return r.redactor })).
			With("journey", r.Journey, "variant", r.Variant, "target", r.Target)
	}
	return r.logger
}

// Var returns a run-time variable.
func (r *Run) Var(name string) (string, bool) {
	v, ok := r.vars[name]
	return v, ok
}

// SetVar sets a run-time variable for the steps that follow. A secret value
// (a token, a session) is hidden from everything the run reports.
func (r *Run) SetVar(name, value string, secret bool) {
	r.vars[name] = value
	if secret {
		r.AddSecret(value)
	}
}

// AddSecret hides value from the run's messages and logs.
func (r *Run) AddSecret(value string) {
	if value == "" {
		return
	}
	r.secrets = append(r.secrets, value)
	r.redactor = r.env.Redactor().With(r.secrets...)
}

// Redact hides the config's and the run's secrets in s.
func (r *Run) Redact(s string) string { return r.redactor.String(s) }

// Render executes a template with the run's variables. A template that
// cannot be executed is authprobe's fault (reason internal), not the target's.
func (r *Run) Render(t config.Template) (string, error) {
	s, err := t.Execute(r.vars)
	if err != nil {
		return "", Failf(ReasonInternal, "template %s: %v", t.String(), err)
	}
	return s, nil
}

// Transport returns the run's HTTP transport for a TLS configuration,
// creating it on first use. Steps of a run share connections like a
// browser does; runs never share them, so every run pays for DNS, connect
// and TLS as a new user would. Dials to the fan-out host go to the run's
// target address instead; the Host header and TLS server name are unchanged
// because they come from the URL.
func (r *Run) Transport(tlsConfig *tls.Config) *http.Transport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.transports[tlsConfig]; ok {
		return t
	}
	dialer := &net.Dialer{Resolver: r.env.resolver(), KeepAlive: -1}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if r.host != "" && strings.EqualFold(addr, r.host) {
				addr = r.Target
			}
			return dialer.DialContext(ctx, network, addr)
		},
		// http2 set-up writes to the config; steps' configs are shared.
		TLSClientConfig:     tlsConfig.Clone(),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	r.transports[tlsConfig] = t
	return t
}

// Memo returns what f returned the first time it succeeded for key in
// this run, so that steps of one run share what the run fetched once — a
// discovery document, a key set — as a user's browser would, while every
// run fetches anew and so sees changes. Failures are not kept: a step
// retried with retry_until fetches again.
func (r *Run) Memo(key string, f func() (any, error)) (any, error) {
	r.mu.Lock()
	v, ok := r.memo[key]
	r.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := f()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.memo == nil {
		r.memo = map[string]any{}
	}
	r.memo[key] = v
	r.mu.Unlock()
	return v, nil
}

// close releases the run's connections.
func (r *Run) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.transports {
		t.CloseIdleConnections()
	}
}
