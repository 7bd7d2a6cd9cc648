// Package httpstep is the http step kind: one HTTP request with the run's
// cookie jar and variables, optionally following redirects, with the body
// read up to a cap. What the engine checks and extracts is the final response.
package httpstep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

func init() {
	probes.Register(probes.Kind{
		Name:    "http",
		Doc:     "One HTTP request with the run's cookies and variables.",
		NewSpec: func() any { return new(Spec) },
		Build:   build,
		Reasons: append(append([]probes.Reason(nil), probes.NetworkReasons...),
			probes.ReasonRedirectLoop, probes.ReasonBodyTooLarge),
		DefaultStatus: config.StatusSet{"2xx"},
	})
}

// DefaultMaxBody is the body cap when max_body_bytes is not set: larger than
// any login page, small enough that a hostile target cannot exhaust memory.
const DefaultMaxBody = 2 << 20

// DefaultMaxRedirects is how many redirects redirects: follow allows.
const DefaultMaxRedirects = 10

// Spec is the http step's settings.
type Spec struct {
	Method       string                     `yaml:"method" doc:"HTTP method. Default GET, or POST when form, json or body is set."`
	URL          config.Template            `yaml:"url,required" doc:"The URL; may use {{ .variables }}."`
	Headers      map[string]config.Template `yaml:"headers" doc:"Request headers; values may use variables and ${env:...}."`
	Query        map[string]config.Template `yaml:"query" doc:"Query parameters added to the URL."`
	Form         map[string]config.Template `yaml:"form" doc:"Form fields, sent as application/x-www-form-urlencoded."`
	JSON         JSONBody                   `yaml:"json" doc:"A JSON body; strings in it may use variables."`
	Body         config.Template            `yaml:"body" doc:"A raw body; set Content-Type in headers."`
	BasicAuth    *BasicAuth                 `yaml:"basic_auth" doc:"HTTP basic authentication."`
	Redirects    Redirects                  `yaml:"redirects" doc:"none (default): the response is the 3xx itself; follow: up to 10 redirects; or the most to follow, e.g. 5."`
	MaxBodyBytes config.ByteSize            `yaml:"max_body_bytes" doc:"Larger bodies fail with reason body_too_large. Default 2MiB."`
	TLS          *config.TLS                `yaml:"tls" doc:"TLS settings for this request."`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username config.Template `yaml:"username,required" doc:"User name."`
	Password config.Template `yaml:"password,required" doc:"Password; use ${env:...} or ${file:...}."`
}

// Redirects is the redirect policy: follow none, or up to Max.
type Redirects struct {
	Max int
}

// UnmarshalConfig accepts none, follow, or a number.
func (r *Redirects) UnmarshalConfig(d *config.Decoder, n *yaml.Node, path config.Path) {
	s, ok := d.Scalar(n, path, "none, follow or a number")
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "none", "false", "no":
		r.Max = 0
		return
	case "follow", "true", "yes":
		r.Max = DefaultMaxRedirects
		return
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 100 {
		d.Errorf(n, path, "%q is not a redirect policy; write none, follow (up to %d) or the most to follow, 0 to 100", s, DefaultMaxRedirects)
		return
	}
	r.Max = v
}

// JSONSchema of a redirect policy.
func (Redirects) JSONSchema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"enum": []string{"none", "follow"}},
		map[string]any{"type": "integer", "minimum": 0, "maximum": 100},
	}}
}

// TypeName names the redirect policy in the configuration reference.
func (Redirects) TypeName() string { return "none, follow or a number" }

// TypeName names a JSON body in the configuration reference.
func (JSONBody) TypeName() string { return "any YAML value" }

// JSONSchema of a JSON body: any JSON value.
func (JSONBody) JSONSchema() map[string]any { return map[string]any{} }

var methodRe = regexp.MustCompile(`^[A-Z]+$`)

// Check validates the settings and loads the CA file.
func (s *Spec) Check(c *config.Check) {
	if s.Method != "" && !methodRe.MatchString(s.Method) {
		c.Errorf("method", "%q is not an HTTP method; write it in capitals, like GET or POST", s.Method)
	}
	if u, ok := s.URL.Static(); ok && !s.URL.IsZero() {
		// Check the resolved URL (a base URL often comes from ${env:...})
		// but quote it as written: the resolved text may hold a secret.
		if err := checkURL(u); err != nil {
			c.Errorf("url", "%q %v", s.URL.String(), err)
		}
	}
	var bodies []string
	if len(s.Form) > 0 {
		bodies = append(bodies, "form")
	}
	if s.JSON.set {
		bodies = append(bodies, "json")
	}
	if !s.Body.IsZero() {
		bodies = append(bodies, "body")
	}
	if len(bodies) > 1 {
		c.Errorf("", "sets %s; a request has one body, so give one of them", strings.Join(bodies, " and "))
	}
	for name := range s.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			c.Errorf("headers."+name, "%q is not a valid header name", name)
		}
		if s.BasicAuth != nil && strings.EqualFold(name, "Authorization") {
			c.Errorf("basic_auth", "and headers.%s both set the Authorization header; keep one", name)
		}
	}
	if c.Has("max_body_bytes") && (s.MaxBodyBytes < 1 || s.MaxBodyBytes > 1<<30) {
		c.Errorf("max_body_bytes", "%s is out of range; use 1B to 1GiB", s.MaxBodyBytes)
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBody
	}
}

