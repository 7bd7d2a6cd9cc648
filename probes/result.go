package probes

import "time"

// Result is what one run of a journey found.
type Result struct {
	Journey string `json:"journey"`
	Variant string `json:"variant,omitempty"`
	Target  string `json:"target,omitempty"`

	// Scheduled is when the run was due; Start - Scheduled is the
	// scheduler's lateness.
	Scheduled time.Time     `json:"scheduled"`
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration_ns"`
	// Outcome is success, failure (the target failed the user) or error
	// (authprobe failed).
	Outcome Outcome `json:"outcome"`
	// Reason is the first failure's reason; empty on success.
	Reason Reason `json:"reason,omitempty"`
	// FailedStep names the first step that failed.
	FailedStep string `json:"failed_step,omitempty"`
	// Message says what went wrong, with secrets redacted.
	Message string       `json:"message,omitempty"`
	Steps   []StepResult `json:"steps"`
	// TraceID links the run to its trace when tracing is sampled.
	TraceID string `json:"trace_id,omitempty"`
	// Gauges are values steps observed for export, such as certificate expiry.
	Gauges []StepGauge `json:"-"`
	// Artifact is what the failing step left to look at (a browser's
	// screenshot, console and network errors); nil when it left nothing.
	Artifact *Artifact `json:"artifact,omitempty"`
	// ArtifactID names the artifact once a store keeps it (exporter).
	ArtifactID uint64 `json:"artifact_id,omitempty"`
}

// Artifact is evidence of a failure, with secrets redacted and password
// inputs masked.
type Artifact struct {
	Step  string `json:"step"`
	URL   string `json:"url,omitempty"`
	Title string `json:"title,omitempty"`
	// Console holds the page's last console errors and exceptions.
	Console []string `json:"console,omitempty"`
	// Network holds the page's last failed requests and 4xx/5xx answers.
	Network []string `json:"network,omitempty"`
	// Screenshot is a PNG of the page when the step failed.
	Screenshot []byte `json:"-"`
}

// ActionResult is one action of a step that has several, such as a
// browser step's navigate, fill and click.
type ActionResult struct {
	Name     string        `json:"name"` // "3:click"
	Duration time.Duration `json:"duration_ns"`
	Failed   bool          `json:"failed,omitempty"`
	// Navigation timing of a page load, in seconds from its start; 0 when
	// the action loaded no page.
	TTFB             float64 `json:"ttfb_seconds,omitempty"`
	DOMContentLoaded float64 `json:"dom_content_loaded_seconds,omitempty"`
	Load             float64 `json:"load_seconds,omitempty"`
}

// StepResult is what one step did in a run.
type StepResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Outcome is success, failure or error; empty when the step was skipped.
	Outcome  Outcome       `json:"outcome,omitempty"`
	Skipped  bool          `json:"skipped,omitempty"`
	Reason   Reason        `json:"reason,omitempty"`
	Message  string        `json:"message,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Attempts int           `json:"attempts,omitempty"`
	// Status is the last HTTP status the step saw, if any.
	Status int `json:"status,omitempty"`
	// Actions are the timed actions of a step that has several.
	Actions []ActionResult `json:"actions,omitempty"`

	artifact *Artifact // handed to the Result if this step failed first
}

// StepGauge is a point-in-time value a step observed that is exported as a
// gauge: a certificate's or a token's expiry, a key set's size.
type StepGauge struct {
	Step  string
	Name  string // one of the Gauge constants
	Value float64
	// Label is the value of an info gauge, such as a key set's fingerprint.
	Label string
}

// Gauge names steps report.
const (
	GaugeTLSCertExpiry   = "tls_cert_expiry"
	GaugeTokenExpiry     = "token_expiry"
	GaugeJWKSKeys        = "jwks_keys"
	GaugeJWKSFingerprint = "jwks_fingerprint"
)

// maxMessage bounds messages kept in memory and shown; a hostile target can
// make an error arbitrarily long.
const maxMessage = 512

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage] + "…"
}
