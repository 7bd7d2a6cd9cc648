package oauth2step

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/oidc"
)

// The token lifecycle kinds — introspect, userinfo, revoke — share the
// oauth2 kind's provider and client settings, so a journey can log in,
// validate, use, refresh, revoke, and check that the revoked token is
// refused, all in config.

func init() {
	reasons := append(slices.Clone(probes.NetworkReasons), probes.ReasonDiscovery, probes.ReasonIssuerMismatch,
		probes.ReasonIdPError, probes.ReasonInvalidCredentials, probes.ReasonTokenRejected, probes.ReasonBodyTooLarge)
	probes.Register(probes.Kind{
		Name:    "introspect",
		Doc:     "Asks the identity provider whether a token is active (RFC 7662); an inactive token fails with token_rejected.",
		NewSpec: func() any { return new(IntrospectSpec) },
		Build:   func(spec any) (probes.Step, error) { return introspect{spec.(*IntrospectSpec)}, nil },
		Reasons: append(reasons, probes.ReasonTokenResponse),
	})
	probes.Register(probes.Kind{
		Name:    "userinfo",
		Doc:     "Fetches the userinfo endpoint with a token; its claims are the response for expect.json.",
		NewSpec: func() any { return new(UserinfoSpec) },
		Build:   func(spec any) (probes.Step, error) { return userinfo{spec.(*UserinfoSpec)}, nil },
		Reasons: append(reasons, probes.ReasonTokenResponse),
	})
	probes.Register(probes.Kind{
		Name:    "revoke",
		Doc:     "Revokes a token (RFC 7009).",
		NewSpec: func() any { return new(RevokeSpec) },
		Build:   func(spec any) (probes.Step, error) { return revoke{spec.(*RevokeSpec)}, nil },
		Reasons: reasons,
	})
}

// TokenRef names the token a lifecycle step works on.
type TokenRef struct {
	Token         config.Template `yaml:"token" doc:"The token. Default {{ .access_token }}."`
	TokenTypeHint string          `yaml:"token_type_hint" doc:"access_token or refresh_token, as a hint to the identity provider."`
}

func (t *TokenRef) defaults() {
	if t.Token.IsZero() {
		t.Token, _ = config.ParseTemplate("{{ .access_token }}")
	}
}

func (t *TokenRef) form(run *probes.Run) (url.Values, error) {
	tok, err := run.Render(t.Token)
	if err != nil {
		return nil, err
	}
	f := url.Values{"token": {tok}}
	if t.TokenTypeHint != "" {
		f.Set("token_type_hint", t.TokenTypeHint)
	}
	return f, nil
}

// IntrospectSpec is the introspect step's settings.
type IntrospectSpec struct {
	oidc.Provider `yaml:",inline"`
	oidc.Client   `yaml:",inline"`
	TokenRef      `yaml:",inline"`
}

// Check validates the settings.
func (s *IntrospectSpec) Check(c *config.Check) {
	s.CheckProvider(c)
	s.CheckClient(c)
	s.CheckNeeds(c, oidc.IntrospectionEndpoint)
	s.defaults()
}

type introspect struct{ *IntrospectSpec }

// Do asks whether the token is active.
func (s introspect) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	u, err := s.URL(ctx, run, oidc.IntrospectionEndpoint)
	if err != nil {
		return nil, err
	}
	form, err := s.form(run)
	if err != nil {
		return nil, err
	}
	resp, err := s.PostForm(ctx, run, s.TLS, u, form)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return resp, oidc.EndpointError(run, "the introspection endpoint", resp)
	}
	var doc struct {
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(resp.Body, &doc); err != nil || doc.Active == nil {
		return resp, probes.Failf(probes.ReasonTokenResponse, "the introspection response has no boolean active")
	}
	if !*doc.Active {
		return resp, probes.Failf(probes.ReasonTokenRejected, "the identity provider says the token is not active")
	}
	return resp, nil
}

// UserinfoSpec is the userinfo step's settings.
type UserinfoSpec struct {
	oidc.Provider `yaml:",inline"`
	Token         config.Template `yaml:"token" doc:"The access token. Default {{ .access_token }}."`
}

// Check validates the settings.
func (s *UserinfoSpec) Check(c *config.Check) {
	s.CheckProvider(c)
	s.CheckNeeds(c, oidc.UserinfoEndpoint)
	if s.Token.IsZero() {
		s.Token, _ = config.ParseTemplate("{{ .access_token }}")
	}
}

type userinfo struct{ *UserinfoSpec }

// Do fetches the user's claims with the token.
func (s userinfo) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	u, err := s.URL(ctx, run, oidc.UserinfoEndpoint)
	if err != nil {
		return nil, err
	}
	tok, err := run.Render(s.Token)
	if err != nil {
		return nil, err
	}
	resp, err := oidc.Get(ctx, run, s.TLS, u, tok)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return resp, probes.Failf(probes.ReasonTokenRejected, "the userinfo endpoint refused the token (status %d)", resp.Status)
	case resp.Status != http.StatusOK:
		return resp, oidc.EndpointError(run, "the userinfo endpoint", resp)
	}
	if _, err := resp.JSON(); err != nil {
		return resp, probes.Failf(probes.ReasonTokenResponse, "the userinfo response is not JSON (a signed userinfo response is not supported)")
	}
	return resp, nil
}

// RevokeSpec is the revoke step's settings.
type RevokeSpec struct {
	oidc.Provider `yaml:",inline"`
	oidc.Client   `yaml:",inline"`
	TokenRef      `yaml:",inline"`
}

// Check validates the settings.
func (s *RevokeSpec) Check(c *config.Check) {
	s.CheckProvider(c)
	s.CheckClient(c)
	s.CheckNeeds(c, oidc.RevocationEndpoint)
	s.defaults()
}

type revoke struct{ *RevokeSpec }

// Do revokes the token.
func (s revoke) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	u, err := s.URL(ctx, run, oidc.RevocationEndpoint)
	if err != nil {
		return nil, err
	}
	form, err := s.form(run)
	if err != nil {
		return nil, err
	}
	resp, err := s.PostForm(ctx, run, s.TLS, u, form)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return resp, oidc.EndpointError(run, "the revocation endpoint", resp)
	}
	return resp, nil
}