// checkURL says what is wrong with a URL without quoting it, so callers
// can name it safely.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a valid URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with http:// or https://")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

type step struct{ *Spec }

func build(spec any) (probes.Step, error) {
	s := spec.(*Spec)
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBody
	}
	return step{s}, nil
}

// errRedirectLoop marks a redirect chain that went in a circle or too far.
var errRedirectLoop = errors.New("redirect loop")

// errRedirectScheme marks a redirect to a URL that is not http or https
// (file:, javascript:, ftp:), which no login should need.
var errRedirectScheme = errors.New("redirect to a scheme other than http and https")

// Do sends the request and reads the response.
func (s step) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	req, err := s.request(ctx, run)
	if err != nil {
		return nil, err
	}
	rec := &recorder{next: run.Transport(s.TLS.Config())}
	visits := map[string]int{req.URL.String(): 1}
	client := &http.Client{
		Transport: rec,
		Jar:       run.Jar,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if s.Redirects.Max == 0 {
				return http.ErrUseLastResponse
			}
			if next.URL.Scheme != "http" && next.URL.Scheme != "https" {
				return fmt.Errorf("%w (%s:), which authprobe does not follow", errRedirectScheme, next.URL.Scheme)
			}
			u := next.URL.String()
			visits[u]++
			if visits[u] > 2 {
				return fmt.Errorf("%w: %s was visited %d times in %d redirects", errRedirectLoop, probes.ShortURL(u), visits[u], len(via))
			}
			if len(via) > s.Redirects.Max {
				return fmt.Errorf("%w: more than %d redirects (redirects: %d)", errRedirectLoop, s.Redirects.Max, s.Redirects.Max)
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, errRedirectLoop) || errors.Is(err, errRedirectScheme) {
			return nil, probes.Fail(probes.ReasonRedirectLoop, unwrapURLError(err))
		}
		return nil, probes.Fail(probes.ClassifyNetwork(err), unwrapURLError(err))
	}
	defer resp.Body.Close()
	limit := int64(s.MaxBodyBytes)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, probes.Failf(probes.ClassifyNetwork(err), "reading the body of %s: %v", resp.Request.URL.Redacted(), err)
	}
	if int64(len(body)) > limit {
		return nil, probes.Failf(probes.ReasonBodyTooLarge, "the body of %s is larger than %s (max_body_bytes)", resp.Request.URL.Redacted(), s.MaxBodyBytes)
	}
	out := &probes.Response{
		Status:      resp.StatusCode,
		Header:      resp.Header,
		Body:        body,
		URL:         resp.Request.URL.String(),
		SetCookies:  rec.cookies,
		Credentials: s.credentials(),
		CertExpiry:  rec.certExpiry,
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		out.Location = resp.Header.Get("Location")
	}
	return out, nil
}

// credentials says whether the request carries credentials, and whether
// they come from the config (a client secret: a refusal means
// invalid_credentials) or from an earlier step (a token: a refusal means
// token_rejected).
func (s step) credentials() probes.Credentials {
	var auth []config.Template
	if s.BasicAuth != nil {
		auth = append(auth, s.BasicAuth.Username, s.BasicAuth.Password)
	}
	for k, v := range s.Headers {
		if strings.EqualFold(k, "Authorization") {
			auth = append(auth, v)
		}
	}
	if len(auth) == 0 {
		return probes.CredentialsNone
	}
	for _, t := range auth {
		if !t.IsStatic() {
			return probes.CredentialsObtained
		}
	}
	return probes.CredentialsConfigured
}

// unwrapURLError drops the "Get "url": " prefix Go adds: the URL can be long
// and may carry a token, and the step name already says which request it was.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, probes.ShortURL(ue.URL), ue.Err)
	}
	return err
}

