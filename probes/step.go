// Package probes is the journey engine: it compiles configured journeys into
// steps, runs them with a fresh cookie jar, variables and one deadline, and
// turns what happened into a Result with one Reason. The scheduler runs
// journeys on their intervals. Step kinds live in sub-packages and register
// themselves here; the engine knows nothing about HTTP or tokens.
package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"golang.org/x/net/html"

	"github.com/authprobe/authprobe/config"
)

// Step is one compiled step of some kind. Do performs it once and reports
// what it observed; the engine applies the step's expect and extract to the
// Response. Do must return when ctx is done.
type Step interface {
	Do(ctx context.Context, r *Run) (*Response, error)
}

// Actioner is implemented by steps made of several timed actions; their
// labels ("1:navigate") get series of their own from start-up.
type Actioner interface {
	ActionLabels() []string
}

// Outputter is implemented by steps whose variables depend on their
// settings, such as a browser step's extract actions.
type Outputter interface {
	Outputs() []string
}

// Kind is a step kind: how its settings decode and how they compile.
type Kind struct {
	// Name is the step key that selects the kind ("http").
	Name string
	// Doc is a one-line description for the schema and docs.
	Doc string
	// NewSpec returns a pointer to a zero settings struct; it is decoded
	// strictly like the rest of the config and may implement config.Checker.
	NewSpec func() any
	// Build compiles decoded settings into a Step.
	Build func(spec any) (Step, error)
	// Reasons are the failure reasons the kind can produce beyond the
	// engine's own, so their series exist from start-up.
	Reasons []Reason
	// Outputs are the variables a step of the kind sets.
	Outputs []string
	// DefaultStatus is the status expected when a step sets none ("2xx");
	// empty when the kind has no HTTP status to check.
	DefaultStatus config.StatusSet
	// Refusals are the failure reasons that count as a refusal for a
	// fail-closed check (expect: { rejected: true }). Default:
	// invalid_credentials and token_rejected.
	Refusals []Reason
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register makes a step kind available to configs. Kinds call it from init;
// probes/kinds imports them all.
func Register(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("probes: step kind %q registered twice", k.Name))
	}
	kinds[k.Name] = k
	config.RegisterStepKind(config.StepKind{Name: k.Name, NewSpec: k.NewSpec, Doc: k.Doc})
}

func lookupKind(name string) (Kind, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds returns the registered kinds sorted by name.
func Kinds() []Kind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Response is what a step observed. Kinds without HTTP fill what applies:
// a JWT step may put the token's claims in Body as JSON so expect.json works.
type Response struct {
	// Status is the final HTTP status, 0 when there is none.
	Status int
	Header http.Header
	Body   []byte
	// URL is the final URL after any redirects.
	URL string
	// Location is the redirect target of a 3xx that was not followed.
	Location string
	// SetCookies are the cookies the responses of this step set.
	SetCookies []*http.Cookie
	// Credentials says what credentials the request carried, which decides
	// what a 401 or 403 means.
	Credentials Credentials
	// CertExpiry is the earliest expiry of the certificates the server
	// presented; zero without TLS.
	CertExpiry time.Time
	// Gauges are other values the step observed for export (a token's
	// expiry, a key set's size); the engine adds the step's name.
	Gauges []StepGauge
	// Actions are the timed actions of a step that has several.
	Actions []ActionResult
	// Artifact is evidence of a failure; the engine adds the step's name.
	Artifact *Artifact

	// ctx is the step's context while the engine evaluates the response:
	// decoding stops when it is done, so that a body made to be slow to
	// parse cannot hold a run past its deadline.
	ctx      context.Context
	jsonOnce sync.Once
	jsonDoc  any
	jsonErr  error
	htmlOnce sync.Once
	htmlDoc  *html.Node
	htmlErr  error
}

// Credentials is what a request carried to authenticate.
type Credentials int

// Kinds of credentials.
const (
	// CredentialsNone: a 401 or 403 is a plain http_status failure.
	CredentialsNone Credentials = iota
	// CredentialsConfigured: secrets from the config (a client secret, a
	// password); a refusal is invalid_credentials.
	CredentialsConfigured
	// CredentialsObtained: a token an earlier step obtained; a refusal is
	// token_rejected.
	CredentialsObtained
)

// JSON returns the body decoded as JSON, decoding it once.
func (r *Response) JSON() (any, error) {
	r.jsonOnce.Do(func() {
		dec := json.NewDecoder(r.body())
		dec.UseNumber()
		if err := dec.Decode(&r.jsonDoc); err != nil {
			r.jsonErr = fmt.Errorf("the body is not JSON: %v", err)
		}
	})
	return r.jsonDoc, r.jsonErr
}

// HTML returns the body parsed as HTML, parsing it once.
func (r *Response) HTML() (*html.Node, error) {
	r.htmlOnce.Do(func() {
		r.htmlDoc, r.htmlErr = html.Parse(r.body())
	})
	return r.htmlDoc, r.htmlErr
}

// body reads the body, failing once the step's context is done. Parsers
// read a few KiB at a time, so they stop soon after the deadline.
func (r *Response) body() io.Reader {
	if r.ctx == nil {
		return bytes.NewReader(r.Body)
	}
	return ctxReader{r.ctx, bytes.NewReader(r.Body)}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
