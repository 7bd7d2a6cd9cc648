package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// oauthError is the RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// scopeClaim carries the claims go-jose's jwt.Claims does not have.
type scopeClaim struct {
	Scope string `json:"scope"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (r *Realm) token(w http.ResponseWriter, req *http.Request) {
	if r.login500(w) {
		return
	}
	// Token responses must not be cached by anything in between (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	req.Body = http.MaxBytesReader(w, req.Body, maxFormBytes)
	if err := req.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "the body is not a valid form"})
		return
	}
	form := req.PostForm

	clientID, ok := r.authenticateClient(req)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="demo"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_client"})
		return
	}

	var sub string
	switch form.Get("grant_type") {
	case "client_credentials":
		sub = clientID
	case "password":
		if !r.passwordValid(form.Get("username"), form.Get("password")) {
			writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_grant"})
			return
		}
		sub = probeUser
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "grant_type is required"})
		return
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "unsupported_grant_type"})
		return
	}

	if s := form.Get("scope"); s != "" && slices.ContainsFunc(strings.Fields(s), func(f string) bool { return f != apiScope }) {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_scope", Description: "the only scope is api"})
		return
	}

	token, err := r.issue(r.issuerURL(req), sub, time.Now())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, oauthError{Error: "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int(tokenTTL.Seconds()),
		Scope:       apiScope,
	})
}

// authenticateClient accepts client_secret_basic or client_secret_post, but
// not both at once (RFC 6749 §2.3).
func (r *Realm) authenticateClient(req *http.Request) (string, bool) {
	id, secret, basic := req.BasicAuth()
	if basic {
		if _, inForm := req.PostForm["client_secret"]; inForm {
			return "", false
		}
		// Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1).
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return "", false
		}
	} else {
		id, secret = req.PostForm.Get("client_id"), req.PostForm.Get("client_secret")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(probeUser))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(r.clientSecret))
	return id, idOK&secretOK == 1
}

// issue signs an access token with the issuer's current key.
func (r *Realm) issue(iss, sub string, now time.Time) (string, error) {
	claims := jwt.Claims{
		Issuer:    iss,
		Subject:   sub,
		Audience:  jwt.Audience{apiAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(tokenTTL)),
		ID:        rand.Text(),
	}
	return jwt.Signed(r.signer).Claims(claims).Claims(scopeClaim{Scope: apiScope}).Serialize()
}

func (r *Realm) discovery(w http.ResponseWriter, req *http.Request) {
	iss := r.issuerURL(req)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/oauth/token",
		"jwks_uri":                              iss + "/.well-known/jwks.json",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"grant_types_supported":                 []string{"client_credentials", "password"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{apiScope},
	})
}

func (r *Realm) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, r.issuerKeys)
}

// me is the protected API. Each replica trusts its own key set, which
// under the key-drift fault no longer matches the issuer's on one of them.
func (r *Realm) me(w http.ResponseWriter, req *http.Request, replica int) {
	raw, ok := bearerToken(req)
	if !ok {
		// No credentials at all: RFC 6750 §3.1 says send no error code.
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_request", Description: "a bearer token is required"})
		return
	}
	sub, scope, err := r.verify(raw, r.issuerURL(req), replica, time.Now())
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_token", Description: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": sub, "scope": scope, "replica": replica})
}

func bearerToken(req *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Errors the API explains itself with; their text reaches the client.
var (
	errMalformed   = errors.New("token is not a signed RS256 JWT")
	errUnknownKid  = errors.New("token is signed with a key this API does not know (unknown kid)")
	errBadSig      = errors.New("token signature is invalid")
	errNoExpiry    = errors.New("token has no exp claim")
	errWrongScope  = errors.New("token lacks the api scope")
	errBadClaimFmt = errors.New("token claims are malformed")
)

func (r *Realm) verify(raw, iss string, replica int, now time.Time) (sub, scope string, err error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", "", errMalformed
	}
	var claims jwt.Claims
	var extra scopeClaim
	if err := tok.Claims(r.apiKeys(replica), &claims, &extra); err != nil {
		switch {
		case errors.Is(err, jose.ErrJWKSKidNotFound):
			return "", "", errUnknownKid
		case errors.Is(err, jose.ErrCryptoFailure):
			return "", "", errBadSig
		default:
			return "", "", errBadClaimFmt
		}
	}
	if claims.Expiry == nil {
		return "", "", errNoExpiry
	}
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      iss,
		AnyAudience: jwt.Audience{apiAudience},
		Time:        now,
	}, 5*time.Second)
	if err != nil {
		return "", "", err
	}
	if !slices.Contains(strings.Fields(extra.Scope), apiScope) {
		return "", "", errWrongScope
	}
	return claims.Subject, extra.Scope, nil
}