func (s step) request(ctx context.Context, run *probes.Run) (*http.Request, error) {
	raw, err := run.Render(s.URL)
	if err != nil {
		return nil, err
	}
	if err := checkURL(raw); err != nil {
		return nil, probes.Failf(probes.ReasonInternal, "url %s %v", s.URL.String(), err)
	}
	u, _ := url.Parse(raw)
	if len(s.Query) > 0 {
		q := u.Query()
		for _, k := range sortedKeys(s.Query) {
			v, err := run.Render(s.Query[k])
			if err != nil {
				return nil, err
			}
			q.Add(k, v)
		}
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	contentType := ""
	switch {
	case len(s.Form) > 0:
		form := url.Values{}
		for _, k := range sortedKeys(s.Form) {
			v, err := run.Render(s.Form[k])
			if err != nil {
				return nil, err
			}
			form.Set(k, v)
		}
		body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case s.JSON.set:
		b, err := s.JSON.render(run)
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case !s.Body.IsZero():
		b, err := run.Render(s.Body)
		if err != nil {
			return nil, err
		}
		body = strings.NewReader(b)
	}
	method := s.Method
	if method == "" {
		method = http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, probes.Failf(probes.ReasonInternal, "building the request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", userAgent(run))
	for _, k := range sortedKeys(s.Headers) {
		v, err := run.Render(s.Headers[k])
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if s.BasicAuth != nil {
		user, err := run.Render(s.BasicAuth.Username)
		if err != nil {
			return nil, err
		}
		pass, err := run.Render(s.BasicAuth.Password)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(user, pass)
		// A server that echoes the header must not reveal the password.
		run.AddSecret(strings.TrimPrefix(req.Header.Get("Authorization"), "Basic "))
	}
	return req, nil
}

// UserAgent is sent unless a step sets its own; the version is filled in by main.
var UserAgent = "authprobe"

func userAgent(*probes.Run) string { return UserAgent }

// recorder sees every hop of a redirect chain: the cookies each response
// sets and the certificates each server presents.
type recorder struct {
	next       http.RoundTripper
	cookies    []*http.Cookie
	certExpiry time.Time
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	r.cookies = append(r.cookies, resp.Cookies()...)
	if resp.TLS != nil {
		for _, c := range resp.TLS.PeerCertificates {
			if r.certExpiry.IsZero() || c.NotAfter.Before(r.certExpiry) {
				r.certExpiry = c.NotAfter
			}
		}
	}
	return resp, nil
}

func sortedKeys(m map[string]config.Template) []string { return slices.Sorted(maps.Keys(m)) }

// JSONBody is a JSON request body written as YAML; its strings are templates.
type JSONBody struct {
	set  bool
	tree any // map: []jsonField, list: []any, string: config.Template, else scalar
}

type jsonField struct {
	key   string
	value any
}

// UnmarshalConfig decodes any YAML value, keeping mapping order.
func (b *JSONBody) UnmarshalConfig(d *config.Decoder, n *yaml.Node, path config.Path) {
	b.set = true
	b.tree = decodeJSON(d, n, path)
}

func decodeJSON(d *config.Decoder, n *yaml.Node, path config.Path) any {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		var fields []jsonField
		for _, kv := range d.MappingPairs(n, path) {
			fields = append(fields, jsonField{kv[0].Value, decodeJSON(d, kv[1], path.Key(kv[0].Value))})
		}
		return fields
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, c := range n.Content {
			list[i] = decodeJSON(d, c, path.Index(i))
		}
		return list
	}
	if n.Tag == "!!str" || n.Tag == "!!timestamp" {
		var t config.Template
		t.UnmarshalConfig(d, n, path)
		return t
	}
	var v any
	if err := n.Decode(&v); err != nil {
		d.Errorf(n, path, "%v", err)
	}
	if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		d.Errorf(n, path, "%s is not a number JSON can hold", n.Value)
	}
	return v
}

// WalkTemplates calls fn for every template in the body, for the engine's
// check of variable references.
func (b JSONBody) WalkTemplates(path config.Path, fn func(config.Path, config.Template)) {
	var walk func(v any, p config.Path)
	walk = func(v any, p config.Path) {
		switch v := v.(type) {
		case []jsonField:
			for _, f := range v {
				walk(f.value, p.Key(f.key))
			}
		case []any:
			for i, e := range v {
				walk(e, p.Index(i))
			}
		case config.Template:
			fn(p, v)
		}
	}
	walk(b.tree, path)
}

func (b JSONBody) render(run *probes.Run) ([]byte, error) {
	var buf bytes.Buffer
	var write func(v any) error
	write = func(v any) error {
		switch v := v.(type) {
		case []jsonField:
			buf.WriteByte('{')
			for i, f := range v {
				if i > 0 {
					buf.WriteByte(',')
				}
				k, _ := json.Marshal(f.key)
				buf.Write(k)
				buf.WriteByte(':')
				if err := write(f.value); err != nil {
					return err
				}
			}
			buf.WriteByte('}')
		case []any:
			buf.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := write(e); err != nil {
					return err
				}
			}
			buf.WriteByte(']')
		case config.Template:
			s, err := run.Render(v)
			if err != nil {
				return err
			}
			enc, _ := json.Marshal(s)
			buf.Write(enc)
		default:
			enc, err := json.Marshal(v)
			if err != nil {
				return probes.Failf(probes.ReasonInternal, "json body: %v", err)
			}
			buf.Write(enc)
		}
		return nil
	}
	if err := write(b.tree); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
