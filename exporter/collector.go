package exporter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/authprobe/authprobe/probes"
)

// The counters and gauges of every series are produced when /metrics is
// scraped, from the plain numbers in seriesState: by the collector below
// for client_golang's registry (the protobuf format), and by the page
// writer (exposition.go) for the text formats. Both read them through
// seriesState.each. Label pairs are built once (per series, per reason,
// per location) and shared by every metric and every scrape;
// client_golang treats collected label pairs as immutable.

// family is a metric family of the journey series.
type family struct {
	name, help string
	typ        dto.MetricType
	desc       *prometheus.Desc
}

func newFamily(name, help string, typ dto.MetricType, labels ...string) *family {
	return &family{name: name, help: help, typ: typ, desc: prometheus.NewDesc(name, help, labels, nil)}
}

var (
	seriesLabels   = []string{"journey", "location", "variant", "target"}
	durationBucket = [...]float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}

	counter, gauge, histogramType = dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM

	runsFamily = newFamily("authprobe_journey_runs_total",
		"Journey runs by outcome (success, failure: the target failed the user, error: authprobe failed) and reason.",
		counter, append(seriesLabels, "outcome", "reason")...)
	successFamily = newFamily("authprobe_journey_success",
		"1 if the last run succeeded, else 0.", gauge, seriesLabels...)
	lastRunFamily = newFamily("authprobe_journey_last_run_timestamp_seconds",
		"When the last run ended, as a Unix timestamp.", gauge, seriesLabels...)
	lastSuccessFamily = newFamily("authprobe_journey_last_success_timestamp_seconds",
		"When the last successful run ended, as a Unix timestamp.", gauge, seriesLabels...)
	skippedFamily = newFamily("authprobe_runs_skipped_total",
		"Due runs that did not start: overlap (the previous run was still going), concurrency (max_concurrency reached) or backoff (the series' credentials were refused; see global.lockout_protection).",
		counter, append(seriesLabels, "cause")...)
	tlsExpiryFamily = newFamily("authprobe_tls_cert_expiry_timestamp_seconds",
		"Earliest expiry of the certificates a step's server presented, as a Unix timestamp.", gauge, append(seriesLabels, "step")...)
	tokenExpiryFamily = newFamily("authprobe_token_expiry_timestamp_seconds",
		"The exp of the token a jwt step validated, as a Unix timestamp.", gauge, append(seriesLabels, "step")...)
	jwksKeysFamily = newFamily("authprobe_jwks_keys",
		"Keys in the key set a jwt step fetched.", gauge, append(seriesLabels, "step")...)
	jwksChangeFamily = newFamily("authprobe_jwks_last_change_timestamp_seconds",
		"When the key set a jwt step fetched last changed (first seen counts), as a Unix timestamp.", gauge, append(seriesLabels, "step")...)
	jwksInfoFamily = newFamily("authprobe_jwks_info",
		"The fingerprint of the key set a jwt step fetched, per target: differing fingerprints across replicas are key drift.",
		gauge, append(seriesLabels, "step", "fingerprint")...)
	// seriesFamilies are the counters and gauges of a series, in the
	// order the page lists them.
	seriesFamilies = []*family{runsFamily, skippedFamily, successFamily, lastRunFamily, lastSuccessFamily,
		tlsExpiryFamily, tokenExpiryFamily, jwksKeysFamily, jwksChangeFamily, jwksInfoFamily}

	objectiveFamily = newFamily("authprobe_journey_slo_objective_ratio",
		"The journey's objective as a ratio (0.995 for 99.5%).", gauge, "journey", "location")
	intervalFamily = newFamily("authprobe_journey_interval_seconds",
		"How often the journey runs: its configured interval, or while a series of it backs off after refused credentials, the longest pause between that series' runs.", gauge, "journey", "location")

	// Journey durations are client_golang's histograms too (for the
	// native buckets of the protobuf format); step durations are the
	// recorder's only (histogram.go).
	durationFamily = newFamily("authprobe_journey_duration_seconds",
		"Duration of journey runs, all steps together; exemplars carry trace_id.", histogramType, seriesLabels...)
	stepDurationFamily = newFamily("authprobe_step_duration_seconds",
		"Duration of each step, retries included.", histogramType, append(seriesLabels, "step")...)
)

