// Package exporter turns run results into what people and Prometheus read:
// the metrics of DESIGN.md, the status page, the JSON API, and the HTTP
// server with health, readiness and reload endpoints.
package exporter

import (
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

// historyLen is how many runs per series the status page's strip shows.
const historyLen = 20

// Recorder keeps the metrics and the recent history of every series.
//
// Histograms are client_golang's (native buckets, exemplars). Counters and
// gauges of a series live as plain numbers in its seriesState and become
// metrics when scraped (collector.go): client_golang would keep a child
// with its own label pairs for each of the dozen runs_total label sets a
// journey creates at start-up, which was most of authprobe's memory.
type Recorder struct {
	// reg holds every metric; base every metric but the journey series',
	// which the text formats' page writes itself (exposition.go).
	reg, base *prometheus.Registry

	duration   *prometheus.HistogramVec
	navigation *prometheus.HistogramVec
	artifacts  *artifactStore
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	lateness   prometheus.Histogram
	shardInfo  *prometheus.GaugeVec

	mu       sync.RWMutex
	location string
	locPair  *dto.LabelPair
	shard    config.Shard
	series   map[probes.SeriesKey]*seriesState
	// sorted is every series sorted by key, for /metrics; nil when a series
	// was added or removed since it was last built.
	sorted   []*seriesState
	journeys map[string]*journeyState
	// backingOff are the series backing off after refused credentials.
	backingOff map[probes.SeriesKey]*seriesState
	reload     ReloadStatus
}

type journeyState struct {
	j       *probes.Journey
	series  int
	jobPair *dto.LabelPair // journey="..."
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

// A RecorderOption changes what NewRecorder creates.
type RecorderOption func(*recorderOptions)

type recorderOptions struct {
	revision string
}

// WithRevision sets the revision label of authprobe_build_info: the commit
// the binary was built from, as in Prometheus' own prometheus_build_info.
func WithRevision(revision string) RecorderOption {
	return func(o *recorderOptions) { o.revision = revision }
}

// NewRecorder creates the metrics in a fresh registry. version, the
// revision (WithRevision) and the Go version are the labels of
// authprobe_build_info.
func NewRecorder(version string, opts ...RecorderOption) *Recorder {
	var o recorderOptions
	for _, opt := range opts {
		opt(&o)
	}
	r := &Recorder{
		reg:      prometheus.NewRegistry(),
		base:     prometheus.NewRegistry(),
		series:   map[probes.SeriesKey]*seriesState{},
		journeys: map[string]*journeyState{},
		locPair:  labelPair("location", ""),
	}
	r.duration = histogram(durationFamily, seriesLabels...)
	r.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "authprobe_config_last_reload_successful", Help: "1 if the last config load succeeded, else 0."})
	r.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "authprobe_config_last_reload_success_timestamp_seconds", Help: "When a config was last loaded successfully, as a Unix timestamp."})
	r.navigation = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authprobe_browser_navigation_seconds",
		Help:    "Navigation timing of pages a browser step loaded, by phase (ttfb, dom_content_loaded, load), from the start of the navigation.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30},
	}, append(append([]string(nil), seriesLabels...), "step", "phase"))
	r.artifacts = newArtifactStore(artifactsPerJourney, artifactBytes)
	r.lateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "authprobe_scheduler_start_lateness_seconds",
		Help:    "How late runs started after their scheduled time.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "authprobe_build_info", Help: "Build information: the version, the commit (revision) and the Go version; always 1."}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(version, o.revision, runtime.Version()).Set(1)
	r.shardInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authprobe_shard_info",
		Help: "The shard of the config this process runs, index of total (0 of 1: all of it); always 1.",
	}, []string{"index", "total"})
	r.shardInfo.WithLabelValues("0", "1").Set(1)
	r.reg.MustRegister(r.duration, collector{r})
	r.MustRegister(r.navigation, r.reloadOK, r.reloadTime, r.lateness, buildInfo, r.shardInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// MustRegister adds metrics beyond the journey series to /metrics.
func (r *Recorder) MustRegister(cs ...prometheus.Collector) {
	r.reg.MustRegister(cs...)
	r.base.MustRegister(cs...)
}

// nativeBuckets bounds the native buckets of a journey's duration
// histogram. Each bucket costs about 100 bytes twice over (client_golang
// keeps a hot and a cold copy); at factor 1.1 a target's spread of
// durations (milliseconds to seconds) fills 80-100 of them within hours,
// 20 KiB a histogram, which for a big config was most of authprobe's
// memory (bench/README.md, "Memory over time"). At the limit client_golang
// halves the resolution (or, an hour after the last reset, starts again),
// so 40 keeps factor 1.1 for a spread of 40x and about 1.2 for 1,000x.
const nativeBuckets = 40

// histogram creates the journey duration histogram: classic buckets and
// native ones with exemplars. (Step durations are classic only, kept by
// the recorder: the dashboards read their classic buckets, and native ones
// would double the memory of every series for no panel.)
func histogram(f *family, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: f.name, Help: f.help,
		Buckets:                         durationBucket[:],
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  nativeBuckets,
		NativeHistogramMinResetDuration: time.Hour,
		NativeHistogramMaxExemplars:     10,
		NativeHistogramExemplarTTL:      10 * time.Minute,
	}, labels)
}

