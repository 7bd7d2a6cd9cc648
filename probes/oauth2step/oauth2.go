// Package oauth2step is the oauth2 step kind: it gets tokens from an
// identity provider with a real grant — client credentials, password,
// refresh token, or authorization code with PKCE through the provider's own
// login form, headless — and names what failed: the discovery, the
// credentials, the provider, or its answer.
package oauth2step

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/oauth2"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/htmlx"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/oidc"
)

func init() {
	probes.Register(probes.Kind{
		Name:    "oauth2",
		Doc:     "Gets tokens from an identity provider: client credentials, password, refresh token, or authorization code with PKCE through its login form.",
		NewSpec: func() any { return new(Spec) },
		Build:   func(spec any) (probes.Step, error) { return step{spec.(*Spec)}, nil },
		Reasons: append(slices.Clone(probes.NetworkReasons), probes.ReasonDiscovery, probes.ReasonIssuerMismatch,
			probes.ReasonInvalidCredentials, probes.ReasonMFA, probes.ReasonIdPError, probes.ReasonTokenResponse,
			probes.ReasonRedirectLoop, probes.ReasonBodyTooLarge),
		Outputs: []string{"access_token", "id_token", "refresh_token", "expires_in", "token_type", "scope", "nonce"},
	})
}

// Grants.
const (
	ClientCredentials = "client_credentials"
	Password          = "password"
	RefreshToken      = "refresh_token"
	AuthorizationCode = "authorization_code"
)

var grants = []string{ClientCredentials, Password, RefreshToken, AuthorizationCode}

// maxPages bounds the pages of one authorization: login, second factor,
// consent and their redirects fit well within it.
const maxPages = 25

// Spec is the oauth2 step's settings.
type Spec struct {
	oidc.Provider `yaml:",inline"`
	oidc.Client   `yaml:",inline"`

	Grant        string                     `yaml:"grant,required" doc:"client_credentials, password, refresh_token or authorization_code."`
	Scopes       []string                   `yaml:"scopes" doc:"Scopes to request."`
	Resource     []string                   `yaml:"resource" doc:"Resource indicators (RFC 8707), e.g. the API's audience."`
	Params       map[string]config.Template `yaml:"params" doc:"Extra parameters for the token request (and the authorization request), e.g. audience."`
	Username     config.Template            `yaml:"username" doc:"For the password grant."`
	Password     config.Template            `yaml:"password" doc:"For the password grant; use ${env:...} or ${file:...}."`
	RefreshToken config.Template            `yaml:"refresh_token" doc:"For the refresh_token grant. Default {{ .refresh_token }}, set by an earlier oauth2 step."`
	RedirectURI  string                     `yaml:"redirect_uri" doc:"For authorization_code: a redirect URI registered for the client. It is never requested; the code is taken from the redirect to it."`
	PKCE         *bool                      `yaml:"pkce" doc:"For authorization_code: send an S256 code challenge. Default true."`
	Login        *Login                     `yaml:"login" doc:"For authorization_code: how to get through the identity provider's pages."`
}

// Login says how to fill the identity provider's pages.
type Login struct {
	Form         map[string]config.Template `yaml:"form,required" doc:"Field name to value for the login form; hidden inputs (CSRF tokens) are carried over."`
	FormSelector config.CSS                 `yaml:"form_selector" doc:"CSS selector of the login form. Default: the first form with one of the fields, or a password input."`
	MFA          *Page                      `yaml:"mfa" doc:"A second-factor page after the login, e.g. { form: { otp: '{{ totp \"${env:SEED}\" }}' } }."`
	Consent      bool                       `yaml:"consent" doc:"Submit a consent page if the identity provider shows one."`
	AllowedHosts []string                   `yaml:"allowed_hosts" doc:"Hosts (host:port as in the URL) forms may be sent to besides those the login was redirected through."`
}

// Page is one more form to fill.
type Page struct {
	Form map[string]config.Template `yaml:"form,required" doc:"Field name to value."`
}