// Counts of runs are kept by reason index: probes.Reasons in order, then
// success.
const (
	numCounts    = len(probes.Reasons) + 1
	successIndex = numCounts - 1
)

var (
	reasonIndexes = func() map[probes.Reason]int {
		m := map[probes.Reason]int{}
		for i, r := range probes.Reasons {
			m[r.Reason] = i
		}
		return m
	}()
	// outcomePairs and reasonPairs are the outcome and reason labels of
	// each count.
	outcomePairs, reasonPairs = func() (o, r [numCounts]*dto.LabelPair) {
		for i, x := range probes.Reasons {
			o[i], r[i] = labelPair("outcome", string(x.Reason.Outcome())), labelPair("reason", string(x.Reason))
		}
		o[successIndex], r[successIndex] = labelPair("outcome", string(probes.OutcomeSuccess)), labelPair("reason", "")
		return o, r
	}()
	causePairs = [numCauses]*dto.LabelPair{labelPair("cause", probes.SkipOverlap), labelPair("cause", probes.SkipConcurrency), labelPair("cause", probes.SkipBackoff)}
	outcomes   = []probes.Outcome{probes.OutcomeSuccess, probes.OutcomeFailure, probes.OutcomeError}
)

// numCauses is the number of skip causes, in causePairs' order.
const numCauses = 3

// causeIndex returns where a skip cause is counted.
func causeIndex(cause string) int {
	switch cause {
	case probes.SkipOverlap:
		return 0
	case probes.SkipConcurrency:
		return 1
	}
	return 2
}

// reasonIndex returns where a reason is counted. A reason outside the
// closed set is a bug in a step kind; it counts as internal.
func reasonIndex(r probes.Reason) int {
	if i, ok := reasonIndexes[r]; ok {
		return i
	}
	return reasonIndexes[probes.ReasonInternal]
}

func outcomeIndex(o probes.Outcome) uint8 {
	for i, x := range outcomes {
		if x == o {
			return uint8(i)
		}
	}
	return 2
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

// labels are the label pairs of one sample, sorted by name, held by value
// so that listing samples allocates nothing.
type labels struct {
	pairs [7]*dto.LabelPair
	n     int
}

func labelsOf(p ...*dto.LabelPair) (l labels) {
	l.n = copy(l.pairs[:], p)
	return l
}

func (l *labels) list() []*dto.LabelPair { return l.pairs[:l.n] }

// sample is one counter or gauge value with its labels, sorted by name.
type sample struct {
	desc    *prometheus.Desc
	counter bool
	value   float64
	labels  []*dto.LabelPair
}

func (m *sample) Desc() *prometheus.Desc { return m.desc }

func (m *sample) Write(out *dto.Metric) error {
	out.Label = m.labels
	if m.counter {
		out.Counter = &dto.Counter{Value: proto.Float64(m.value)}
	} else {
		out.Gauge = &dto.Gauge{Value: proto.Float64(m.value)}
	}
	return nil
}

// collector turns the recorder's series into counters and gauges for
// client_golang's registry; /metrics uses it for the protobuf format.
type collector struct{ r *Recorder }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range append(seriesFamilies, objectiveFamily, intervalFamily, stepDurationFamily) {
		ch <- f.desc
	}
}

// collectChunk is how many series Collect turns into metrics, and the
// page writer into lines, per hold of the recorder's lock.
const collectChunk = 256