// Registry gathers every metric: /metrics serves it as protobuf, and the
// text formats through the page writer, which say the same. Metrics are
// added with MustRegister, which the page writer sees too.
func (r *Recorder) Registry() prometheus.Gatherer { return r.reg }

// SetLocation sets the location label. Changing it replaces every series.
func (r *Recorder) SetLocation(loc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if loc == r.location {
		return
	}
	old := r.location
	r.location = loc
	r.locPair = labelPair("location", loc)
	// Counters and gauges follow locPair; histograms are renamed by hand
	// and, like a restart, start again from 0 (from "" too: a reload that
	// adds global.location must not leave the old series behind).
	for _, v := range []*prometheus.HistogramVec{r.duration, r.navigation} {
		v.DeletePartialMatch(prometheus.Labels{"location": old})
	}
	for _, s := range r.series {
		s.reset()
		r.initHistograms(s)
	}
}

// SetShard sets the shard exported in authprobe_shard_info and shown on
// the status page. Journey series carry no shard label: the scheduler
// creates only the series the shard owns, with the labels they would have
// unsharded.
func (r *Recorder) SetShard(s config.Shard) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shard = s
	r.shardInfo.Reset()
	r.shardInfo.WithLabelValues(strconv.Itoa(s.Index), strconv.Itoa(s.Count())).Set(1)
}

// Shard returns the shard in use.
func (r *Recorder) Shard() config.Shard {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.shard
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
		js := r.journeys[key.Journey]
		if js == nil {
			js = &journeyState{jobPair: labelPair("journey", key.Journey)}
			r.journeys[key.Journey] = js
		}
		if !exists {
			s = newSeriesState(key, js.jobPair)
			r.series[key] = s
			r.sorted = nil
			js.series++
		}
		if s.journey != nil && s.journey != j {
			r.dropRemovedSteps(s, j)
		}
		s.journey = j
		s.precreate(j)
		js.j = j
		r.initHistograms(s)
		return
	}
	if !exists {
		return
	}
	s.removed = true
	delete(r.series, key)
	r.sorted = nil
	delete(r.backingOff, key)
	for _, v := range []*prometheus.HistogramVec{r.duration, r.navigation} {
		v.DeletePartialMatch(prometheus.Labels{"journey": key.Journey, "variant": key.Variant, "target": key.Target})
	}
	r.artifacts.drop(key)
	if js := r.journeys[key.Journey]; js != nil {
		if js.series--; js.series == 0 {
			delete(r.journeys, key.Journey)
		}
	}
}

// dropRemovedSteps deletes the step series of steps a changed journey no
// longer has: a frozen certificate expiry of a step that is gone would
// otherwise page one day.
func (r *Recorder) dropRemovedSteps(s *seriesState, cur *probes.Journey) {
	keep := stepLabels(cur)
	for _, st := range s.journey.Steps {
		if !keep[st.Name] {
			if g := s.steps[st.Name]; g != nil {
				delete(s.steps, st.Name)
				s.stepOrder = slices.DeleteFunc(s.stepOrder, func(x *stepGauges) bool { return x == g })
			}
		}
		for _, a := range st.ActionLabels() {
			if name := st.Name + "/" + a; !keep[name] {
				r.navigation.DeletePartialMatch(prometheus.Labels{"journey": s.key.Journey, "variant": s.key.Variant, "target": s.key.Target, "step": name})
			}
		}
	}
}