// Check validates the settings for the grant.
func (s *Spec) Check(c *config.Check) {
	s.CheckProvider(c)
	s.CheckClient(c)
	if !slices.Contains(grants, s.Grant) {
		c.Errorf("grant", "%q is not a grant authprobe knows; use %s", s.Grant, strings.Join(grants, ", "))
		return
	}
	needs := []oidc.Endpoint{oidc.TokenEndpoint}
	switch s.Grant {
	case Password:
		if s.Username.IsZero() || s.Password.IsZero() {
			c.Errorf("", "the password grant needs username and password")
		}
	case RefreshToken:
		if s.RefreshToken.IsZero() {
			s.RefreshToken, _ = config.ParseTemplate("{{ .refresh_token }}")
		}
	case AuthorizationCode:
		needs = append(needs, oidc.AuthorizationEndpoint)
		if u, err := url.Parse(s.RedirectURI); s.RedirectURI == "" || err != nil || u.Scheme == "" || u.Host == "" {
			c.Errorf("redirect_uri", "is required for authorization_code, as an absolute URL registered for the client")
		}
		if s.Login == nil {
			c.Errorf("login", "is required for authorization_code: give at least login.form with the user's fields")
		}
	}
	// Settings of other grants are mistakes, not options: say so.
	for field, set := range map[string]bool{
		"login": s.Login != nil, "redirect_uri": s.RedirectURI != "", "pkce": s.PKCE != nil,
	} {
		if set && s.Grant != AuthorizationCode {
			c.Errorf(field, "only applies to grant authorization_code, not %s", s.Grant)
		}
	}
	if (!s.Username.IsZero() || !s.Password.IsZero()) && s.Grant != Password {
		c.Errorf("", "username and password only apply to grant password, not %s", s.Grant)
	}
	if c.Has("refresh_token") && s.Grant != RefreshToken {
		c.Errorf("refresh_token", "only applies to grant refresh_token, not %s", s.Grant)
	}
	for _, k := range sortedKeys(s.Params) {
		if slices.Contains(reservedParams, k) {
			c.Errorf("params."+k, "is set by authprobe from the step's settings; remove it")
		}
	}
	s.CheckNeeds(c, needs...)
}

// reservedParams are the request parameters authprobe sets itself.
var reservedParams = []string{"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type",
	"code", "code_verifier", "code_challenge", "code_challenge_method", "redirect_uri", "response_type", "state", "nonce",
	"scope", "resource", "username", "password", "refresh_token"}

type step struct{ *Spec }

// Do runs the grant and sets the token variables.
func (s step) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	tokenURL, err := s.URL(ctx, run, oidc.TokenEndpoint)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {s.Grant}}
	switch s.Grant {
	case Password:
		user, err := run.Render(s.Username)
		if err != nil {
			return nil, err
		}
		pass, err := run.Render(s.Password)
		if err != nil {
			return nil, err
		}
		form.Set("username", user)
		form.Set("password", pass)
	case RefreshToken:
		rt, err := run.Render(s.RefreshToken)
		if err != nil {
			return nil, err
		}
		form.Set("refresh_token", rt)
	case AuthorizationCode:
		code, verifier, err := s.authorize(ctx, run)
		if err != nil {
			return nil, err
		}
		form.Set("code", code)
		form.Set("redirect_uri", s.RedirectURI)
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
	}
	if len(s.Scopes) > 0 && s.Grant != AuthorizationCode {
		form.Set("scope", strings.Join(s.Scopes, " "))
	}
	for _, r := range s.Resource {
		form.Add("resource", r)
	}
	if err := s.addParams(run, form); err != nil {
		return nil, err
	}
	resp, err := s.PostForm(ctx, run, s.TLS, tokenURL, form)
	if err != nil {
		return nil, err
	}
	tok, err := oidc.ParseTokenResponse(run, resp)
	if err != nil {
		return resp, err
	}
	run.SetVar("access_token", tok.AccessToken, true)
	run.SetVar("token_type", tok.TokenType, false)
	run.SetVar("scope", tok.Scope, false)
	if tok.IDToken != "" {
		run.SetVar("id_token", tok.IDToken, true)
	}
	if tok.RefreshToken != "" {
		run.SetVar("refresh_token", tok.RefreshToken, true)
	}
	if tok.HasExpiresIn {
		run.SetVar("expires_in", fmt.Sprint(tok.ExpiresIn), false)
	}
	return resp, nil
}

