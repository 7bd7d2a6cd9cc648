package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/test/idp"
)

// serverTime sums the time spent inside the identity provider and the API
// during one run.
var serverTime atomic.Int64

type timed struct{ next http.RoundTripper }

func (t timed) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	serverTime.Add(int64(time.Since(start)))
	return resp, err
}

// BenchmarkTokenJourney runs client credentials → validate → use against
// the real identity provider (npm oidc-provider) and an API on loopback,
// and reports what authprobe adds: the journey's time minus the time the
// identity provider and the API spent answering (measured at a reverse
// proxy in front of the IdP, whose own cost therefore counts as
// authprobe's, and inside the API's handler). Run with -benchtime=300x.
func BenchmarkTokenJourney(b *testing.B) {
	p := idp.Start(b, idp.Options{})
	issuer, _ := url.Parse(p.Issuer)
	proxy := httputil.NewSingleHostReverseProxy(issuer)
	proxy.Transport = timed{http.DefaultTransport}
	front := httptest.NewServer(proxy)
	defer front.Close()

	var keys jose.JSONWebKeySet
	resp, err := http.Get(p.Issuer + "/jwks")
	if err != nil {
		b.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&keys)
	resp.Body.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { serverTime.Add(int64(time.Since(start))) }()
		raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		var c jwt.Claims
		if err == nil {
			err = tok.Claims(keys, &c)
		}
		if err != nil {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer api.Close()

	b.Setenv("T_CC_SECRET", idp.CCSecret)
	_, js := probetest.Compile(b, fmt.Sprintf(`
journeys:
  - name: token
    # Requests to the IdP go through the timing proxy; names and TLS stay.
    targets: { host: %[1]q, static: [%[2]q] }
    steps:
      - { name: token, oauth2: { issuer: %[3]q, grant: client_credentials, client_id: %[4]s, client_secret: "${env:T_CC_SECRET}" } }
      - { name: validate, jwt: { token: "{{ .access_token }}", issuer: %[3]q, audience: urn:api } }
      - { name: use, http: { url: %[5]q, headers: { Authorization: "Bearer {{ .access_token }}" } } }
`, issuer.Host, front.Listener.Addr(), p.Issuer, idp.CCClient, api.URL))
	j := js[0]
	target := j.Targets.Static[0]
	var total, overhead []time.Duration
	for b.Loop() {
		serverTime.Store(0)
		res := j.Execute(context.Background(), nil, j.Variants[0], target)
		if res.Outcome != probes.OutcomeSuccess {
			b.Fatalf("%s at %s: %s", res.Reason, res.FailedStep, res.Message)
		}
		total = append(total, res.Duration)
		overhead = append(overhead, res.Duration-time.Duration(serverTime.Load()))
	}
	slices.Sort(total)
	slices.Sort(overhead)
	q := func(d []time.Duration, p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(total, 0.5), "journey-p50-ms")
	b.ReportMetric(q(total, 0.99), "journey-p99-ms")
	b.ReportMetric(q(overhead, 0.5), "overhead-p50-ms")
	b.ReportMetric(q(overhead, 0.99), "overhead-p99-ms")
}