// stepLabels are the step label values of j's series: its steps and their
// actions ("login/1:navigate").
func stepLabels(j *probes.Journey) map[string]bool {
	labels := map[string]bool{}
	for _, st := range j.Steps {
		labels[st.Name] = true
		for _, a := range st.ActionLabels() {
			labels[st.Name+"/"+a] = true
		}
	}
	return labels
}

// navigationPhases are the phase label values of
// authprobe_browser_navigation_seconds.
var navigationPhases = []string{"ttfb", "dom_content_loaded", "load"}

// initHistograms creates the histograms of a series at 0: the journey's
// in client_golang, the steps' (and browser actions') in the series, in
// the order of the journey's steps. A step the journey keeps keeps its
// counts; one it no longer has is dropped.
func (r *Recorder) initHistograms(s *seriesState) {
	key := s.key
	l := []string{key.Journey, r.location, key.Variant, key.Target}
	r.duration.WithLabelValues(l...)
	var hists []stepHistogram
	step := func(name string) {
		i := slices.IndexFunc(s.stepHists, func(h stepHistogram) bool { return h.stepPair.GetValue() == name })
		if i >= 0 {
			hists = append(hists, s.stepHists[i])
		} else {
			hists = append(hists, stepHistogram{labelPair("step", name), &classic{}})
		}
	}
	for _, st := range s.journey.Steps {
		step(st.Name)
		for _, a := range st.ActionLabels() {
			step(st.Name + "/" + a)
			if strings.HasSuffix(a, ":navigate") {
				for _, ph := range navigationPhases {
					r.navigation.WithLabelValues(append(l, st.Name+"/"+a, ph)...)
				}
			}
		}
	}
	s.stepHists = hists
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
	now := time.Now()
	observe(r.duration.WithLabelValues(l...), res.Duration.Seconds(), res.TraceID)
	s.durations.observe(res.Duration.Seconds(), res.TraceID, now)
	for _, st := range res.Steps {
		h := s.stepHistogram(st.Name)
		if st.Skipped || h == nil {
			continue
		}
		h.observe(st.Duration.Seconds(), res.TraceID, now)
		for _, a := range st.Actions {
			name := st.Name + "/" + a.Name
			h := s.stepHistogram(name)
			if h == nil {
				// A run of the journey before a reload: an action the
				// journey no longer has gets no series back.
				continue
			}
			h.observe(a.Duration.Seconds(), res.TraceID, now)
			for _, ph := range []struct {
				phase string
				v     float64
			}{{navigationPhases[0], a.TTFB}, {navigationPhases[1], a.DOMContentLoaded}, {navigationPhases[2], a.Load}} {
				if ph.v > 0 {
					r.navigation.WithLabelValues(append(l, name, ph.phase)...).Observe(ph.v)
				}
			}
		}
	}
	if !res.Scheduled.IsZero() {
		r.lateness.Observe(max(0, res.Start.Sub(res.Scheduled).Seconds()))
	}
	if res.Artifact != nil {
		// The store keeps the evidence, bounded; the history keeps its id.
		res.ArtifactID = r.artifacts.add(res)
		res.Artifact = nil
	}
	if res.Outcome == probes.OutcomeSuccess {
		// A success ends a backoff; the scheduler says so right after,
		// and the page must not show both meanwhile.
		r.setBackoff(s, probes.Backoff{})
	}
	s.add(res)
}

// stepHistogram returns the duration histogram of a step or browser
// action the series' journey has, or nil.
func (s *seriesState) stepHistogram(name string) *classic {
	for _, h := range s.stepHists {
		if h.stepPair.GetValue() == name {
			return h.h
		}
	}
	return nil
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
		s.skip(cause)
	}
}

// Backoff records that a series backs off after refused credentials, or
// that it stopped (a zero b); it is the scheduler's OnBackoff.
func (r *Recorder) Backoff(_ *probes.Journey, key probes.SeriesKey, b probes.Backoff) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.series[key]; ok {
		r.setBackoff(s, b)
	}
}