func (s step) addParams(run *probes.Run, v url.Values) error {
	for _, k := range sortedKeys(s.Params) {
		val, err := run.Render(s.Params[k])
		if err != nil {
			return err
		}
		v.Set(k, val)
	}
	return nil
}

// authorize walks the authorization-code flow headless: the authorization
// request, the provider's login (and second-factor and consent) pages, and
// the redirects, until the redirect to redirect_uri carries the code.
func (s step) authorize(ctx context.Context, run *probes.Run) (code, verifier string, err error) {
	authURL, err := s.URL(ctx, run, oidc.AuthorizationEndpoint)
	if err != nil {
		return "", "", err
	}
	clientID, err := run.Render(s.ClientID)
	if err != nil {
		return "", "", err
	}
	state := random()
	cfg := oauth2.Config{ClientID: clientID, Endpoint: oauth2.Endpoint{AuthURL: authURL}, RedirectURL: s.RedirectURI, Scopes: s.Scopes}
	var opts []oauth2.AuthCodeOption
	if s.PKCE == nil || *s.PKCE {
		verifier = oauth2.GenerateVerifier()
		run.AddSecret(verifier)
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	if slices.Contains(s.Scopes, "openid") {
		nonce := random()
		run.SetVar("nonce", nonce, false)
		opts = append(opts, oauth2.SetAuthURLParam("nonce", nonce))
	}
	for _, r := range s.Resource {
		opts = append(opts, oauth2.SetAuthURLParam("resource", r))
	}
	extra := url.Values{}
	if err := s.addParams(run, extra); err != nil {
		return "", "", err
	}
	for k := range extra {
		opts = append(opts, oauth2.SetAuthURLParam(k, extra.Get(k)))
	}
	redirect, _ := url.Parse(s.RedirectURI)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.AuthCodeURL(state, opts...), nil)
	if err != nil {
		return "", "", probes.Failf(probes.ReasonInternal, "authorization request: %v", err)
	}
	// Credentials go only to origins the flow has been sent to — the
	// authorization endpoint and where it redirected — or to allowed_hosts,
	// and never from https down to http.
	visited := map[string]bool{}
	var loggedIn, mfaDone, consented bool
	for range maxPages {
		visited[origin(req.URL)] = true
		resp, err := oidc.Do(run, s.TLS, req)
		if err != nil {
			return "", "", err
		}
		if resp.Location != "" {
			next, err := url.Parse(resp.URL)
			if err == nil {
				next, err = next.Parse(resp.Location)
			}
			if err != nil {
				return "", "", probes.Failf(probes.ReasonIdPError, "the identity provider redirected to an invalid URL")
			}
			if sameEndpoint(next, redirect) {
				return s.callback(run, next, state, verifier)
			}
			if next.Query().Get("state") == state || next.Query().Get("code") != "" {
				// The answer, sent somewhere else than redirect_uri: never
				// deliver the code to a place that was not configured.
				return "", "", probes.Failf(probes.ReasonIdPError, "the identity provider sent the authorization answer to %s, not to redirect_uri %s", probes.ShortURL(next.String()), probes.ShortURL(s.RedirectURI))
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
				return "", "", probes.Failf(probes.ReasonInternal, "following a redirect: %v", err)
			}
			continue
		}
		if resp.Status != http.StatusOK && (resp.Status < 400 || resp.Status >= 500) {
			return "", "", probes.Failf(probes.ReasonIdPError, "the identity provider answered status %d at %s: %s", resp.Status, probes.ShortURL(resp.URL), run.Excerpt(resp))
		}
		// A 4xx page may be the login form shown again with an error, as
		// some identity providers answer a wrong password.
		doc, err := resp.HTML()
		if err != nil {
			return "", "", probes.Failf(probes.ReasonIdPError, "the page at %s is not HTML: %v", probes.ShortURL(resp.URL), err)
		}
		forms := htmlx.FindAll(doc, atom.Form)
		var form *html.Node
		var values map[string]config.Template
		switch {
		case s.Login.MFA != nil && pickForm(forms, s.Login.MFA.Form, false) != nil:
			if mfaDone {
				return "", "", probes.Failf(probes.ReasonMFA, "the identity provider refused the second factor: %s", errorText(run, doc, resp))
			}
			form, values, mfaDone = pickForm(forms, s.Login.MFA.Form, false), s.Login.MFA.Form, true
		case s.loginForm(doc, forms) != nil:
			if loggedIn {
				return "", "", probes.Failf(probes.ReasonInvalidCredentials, "the identity provider showed the login form again: %s", errorText(run, doc, resp))
			}
			form, values, loggedIn = s.loginForm(doc, forms), s.Login.Form, true
		case resp.Status != http.StatusOK:
			return "", "", probes.Failf(probes.ReasonIdPError, "the identity provider answered status %d at %s: %s", resp.Status, probes.ShortURL(resp.URL), run.Excerpt(resp))
		case s.Login.Consent && len(forms) > 0 && !consented:
			form, consented = forms[0], true
		case len(forms) > 0 && !s.Login.Consent:
			return "", "", probes.Failf(probes.ReasonIdPError, "the identity provider showed a page with a form that is not the login form at %s (a consent page? set login.consent: true): %s",
				probes.ShortURL(resp.URL), run.Excerpt(resp))
		default:
			return "", "", probes.Failf(probes.ReasonIdPError, "the identity provider showed a page without a form to fill at %s: %s", probes.ShortURL(resp.URL), run.Excerpt(resp))
		}
		if req, err = submit(ctx, run, resp, form, values); err != nil {
			return "", "", err
		}
		if err := s.checkTarget(resp, req.URL, visited); err != nil {
			return "", "", err
		}
	}
	return "", "", probes.Failf(probes.ReasonRedirectLoop, "no redirect to %s after %d pages and redirects", probes.ShortURL(s.RedirectURI), maxPages)
}

