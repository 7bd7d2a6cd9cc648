// Package exporter turns run results into what people and Prometheus read:
// the metrics of DESIGN.md, the status page, the JSON API, and the HTTP
// server with health, readiness and reload endpoints.
package exporter

import (
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/authprobe/authprobe/probes"
)

// historyLen is how many runs per series the status page's strip shows.
const historyLen = 20

var (
	seriesLabels   = []string{"journey", "location", "variant", "target"}
	durationBucket = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}
)

// Recorder keeps the metrics and the recent history of every series.
type Recorder struct {
	reg *prometheus.Registry

	runs         *prometheus.CounterVec
	success      *prometheus.GaugeVec
	duration     *prometheus.HistogramVec
	lastRun      *prometheus.GaugeVec
	lastSuccess  *prometheus.GaugeVec
	stepDuration *prometheus.HistogramVec
	objective    *prometheus.GaugeVec
	interval     *prometheus.GaugeVec
	skipped      *prometheus.CounterVec
	tlsExpiry    *prometheus.GaugeVec
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge
	lateness     prometheus.Histogram

	mu       sync.RWMutex
	location string
	series   map[probes.SeriesKey]*seriesState
	journeys map[string]*journeyState
	reload   ReloadStatus
}

type journeyState struct {
	j      *probes.Journey
	series int
}

// ReloadStatus is the outcome of the last config (re)load.
type ReloadStatus struct {
	OK   bool      `json:"ok"`
	Time time.Time `json:"time"`
	// Error is the reason the last attempt failed, with field paths.
	Error string `json:"error,omitempty"`
	// LastSuccess is when a config was last applied.
	LastSuccess time.Time `json:"last_success"`
}

// NewRecorder creates the metrics in a fresh registry. version is exported
// in authprobe_build_info.
func NewRecorder(version string) *Recorder {
	r := &Recorder{
		reg:      prometheus.NewRegistry(),
		series:   map[probes.SeriesKey]*seriesState{},
		journeys: map[string]*journeyState{},
	}
	f := factory{r.reg}
	r.runs = f.counter("authprobe_journey_runs_total", "Journey runs by outcome (success, failure: the target failed the user, error: authprobe failed) and reason.", "outcome", "reason")
	r.success = f.gauge("authprobe_journey_success", "1 if the last run succeeded, else 0.", seriesLabels...)
	r.duration = f.histogram("authprobe_journey_duration_seconds", "Duration of journey runs, all steps together; exemplars carry trace_id.", seriesLabels...)
	r.lastRun = f.gauge("authprobe_journey_last_run_timestamp_seconds", "When the last run ended, as a Unix timestamp.", seriesLabels...)
	r.lastSuccess = f.gauge("authprobe_journey_last_success_timestamp_seconds", "When the last successful run ended, as a Unix timestamp.", seriesLabels...)
	r.stepDuration = f.histogram("authprobe_step_duration_seconds", "Duration of each step, retries included.", append(seriesLabels, "step")...)
	r.objective = f.gauge("authprobe_journey_slo_objective_ratio", "The journey's objective as a ratio (0.995 for 99.5%).", "journey", "location")
	r.interval = f.gauge("authprobe_journey_interval_seconds", "How often the journey is configured to run.", "journey", "location")
	r.skipped = f.counter("authprobe_runs_skipped_total", "Due runs that did not start: overlap (the previous run was still going) or concurrency (max_concurrency reached).", "cause")
	r.tlsExpiry = f.gauge("authprobe_tls_cert_expiry_timestamp_seconds", "Earliest expiry of the certificates a step's server presented, as a Unix timestamp.", append(seriesLabels, "step")...)
	r.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "authprobe_config_last_reload_successful", Help: "1 if the last config load succeeded, else 0."})
	r.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "authprobe_config_last_reload_success_timestamp_seconds", Help: "When a config was last loaded successfully, as a Unix timestamp."})
	r.lateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "authprobe_scheduler_start_lateness_seconds",
		Help:    "How late runs started after their scheduled time.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "authprobe_build_info", Help: "Build information; always 1."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	r.reg.MustRegister(r.reloadOK, r.reloadTime, r.lateness, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string, extra ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append(append([]string(nil), seriesLabels...), extra...))
	f.reg.MustRegister(v)
	return v
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f factory) histogram(name, help string, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: name, Help: help,
		Buckets:                         durationBucket,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
		NativeHistogramMaxExemplars:     10,
		NativeHistogramExemplarTTL:      10 * time.Minute,
	}, labels)
	f.reg.MustRegister(v)
	return v
}

// Registry is where the metrics live, for /metrics.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// SetLocation sets the location label. Changing it replaces every series.
func (r *Recorder) SetLocation(loc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if loc == r.location {
		return
	}
	old := r.location
	r.location = loc
	if old == "" {
		return
	}
	for _, v := range r.vecs() {
		v.DeletePartialMatch(prometheus.Labels{"location": old})
	}
	for _, js := range r.journeys {
		r.initJourney(js.j)
	}
	for _, s := range r.series {
		r.initSeries(s.journey, s.key)
	}
}

type deleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

func (r *Recorder) vecs() []deleter {
	return []deleter{r.runs, r.success, r.duration, r.lastRun, r.lastSuccess, r.stepDuration, r.objective, r.interval, r.skipped, r.tlsExpiry}
}

// Series creates or removes a series; it is the scheduler's OnSeries.
// Counters and histograms of a new series start at 0 for every outcome and
// reason its steps can produce, so rates and increases are right from the
// first failure. Gauges about the last run appear with the first run, so a
// journey that has not run yet never looks failed or stale.
func (r *Recorder) Series(j *probes.Journey, key probes.SeriesKey, added bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, exists := r.series[key]
	if added {
		if !exists {
			s = &seriesState{key: key}
			r.series[key] = s
			js := r.journeys[key.Journey]
			if js == nil {
				js = &journeyState{}
				r.journeys[key.Journey] = js
			}
			js.series++
		}
		if s.journey != nil && s.journey != j {
			r.dropRemovedSteps(s.journey, j, key)
		}
		s.journey = j
		r.journeys[key.Journey].j = j
		r.initJourney(j)
		r.initSeries(j, key)
		return
	}
	if !exists {
		return
	}
	delete(r.series, key)
	for _, v := range r.vecs() {
		v.DeletePartialMatch(prometheus.Labels{"journey": key.Journey, "variant": key.Variant, "target": key.Target})
	}
	if js := r.journeys[key.Journey]; js != nil {
		if js.series--; js.series == 0 {
			delete(r.journeys, key.Journey)
			r.objective.DeleteLabelValues(key.Journey, r.location)
			r.interval.DeleteLabelValues(key.Journey, r.location)
		}
	}
}

// dropRemovedSteps deletes the step series of steps a changed journey no
// longer has: a frozen certificate expiry of a step that is gone would
// otherwise page one day.
func (r *Recorder) dropRemovedSteps(old, cur *probes.Journey, key probes.SeriesKey) {
	keep := map[string]bool{}
	for _, st := range cur.Steps {
		keep[st.Name] = true
	}
	for _, st := range old.Steps {
		if !keep[st.Name] {
			l := prometheus.Labels{"journey": key.Journey, "variant": key.Variant, "target": key.Target, "step": st.Name}
			r.stepDuration.DeletePartialMatch(l)
			r.tlsExpiry.DeletePartialMatch(l)
		}
	}
}

func (r *Recorder) initJourney(j *probes.Journey) {
	r.objective.WithLabelValues(j.Name, r.location).Set(j.Objective)
	r.interval.WithLabelValues(j.Name, r.location).Set(j.Interval.Seconds())
}

func (r *Recorder) initSeries(j *probes.Journey, key probes.SeriesKey) {
	l := []string{key.Journey, r.location, key.Variant, key.Target}
	r.runs.WithLabelValues(append(l, string(probes.OutcomeSuccess), "")...)
	for _, reason := range j.Reasons {
		r.runs.WithLabelValues(append(l, string(reason.Outcome()), string(reason))...)
	}
	r.duration.WithLabelValues(l...)
	for _, s := range j.Steps {
		r.stepDuration.WithLabelValues(append(l, s.Name)...)
	}
	r.skipped.WithLabelValues(append(l, probes.SkipOverlap)...)
	r.skipped.WithLabelValues(append(l, probes.SkipConcurrency)...)
}

// Result records a finished run; it is the scheduler's OnResult.
func (r *Recorder) Result(j *probes.Journey, res probes.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := probes.SeriesKey{Journey: res.Journey, Variant: res.Variant, Target: res.Target}
	s, ok := r.series[key]
	if !ok {
		// The series was removed while the run was in flight.
		return
	}
	l := []string{key.Journey, r.location, key.Variant, key.Target}
	end := res.Start.Add(res.Duration)
	r.runs.WithLabelValues(append(l, string(res.Outcome), string(res.Reason))...).Inc()
	ok = res.Outcome == probes.OutcomeSuccess
	r.success.WithLabelValues(l...).Set(boolFloat(ok))
	observe(r.duration.WithLabelValues(l...), res.Duration.Seconds(), res.TraceID)
	r.lastRun.WithLabelValues(l...).Set(float64(end.UnixNano()) / 1e9)
	if ok {
		r.lastSuccess.WithLabelValues(l...).Set(float64(end.UnixNano()) / 1e9)
	}
	for _, st := range res.Steps {
		if !st.Skipped {
			observe(r.stepDuration.WithLabelValues(append(l, st.Name)...), st.Duration.Seconds(), res.TraceID)
		}
	}
	for _, g := range res.Gauges {
		if g.Name == probes.GaugeTLSCertExpiry {
			r.tlsExpiry.WithLabelValues(append(l, g.Step)...).Set(g.Value)
		}
	}
	if !res.Scheduled.IsZero() {
		r.lateness.Observe(max(0, res.Start.Sub(res.Scheduled).Seconds()))
	}
	s.add(res)
}