// Collect sends the counters and gauges of every series. It holds the
// recorder's lock only while it builds a chunk of them, never while it
// sends: the registry takes them from the channel as fast as it can check
// and encode them, which for a large page takes seconds, and runs
// recording their results and the scheduler counting skips must not wait
// that long (measured: the scheduler stood still for each scrape of
// 100,000 journeys). A series added during a scrape appears on the next
// one; one removed during it may appear on this one for the last time.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	var out []prometheus.Metric
	r.mu.RLock()
	backedOff := r.backedOff()
	for _, js := range r.journeys {
		if js.j == nil {
			continue
		}
		l := []*dto.LabelPair{js.jobPair, r.locPair}
		out = append(out,
			&sample{desc: objectiveFamily.desc, value: js.j.Objective, labels: l},
			&sample{desc: intervalFamily.desc, value: max(js.j.Interval, backedOff[js.j.Name]).Seconds(), labels: l})
	}
	r.mu.RUnlock()
	all := r.sortedSeries()
	for {
		for _, m := range out {
			ch <- m
		}
		if len(all) == 0 {
			return
		}
		n := min(len(all), collectChunk)
		out = out[:0]
		r.mu.RLock()
		for _, s := range all[:n] {
			if s.removed {
				continue
			}
			for _, f := range seriesFamilies {
				s.each(f, r.locPair, func(v float64, l labels) {
					out = append(out, &sample{desc: f.desc, counter: f.typ == counter, value: v,
						labels: append([]*dto.LabelPair(nil), l.list()...)})
				})
			}
			for _, h := range s.stepHists {
				out = append(out, h.h.metric(stepDurationFamily.desc, s.key.Journey, r.locPair.GetValue(), s.key.Variant, s.key.Target, h.stepPair.GetValue()))
			}
		}
		r.mu.RUnlock()
		all = all[n:]
	}
}

// backedOff returns, per journey with a series backing off after refused
// credentials, the longest pause of its series. The interval exported is
// that pause, so that staleness rules (AuthProberStalled: no run for 3
// intervals) do not take the backoff for a stall. The caller holds the
// recorder's lock.
func (r *Recorder) backedOff() map[string]time.Duration {
	if len(r.backingOff) == 0 {
		return nil
	}
	out := map[string]time.Duration{}
	for _, s := range r.backingOff {
		out[s.key.Journey] = max(out[s.key.Journey], s.backoff.Interval)
	}
	return out
}

// each calls emit with the value and labels of every sample of f (one of
// seriesFamilies) the series has. The caller holds the recorder's lock.
func (s *seriesState) each(f *family, loc *dto.LabelPair, emit func(float64, labels)) {
	job, target, variant := s.jobPair, s.targetPair, s.variantPair
	switch f {
	case runsFamily:
		for i := range numCounts {
			if s.runs[i] != 0 || s.precreated[i] {
				emit(float64(s.runs[i]), labelsOf(job, loc, outcomePairs[i], reasonPairs[i], target, variant))
			}
		}
		return
	case skippedFamily:
		for i, cause := range causePairs {
			emit(float64(s.skipped[i]), labelsOf(cause, job, loc, target, variant))
		}
		return
	}
	if !s.ran {
		return
	}
	switch f {
	case successFamily:
		success := 0.0
		if s.success {
			success = 1
		}
		emit(success, labelsOf(job, loc, target, variant))
	case lastRunFamily:
		emit(s.lastRun, labelsOf(job, loc, target, variant))
	case lastSuccessFamily:
		if s.lastOK != 0 {
			emit(s.lastOK, labelsOf(job, loc, target, variant))
		}
	default:
		for _, g := range s.stepOrder {
			var v float64
			switch f {
			case tlsExpiryFamily:
				v = g.certExpiry
			case tokenExpiryFamily:
				v = g.tokenExpiry
			case jwksKeysFamily:
				v = g.jwksKeys
			case jwksChangeFamily:
				if g.fpSeen {
					v = g.changed
				}
			case jwksInfoFamily:
				if g.fpSeen {
					emit(1, labelsOf(g.fpPair, job, loc, g.stepPair, target, variant))
				}
				continue
			}
			if v != 0 {
				emit(v, labelsOf(job, loc, g.stepPair, target, variant))
			}
		}
	}
}