// loginForm picks the login form: the one the selector names, else the
// first with one of the configured fields, else the first with a password
// input.
func (s step) loginForm(doc *html.Node, forms []*html.Node) *html.Node {
	if s.Login.FormSelector.Src != "" {
		return s.Login.FormSelector.MatchFirst(doc)
	}
	return pickForm(forms, s.Login.Form, true)
}

// checkTarget refuses to send a form anywhere the flow has not been, or
// from https to http.
func (s step) checkTarget(resp *probes.Response, target *url.URL, visited map[string]bool) error {
	page, _ := url.Parse(resp.URL)
	if page != nil && page.Scheme == "https" && target.Scheme != "https" {
		return probes.Failf(probes.ReasonIdPError, "the form at %s posts to %s without TLS; authprobe does not send credentials in clear text", probes.ShortURL(resp.URL), probes.ShortURL(target.String()))
	}
	if visited[origin(target)] || slices.ContainsFunc(s.Login.AllowedHosts, func(h string) bool { return strings.EqualFold(h, target.Host) }) {
		return nil
	}
	return probes.Failf(probes.ReasonIdPError, "the form at %s posts to %s, where the login has not been; add %s to login.allowed_hosts if that is expected",
		probes.ShortURL(resp.URL), probes.ShortURL(target.String()), target.Host)
}

func origin(u *url.URL) string { return strings.ToLower(u.Scheme + "://" + u.Host) }

// callback takes the code from the redirect to redirect_uri and checks the
// state (and the issuer, RFC 9207, when sent).
func (s step) callback(run *probes.Run, u *url.URL, state, verifier string) (string, string, error) {
	q := u.Query()
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		return "", "", probes.Failf(probes.ReasonIdPError, "the authorization failed: %s", run.Clip(msg))
	}
	if got := q.Get("state"); got != state {
		return "", "", probes.Failf(probes.ReasonIdPError, "the redirect carries state %q, not the %q sent: the answer is not to this request", run.Clip(got), state)
	}
	if iss := q.Get("iss"); iss != "" && s.Issuer != "" && iss != s.Issuer {
		return "", "", probes.Failf(probes.ReasonIssuerMismatch, "the redirect names the issuer %q, not %q", run.Clip(iss), s.Issuer)
	}
	code := q.Get("code")
	if code == "" {
		return "", "", probes.Failf(probes.ReasonIdPError, "the redirect to %s carries no code", probes.ShortURL(u.String()))
	}
	run.AddSecret(code)
	return code, verifier, nil
}