// setBackoff sets a series' backoff and keeps the set of series backing
// off, which the interval metric reads on every scrape. It holds r.mu.
func (r *Recorder) setBackoff(s *seriesState, b probes.Backoff) {
	s.backoff = b
	if b.Until.IsZero() {
		delete(r.backingOff, s.key)
		return
	}
	if r.backingOff == nil {
		r.backingOff = map[probes.SeriesKey]*seriesState{}
	}
	r.backingOff[s.key] = s
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

// seriesState is one series: its counters and gauges, and its recent
// history, bounded: a strip of the last historyLen runs in brief, and in
// full only the last run and the last failure.
type seriesState struct {
	key     probes.SeriesKey
	journey *probes.Journey

	// labels shared by every metric of the series, built once.
	jobPair, variantPair, targetPair *dto.LabelPair

	removed bool // deleted from the recorder; a scrape may still hold it

	// durations and stepHists are the series' classic duration
	// histograms, steps in the journey's order (histogram.go).
	durations classic
	stepHists []stepHistogram

	runs       [numCounts]uint64 // by reasonIndex; success last
	precreated [numCounts]bool   // label sets that exist before they count
	skipped    [numCauses]uint64 // by causeIndex
	backoff    probes.Backoff    // the zero value when not backing off
	ran        bool
	success    bool
	lastRun    float64
	lastOK     float64
	steps      map[string]*stepGauges
	stepOrder  []*stepGauges // steps' gauges in the order they first reported

	strip       [historyLen]stripEntry
	n           int // runs recorded, total
	last        *probes.Result
	lastFailure *probes.Result
	failures    uint64
	skips       uint64
}

// stripEntry is one run in brief; 32 bytes, so the strip stays small.
type stripEntry struct {
	start      int64 // Unix nanoseconds
	duration   float32
	outcome    uint8
	reason     uint8 // reasonIndex
	failedStep string
}

func newSeriesState(key probes.SeriesKey, jobPair *dto.LabelPair) *seriesState {
	return &seriesState{key: key, jobPair: jobPair,
		variantPair: labelPair("variant", key.Variant), targetPair: labelPair("target", key.Target)}
}

// precreate marks the runs_total label sets a journey can produce, so they
// exist at 0 from start-up.
func (s *seriesState) precreate(j *probes.Journey) {
	s.precreated[successIndex] = true
	for _, reason := range j.Reasons {
		s.precreated[reasonIndex(reason)] = true
	}
}

// reset starts the counters again, as a restart would, for series that
// are new under another location; the gauges and the history stay true.
func (s *seriesState) reset() {
	s.runs = [numCounts]uint64{}
	s.skipped = [numCauses]uint64{}
	s.durations = classic{}
	for _, h := range s.stepHists {
		*h.h = classic{}
	}
}

func (s *seriesState) skip(cause string) {
	s.skips++
	s.skipped[causeIndex(cause)]++
}

func (s *seriesState) add(res probes.Result) {
	end := float64(res.Start.Add(res.Duration).UnixNano()) / 1e9
	idx := successIndex
	if res.Outcome != probes.OutcomeSuccess {
		idx = reasonIndex(res.Reason)
	}
	s.runs[idx]++
	s.ran, s.success, s.lastRun = true, res.Outcome == probes.OutcomeSuccess, end
	// What the token steps report holds for this run only: a step that did
	// not run (an earlier step failed) must not leave its last token expiry
	// or key-set fingerprint behind to look current. A certificate's expiry
	// stays: a failing handshake reports none, and that is when it matters.
	for _, g := range s.steps {
		g.tokenExpiry, g.jwksKeys, g.fpSeen = 0, 0, false
	}
	for _, g := range res.Gauges {
		s.gauge(g, end)
	}
	s.strip[s.n%historyLen] = stripEntry{start: res.Start.UnixNano(), duration: float32(res.Duration.Seconds()),
		outcome: outcomeIndex(res.Outcome), reason: uint8(idx), failedStep: res.FailedStep}
	s.n++
	r := res
	s.last = &r
	if s.success {
		s.lastOK = end
	} else {
		s.lastFailure = &r
		s.failures++
	}
}

// stepHistogram is a step's (or a browser action's) duration histogram.
type stepHistogram struct {
	stepPair *dto.LabelPair
	h        *classic
}

// stepGauges are the last values a step observed; 0 means not observed.
type stepGauges struct {
	stepPair    *dto.LabelPair
	certExpiry  float64
	tokenExpiry float64
	jwksKeys    float64
	fingerprint string
	fpPair      *dto.LabelPair
	fpSeen      bool // the last run reported the fingerprint
	// changed is when the key set's fingerprint last changed; the first
	// fingerprint seen counts as a change at that time.
	changed float64
}

func (s *seriesState) gauge(g probes.StepGauge, at float64) {
	if s.steps == nil {
		s.steps = map[string]*stepGauges{}
	}
	sg := s.steps[g.Step]
	if sg == nil {
		sg = &stepGauges{stepPair: labelPair("step", g.Step)}
		s.steps[g.Step] = sg
		s.stepOrder = append(s.stepOrder, sg)
	}
	switch g.Name {
	case probes.GaugeTLSCertExpiry:
		sg.certExpiry = g.Value
	case probes.GaugeTokenExpiry:
		sg.tokenExpiry = g.Value
	case probes.GaugeJWKSKeys:
		sg.jwksKeys = g.Value
	case probes.GaugeJWKSFingerprint:
		sg.fpSeen = true
		if g.Label != sg.fingerprint {
			sg.fingerprint, sg.fpPair, sg.changed = g.Label, labelPair("fingerprint", g.Label), at
		}
	}
}

// RunSummary is one run in brief, for the strip.
type RunSummary struct {
	Start      time.Time      `json:"start"`
	Duration   float64        `json:"duration_seconds"`
	Outcome    probes.Outcome `json:"outcome"`
	Reason     probes.Reason  `json:"reason,omitempty"`
	FailedStep string         `json:"failed_step,omitempty"`
}

// history returns the strip oldest first.
func (s *seriesState) history() []RunSummary {
	n := min(s.n, historyLen)
	out := make([]RunSummary, 0, n)
	for i := s.n - n; i < s.n; i++ {
		e := s.strip[i%historyLen]
		rs := RunSummary{Start: time.Unix(0, e.start), Duration: float64(e.duration), Outcome: outcomes[e.outcome], FailedStep: e.failedStep}
		if int(e.reason) < len(probes.Reasons) {
			rs.Reason = probes.Reasons[e.reason].Reason
		}
		out = append(out, rs)
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
	// Artifacts are the ids of this series' kept failure evidence, newest first.
	Artifacts []uint64       `json:"artifacts,omitempty"`
	History   []RunSummary   `json:"history"`
	Steps     []string       `json:"steps"`
	State     string         `json:"state"` // pending, ok, failing, error
	Reason    probes.Reason  `json:"reason,omitempty"`
	Outcome   probes.Outcome `json:"outcome,omitempty"`
	// Backoff is set while the series backs off after refused credentials.
	Backoff *BackoffStatus `json:"backoff,omitempty"`
}

// BackoffStatus says that a series backs off so the identity provider does
// not lock its test account: it runs next at Until, Interval after its last
// run, after Failures runs were refused with Reason (invalid_credentials).
type BackoffStatus struct {
	Until    time.Time     `json:"until"`
	Interval float64       `json:"interval_seconds"`
	Failures int           `json:"failures"`
	Reason   probes.Reason `json:"reason"`
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
			Runs: s.n, Failures: s.failures, Skipped: s.skips,
			Last: s.last, LastFailure: s.lastFailure, History: s.history(), State: "pending",
		}
		for _, step := range s.journey.Steps {
			st.Steps = append(st.Steps, step.Name)
		}
		st.Artifacts = r.artifacts.ids(s.key)
		if s.lastOK != 0 {
			t := time.Unix(0, int64(s.lastOK*1e9))
			st.LastSuccess = &t
		}
		if b := s.backoff; !b.Until.IsZero() {
			st.Backoff = &BackoffStatus{Until: b.Until, Interval: b.Interval.Seconds(), Failures: b.Failures, Reason: probes.ReasonInvalidCredentials}
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
