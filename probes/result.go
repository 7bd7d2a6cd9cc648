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