func observe(o prometheus.Observer, v float64, traceID string) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok && traceID != "" {
		eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": traceID})
		return
	}
	o.Observe(v)
}

// Skip counts a run that did not start; it is the scheduler's OnSkip.
func (r *Recorder) Skip(_ *probes.Journey, key probes.SeriesKey, cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.series[key]; ok {
		r.skipped.WithLabelValues(key.Journey, r.location, key.Variant, key.Target, cause).Inc()
		s.skipped++
	}
}

// Reloaded records the outcome of a config load.
func (r *Recorder) Reloaded(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.reload.Time = now
	r.reload.OK = err == nil
	r.reload.Error = ""
	if err != nil {
		r.reload.Error = err.Error()
		r.reloadOK.Set(0)
		return
	}
	r.reload.LastSuccess = now
	r.reloadOK.Set(1)
	r.reloadTime.Set(float64(now.Unix()))
}

// Reload returns the outcome of the last config load.
func (r *Recorder) Reload() ReloadStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.reload
}

// Location returns the location label in use.
func (r *Recorder) Location() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.location
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// seriesState is the recent history of one series, bounded: a strip of the
// last historyLen runs in brief, and in full only the last run and the last
// failure.
type seriesState struct {
	key         probes.SeriesKey
	journey     *probes.Journey
	strip       [historyLen]RunSummary
	n           int // runs recorded, total
	last        *probes.Result
	lastFailure *probes.Result
	lastSuccess time.Time
	failures    uint64
	skipped     uint64
}

// RunSummary is one run in brief, for the strip.
type RunSummary struct {
	Start      time.Time      `json:"start"`
	Duration   float64        `json:"duration_seconds"`
	Outcome    probes.Outcome `json:"outcome"`
	Reason     probes.Reason  `json:"reason,omitempty"`
	FailedStep string         `json:"failed_step,omitempty"`
}

func (s *seriesState) add(res probes.Result) {
	s.strip[s.n%historyLen] = RunSummary{Start: res.Start, Duration: res.Duration.Seconds(), Outcome: res.Outcome, Reason: res.Reason, FailedStep: res.FailedStep}
	s.n++
	r := res
	s.last = &r
	if res.Outcome == probes.OutcomeSuccess {
		s.lastSuccess = res.Start.Add(res.Duration)
	} else {
		s.lastFailure = &r
		s.failures++
	}
}

// history returns the strip oldest first.
func (s *seriesState) history() []RunSummary {
	n := min(s.n, historyLen)
	out := make([]RunSummary, 0, n)
	for i := s.n - n; i < s.n; i++ {
		out = append(out, s.strip[i%historyLen])
	}
	return out
}

// SeriesStatus is one series as the status page and the API show it.
type SeriesStatus struct {
	Journey     string         `json:"journey"`
	Variant     string         `json:"variant,omitempty"`
	Target      string         `json:"target,omitempty"`
	Interval    float64        `json:"interval_seconds"`
	Objective   float64        `json:"objective_ratio"`
	Runs        int            `json:"runs"`
	Failures    uint64         `json:"failures"`
	Skipped     uint64         `json:"skipped"`
	LastSuccess *time.Time     `json:"last_success,omitempty"`
	Last        *probes.Result `json:"last,omitempty"`
	LastFailure *probes.Result `json:"last_failure,omitempty"`
	History     []RunSummary   `json:"history"`
	Steps       []string       `json:"steps"`
	State       string         `json:"state"` // pending, ok, failing, error
	Reason      probes.Reason  `json:"reason,omitempty"`
	Outcome     probes.Outcome `json:"outcome,omitempty"`
}

// Snapshot returns every series sorted by journey, variant and target.
func (r *Recorder) Snapshot() []SeriesStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]SeriesStatus, 0, len(r.series))
	for _, s := range r.series {
		st := SeriesStatus{
			Journey: s.key.Journey, Variant: s.key.Variant, Target: s.key.Target,
			Interval: s.journey.Interval.Seconds(), Objective: s.journey.Objective,
			Runs: s.n, Failures: s.failures, Skipped: s.skipped,
			Last: s.last, LastFailure: s.lastFailure, History: s.history(), State: "pending",
		}
		for _, step := range s.journey.Steps {
			st.Steps = append(st.Steps, step.Name)
		}
		if !s.lastSuccess.IsZero() {
			t := s.lastSuccess
			st.LastSuccess = &t
		}
		if s.last != nil {
			st.Outcome, st.Reason = s.last.Outcome, s.last.Reason
			switch s.last.Outcome {
			case probes.OutcomeSuccess:
				st.State = "ok"
			case probes.OutcomeFailure:
				st.State = "failing"
			default:
				st.State = "error"
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Journey != b.Journey {
			return a.Journey < b.Journey
		}
		if a.Variant != b.Variant {
			return a.Variant < b.Variant
		}
		return a.Target < b.Target
	})
	return out
}
