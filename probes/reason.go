package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Reason names why a run failed, in one word, so the page says what broke.
// The set is closed: it is a label value, and dashboards and alert rules
// match on it. docs/reasons.md documents each one.
type Reason string

// The reasons, grouped as in DESIGN.md.
const (
	// Network.
	ReasonDNS     Reason = "dns"
	ReasonConnect Reason = "connect"
	ReasonTLS     Reason = "tls"
	ReasonTimeout Reason = "timeout"
	// HTTP.
	ReasonHTTPStatus   Reason = "http_status"
	ReasonAssertion    Reason = "assertion"
	ReasonExtract      Reason = "extract"
	ReasonRedirectLoop Reason = "redirect_loop"
	ReasonBodyTooLarge Reason = "body_too_large"
	// Login.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	ReasonMFA                Reason = "mfa"
	ReasonIdPError           Reason = "idp_error"
	ReasonTokenResponse      Reason = "token_response"
	// Token.
	ReasonJWKSFetch        Reason = "jwks_fetch"
	ReasonDiscovery        Reason = "discovery"
	ReasonUnknownKID       Reason = "unknown_kid"
	ReasonBadSignature     Reason = "bad_signature"
	ReasonAlgNotAllowed    Reason = "alg_not_allowed"
	ReasonExpired          Reason = "expired"
	ReasonNotYetValid      Reason = "not_yet_valid"
	ReasonIATFuture        Reason = "iat_future"
	ReasonIssuerMismatch   Reason = "issuer_mismatch"
	ReasonAudienceMismatch Reason = "audience_mismatch"
	ReasonMissingClaim     Reason = "missing_claim"
	ReasonNonceMismatch    Reason = "nonce_mismatch"
	// Use.
	ReasonTokenRejected Reason = "token_rejected"
	// Fail-closed checks.
	ReasonNotRejected Reason = "not_rejected"
	// Browser.
	ReasonElementNotFound Reason = "element_not_found"
	ReasonNavigation      Reason = "navigation"
	// Prober.
	ReasonInternal Reason = "internal"
)

// Reasons is every reason with its meaning, in documentation order. It is
// an array so its length is a constant for arrays indexed by reason.
var Reasons = [...]struct {
	Reason  Reason
	Group   string
	Meaning string
}{
	{ReasonDNS, "network", "a host name could not be resolved (NXDOMAIN, SERVFAIL, no answer)"},
	{ReasonConnect, "network", "the TCP connection was refused, reset or closed early"},
	{ReasonTLS, "network", "the TLS handshake failed: expired, untrusted or wrong-host certificate, protocol error"},
	{ReasonTimeout, "network", "the run's deadline passed, or a step took longer than its max_duration"},
	{ReasonHTTPStatus, "http", "the response status was not the expected one"},
	{ReasonAssertion, "http", "the response did not meet an expectation (body, JSON, header, cookie)"},
	{ReasonExtract, "http", "a value to extract (CSRF token, access token) was not in the response"},
	{ReasonRedirectLoop, "http", "redirects went in a circle, past the configured maximum, or to a scheme other than http and https"},
	{ReasonBodyTooLarge, "http", "the response body was larger than max_body_bytes (1MiB from an identity provider), or its headers larger than 1MiB"},
	{ReasonInvalidCredentials, "login", "the identity provider refused the probe's credentials"},
	{ReasonMFA, "login", "the second factor was refused or could not be completed"},
	{ReasonIdPError, "login", "the identity provider answered with an error or a 5xx"},
	{ReasonTokenResponse, "login", "the token response was malformed"},
	{ReasonJWKSFetch, "token", "the JWKS could not be fetched or parsed"},
	{ReasonDiscovery, "token", "the OIDC discovery document could not be fetched or was invalid"},
	{ReasonUnknownKID, "token", "the token's kid is not in the JWKS (keys rotated on one side only)"},
	{ReasonBadSignature, "token", "the token's signature does not verify"},
	{ReasonAlgNotAllowed, "token", "the token's algorithm is not in the allow-list"},
	{ReasonExpired, "token", "the token has expired"},
	{ReasonNotYetValid, "token", "the token's nbf is in the future"},
	{ReasonIATFuture, "token", "the token's iat is in the future"},
	{ReasonIssuerMismatch, "token", "the issuer is not the expected one"},
	{ReasonAudienceMismatch, "token", "the audience is not the expected one"},
	{ReasonMissingClaim, "token", "a required claim is missing"},
	{ReasonNonceMismatch, "token", "the ID token's nonce is not the one sent"},
	{ReasonTokenRejected, "use", "the API refused a token or credentials the journey had just obtained (401/403)"},
	{ReasonNotRejected, "fail-closed", "a wrong password or a tampered, expired or revoked token was accepted"},
	{ReasonElementNotFound, "browser", "a page element did not appear"},
	{ReasonNavigation, "browser", "a page failed to load"},
	{ReasonInternal, "prober", "authprobe itself failed (bad template, crash); outcome=\"error\""},
}

// NetworkReasons can happen to any step that talks to the network.
var NetworkReasons = []Reason{ReasonDNS, ReasonConnect, ReasonTLS, ReasonTimeout}

// Outcome is the result of a run: whether the target served the user.
type Outcome string

// Outcomes. Failure means the target failed the user; error means authprobe
// itself failed and is kept out of the SLI.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeError   Outcome = "error"
)

// Outcome returns the outcome a failure with this reason has.
func (r Reason) Outcome() Outcome {
	switch r {
	case "":
		return OutcomeSuccess
	case ReasonInternal:
		return OutcomeError
	}
	return OutcomeFailure
}

// Error is a step failure with its reason.
type Error struct {
	Reason Reason
	Err    error
}

// Error returns the message without the reason, which is reported apart.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Failf returns a step failure with a reason and a message.
func Failf(reason Reason, format string, args ...any) error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Fail wraps err as a failure with a reason.
func Fail(reason Reason, err error) error { return &Error{Reason: reason, Err: err} }

// Classify returns the reason for an error from a step. Errors that carry a
// reason keep it; network errors are classified by what failed; anything
// else is authprobe's own fault.
func Classify(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if r := classifyNetwork(err); r != "" {
		return r
	}
	return ReasonInternal
}

// classifyNetwork returns the reason of a transport error, or "" if err is
// not one.
func classifyNetwork(err error) Reason {
	var (
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		unkCA    x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
		opErr    *net.OpError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &dnsErr):
		return ReasonDNS
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &unkCA), errors.As(err, &hostErr), errors.As(err, &invErr):
		return ReasonTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	// net/http reports these two without an error type.
	case strings.Contains(err.Error(), "server response headers exceeded"):
		return ReasonBodyTooLarge
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return ReasonTLS
	case errors.As(err, &opErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return ReasonConnect
	}
	return ""
}

// ClassifyNetwork is Classify for errors from a transport: an error it cannot
// place is a connection problem, not authprobe's.
func ClassifyNetwork(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if r := classifyNetwork(err); r != "" {
		return r
	}
	return ReasonConnect
}