// sameEndpoint reports whether u is the redirect URI, whatever its query.
func sameEndpoint(u, redirect *url.URL) bool {
	return strings.EqualFold(u.Scheme, redirect.Scheme) && strings.EqualFold(u.Host, redirect.Host) &&
		strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(redirect.Path, "/")
}

// submit fills a form as a browser would submit it: its inputs with their
// values (hidden CSRF fields among them), the configured fields over them,
// and the first named submit button.
func submit(ctx context.Context, run *probes.Run, resp *probes.Response, form *html.Node, values map[string]config.Template) (*http.Request, error) {
	v := url.Values{}
	button := false
	for _, in := range htmlx.FindAll(form, atom.Input, atom.Select, atom.Textarea, atom.Button) {
		name, _ := htmlx.Attr(in, "name")
		if name == "" {
			continue
		}
		typ, _ := htmlx.Attr(in, "type")
		typ = strings.ToLower(typ)
		switch {
		case in.DataAtom == atom.Button || typ == "submit" || typ == "image":
			if !button && (in.DataAtom == atom.Button && (typ == "" || typ == "submit") || typ == "submit") {
				val, _ := htmlx.Attr(in, "value")
				v.Set(name, val)
				button = true
			}
		case typ == "checkbox" || typ == "radio":
			if _, checked := htmlx.Attr(in, "checked"); checked {
				val, ok := htmlx.Attr(in, "value")
				if !ok {
					val = "on"
				}
				v.Add(name, val)
			}
		case typ == "file" || typ == "reset":
		default:
			v.Set(name, htmlx.FieldValue(in))
		}
	}
	for _, k := range sortedKeys(values) {
		val, err := run.Render(values[k])
		if err != nil {
			return nil, err
		}
		v.Set(k, val)
	}
	base, _ := url.Parse(resp.URL)
	action, _ := htmlx.Attr(form, "action")
	target, err := base.Parse(action)
	if err != nil {
		return nil, probes.Failf(probes.ReasonIdPError, "the form's action %q is not a URL", run.Clip(action))
	}
	method, _ := htmlx.Attr(form, "method")
	if strings.EqualFold(method, "get") {
		target.RawQuery = v.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
		if err != nil {
			return nil, probes.Failf(probes.ReasonInternal, "submitting the form: %v", err)
		}
		return req, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(v.Encode()))
	if err != nil {
		return nil, probes.Failf(probes.ReasonInternal, "submitting the form: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base.Scheme+"://"+base.Host)
	req.Header.Set("Referer", base.String())
	return req, nil
}

// pickForm returns the first form with an input named as one of fields,
// or, if password is set, the first with a password input.
func pickForm(forms []*html.Node, fields map[string]config.Template, password bool) *html.Node {
	for _, f := range forms {
		for _, in := range htmlx.FindAll(f, atom.Input, atom.Select, atom.Textarea) {
			if name, _ := htmlx.Attr(in, "name"); name != "" && !fields[name].IsZero() {
				return f
			}
		}
	}
	if password {
		for _, f := range forms {
			for _, in := range htmlx.FindAll(f, atom.Input) {
				if typ, _ := htmlx.Attr(in, "type"); strings.EqualFold(typ, "password") {
					return f
				}
			}
		}
	}
	return nil
}

// errorText is what the page says went wrong: an element marked as an
// error or alert, or else the start of the page's text.
func errorText(run *probes.Run, doc *html.Node, resp *probes.Response) string {
	var found string
	var walk func(n *html.Node) bool
	walk = func(n *html.Node) bool {
		if n.Type == html.ElementNode {
			class, _ := htmlx.Attr(n, "class")
			role, _ := htmlx.Attr(n, "role")
			if role == "alert" || strings.Contains(strings.ToLower(class), "error") || strings.Contains(strings.ToLower(class), "alert") {
				if t := strings.Join(strings.Fields(htmlx.Text(n)), " "); t != "" {
					found = t
					return true
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if walk(c) {
				return true
			}
		}
		return false
	}
	if walk(doc) {
		return fmt.Sprintf("%q", run.Clip(found))
	}
	return fmt.Sprintf("%q", run.Excerpt(resp))
}

func sortedKeys(m map[string]config.Template) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
