package probes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/htmlx"
)

// defaultRejected are the statuses that count as a refusal in a fail-closed
// check that names none.
var defaultRejected = config.StatusSet{"401", "403"}

// checkExpect decides whether a step met its expectations. A fail-closed
// check (rejected: true) inverts the meaning of a refusal: 401/403, or a
// step failing with one of its kind's refusal reasons (invalid_credentials,
// token_rejected; a jwt step's validation failures), is the pass, and
// acceptance is the failure not_rejected.
func (s *CompiledStep) checkExpect(run *Run, resp *Response, err error, took time.Duration) error {
	exp := &s.Expect
	if exp.Rejected {
		if err != nil {
			if slices.Contains(s.refusals, Classify(err)) {
				return nil
			}
			return err
		}
		refused := exp.Status
		if refused == nil {
			refused = defaultRejected
		}
		switch {
		case resp == nil || resp.Status == 0:
			return Failf(ReasonNotRejected, "the step succeeded; it must be refused")
		case refused.Matches(resp.Status):
		case resp.Status < 400:
			return Failf(ReasonNotRejected, "status %d: the request was accepted; it must be refused with %s", resp.Status, refused)
		default:
			return Failf(ReasonHTTPStatus, "status %d is neither a refusal (%s) nor an acceptance, so the check is inconclusive", resp.Status, refused)
		}
		return checkContent(run, exp, resp, took)
	}
	if err != nil {
		return err
	}
	if resp == nil {
		return checkDuration(exp, took)
	}
	want := exp.Status
	if want == nil {
		want = s.defaultStatus
	}
	if resp.Status != 0 && want != nil && !want.Matches(resp.Status) {
		msg := fmt.Sprintf("status %d, want %s", resp.Status, want)
		if ex := excerpt(run, resp); ex != "" {
			msg += fmt.Sprintf(" (body: %s)", ex)
		}
		if resp.Location != "" {
			msg += fmt.Sprintf(" (a redirect to %s; set redirects: follow to follow it, or expect this status)", ShortURL(resp.Location))
		}
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
			switch resp.Credentials {
			case CredentialsConfigured:
				return Failf(ReasonInvalidCredentials, "%s: the configured credentials were refused", msg)
			case CredentialsObtained:
				return Failf(ReasonTokenRejected, "%s: the token was rejected", msg)
			}
		}
		return Failf(ReasonHTTPStatus, "%s", msg)
	}
	return checkContent(run, exp, resp, took)
}

// ShortURL is a URL without its query and fragment, where codes, tokens and
// secrets travel, for messages.
func ShortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an invalid URL)"
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	return u.Redacted()
}

func checkContent(run *Run, exp *config.Expect, resp *Response, took time.Duration) error {
	for _, want := range exp.BodyContains {
		if !bytes.Contains(resp.Body, []byte(want)) {
			return Failf(ReasonAssertion, "the body does not contain %q", want)
		}
	}
	if exp.BodyRegex != nil && !exp.BodyRegex.Match(resp.Body) {
		return Failf(ReasonAssertion, "the body does not match %q", exp.BodyRegex.String())
	}
	for _, a := range exp.JSON {
		doc, err := resp.JSON()
		if err != nil {
			return Fail(ReasonAssertion, err)
		}
		got, ok := a.Path.Get(doc)
		if !ok {
			return Failf(ReasonAssertion, "%s is not in the JSON body", a.Path)
		}
		if !jsonEqual(got, a.Want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(a.Want)
			return Failf(ReasonAssertion, "%s is %s, want %s", a.Path, truncateValue(run, string(g)), w)
		}
	}
	for _, name := range sortedKeys(exp.Header) {
		re := exp.Header[name]
		vals := resp.Header.Values(name)
		if len(vals) == 0 {
			return Failf(ReasonAssertion, "header %s is missing", name)
		}
		matched := false
		for _, v := range vals {
			matched = matched || re.MatchString(v)
		}
		if !matched {
			return Failf(ReasonAssertion, "header %s is %q, which does not match %q", name, truncateValue(run, vals[0]), re.String())
		}
	}
	for _, name := range exp.Cookie {
		if !setsCookie(resp.SetCookies, name) {
			return Failf(ReasonAssertion, "the response does not set cookie %s", name)
		}
	}
	return checkDuration(exp, took)
}

func checkDuration(exp *config.Expect, took time.Duration) error {
	if exp.MaxDuration > 0 && took > exp.MaxDuration.D() {
		return Failf(ReasonTimeout, "took %s, more than max_duration %s", took.Round(time.Millisecond), exp.MaxDuration)
	}
	return nil
}

// setsCookie reports whether a cookie is set with a value, not deleted.
func setsCookie(cookies []*http.Cookie, name string) bool {
	for _, c := range cookies {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 && (c.Expires.IsZero() || c.Expires.After(time.Now())) {
			return true
		}
	}
	return false
}

// jsonEqual compares a decoded JSON value (numbers as json.Number) with a
// value written in the config.
func jsonEqual(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case int:
		return numEqual(got, float64(w))
	case float64:
		return numEqual(got, w)
	}
	return false
}

func numEqual(got any, want float64) bool {
	n, ok := got.(json.Number)
	if !ok {
		return false
	}
	f, err := n.Float64()
	return err == nil && f == want
}

// Excerpt returns the start of a textual body on one line: the first thing
// an engineer wants to see when a login returns 500 is what it said. The
// body is redacted before it is cut, so a secret cannot survive in part.
func (run *Run) Excerpt(resp *Response) string { return excerpt(run, resp) }

func excerpt(run *Run, resp *Response) string {
	ct := resp.Header.Get("Content-Type")
	if len(resp.Body) == 0 || !(strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || ct == "") || !utf8.Valid(resp.Body) {
		return ""
	}
	text := string(resp.Body)
	if strings.Contains(ct, "html") {
		doc, err := resp.HTML()
		if err != nil {
			return ""
		}
		text = htmlx.VisibleText(doc)
	}
	return truncateValue(run, strings.Join(strings.Fields(run.Redact(text)), " "))
}

// Clip shortens a value a target controls (an error description, a state)
// for a message, after redacting it whole, so that no part of a secret
// survives the cut.
func (run *Run) Clip(s string) string { return truncateValue(run, s) }

// truncateValue shortens a target-controlled value for a message, after
// redacting it whole.
func truncateValue(run *Run, s string) string {
	const max = 120
	s = run.Redact(s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

var errNoResponse = errors.New("the step produced no response to extract from")

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
