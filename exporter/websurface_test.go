package exporter_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/probes"
)

// Every response tells browsers not to sniff it into something else (a JSON
// answer quoting a target's <script> stays JSON), not to frame it, and to
// run nothing: the status page may use its own inline style, nothing more.
func TestSecurityHeaders(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("test")
	r.Series(j, probes.SeriesKey{Journey: "login"}, true)
	r.Result(j, probes.Result{Journey: "login", Start: time.Now(), Outcome: probes.OutcomeFailure, Reason: probes.ReasonElementNotFound,
		FailedStep: "page", Artifact: &probes.Artifact{Step: "page", Console: []string{"<script>alert(1)</script>"}, Screenshot: []byte("\x89PNG")}})
	h := exporter.Handler(exporter.Options{Recorder: r})
	for _, path := range []string{"/", "/metrics", "/api/v1/journeys", "/api/v1/artifacts", "/api/v1/artifacts/1",
		"/api/v1/artifacts/1/screenshot.png", "/api/v1/artifacts/99", "/-/healthy", "/-/ready", "/-/reload", "/nope"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		hd := rec.Header()
		csp := hd.Get("Content-Security-Policy")
		if hd.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(csp, "default-src 'none';") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || hd.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q, Content-Security-Policy %q, X-Frame-Options %q",
				path, rec.Code, hd.Get("X-Content-Type-Options"), csp, hd.Get("X-Frame-Options"))
		}
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: Content-Security-Policy %q allows scripts", path, csp)
		}
	}
}
