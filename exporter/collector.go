package exporter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/authprobe/authprobe/probes"
)

// The counters and gauges of every series are produced when /metrics is
// scraped, from the plain numbers in seriesState. Label pairs are built
// once (per series, per reason, per location) and shared by every metric
// and every scrape; client_golang treats collected label pairs as
// immutable.

var (
	seriesLabels   = []string{"journey", "location", "variant", "target"}
	durationBucket = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}

	runsDesc = prometheus.NewDesc("authprobe_journey_runs_total",
		"Journey runs by outcome (success, failure: the target failed the user, error: authprobe failed) and reason.",
		append(seriesLabels, "outcome", "reason"), nil)
	successDesc = prometheus.NewDesc("authprobe_journey_success",
		"1 if the last run succeeded, else 0.", seriesLabels, nil)
	lastRunDesc = prometheus.NewDesc("authprobe_journey_last_run_timestamp_seconds",
		"When the last run ended, as a Unix timestamp.", seriesLabels, nil)
	lastSuccessDesc = prometheus.NewDesc("authprobe_journey_last_success_timestamp_seconds",
		"When the last successful run ended, as a Unix timestamp.", seriesLabels, nil)
	skippedDesc = prometheus.NewDesc("authprobe_runs_skipped_total",
		"Due runs that did not start: overlap (the previous run was still going), concurrency (max_concurrency reached) or backoff (the series' credentials were refused; see global.lockout_protection).",
		append(seriesLabels, "cause"), nil)
	tlsExpiryDesc = prometheus.NewDesc("authprobe_tls_cert_expiry_timestamp_seconds",
		"Earliest expiry of the certificates a step's server presented, as a Unix timestamp.", append(seriesLabels, "step"), nil)
	tokenExpiryDesc = prometheus.NewDesc("authprobe_token_expiry_timestamp_seconds",
		"The exp of the token a jwt step validated, as a Unix timestamp.", append(seriesLabels, "step"), nil)
	jwksKeysDesc = prometheus.NewDesc("authprobe_jwks_keys",
		"Keys in the key set a jwt step fetched.", append(seriesLabels, "step"), nil)
	jwksChangeDesc = prometheus.NewDesc("authprobe_jwks_last_change_timestamp_seconds",
		"When the key set a jwt step fetched last changed (first seen counts), as a Unix timestamp.", append(seriesLabels, "step"), nil)
	jwksInfoDesc = prometheus.NewDesc("authprobe_jwks_info",
		"The fingerprint of the key set a jwt step fetched, per target: differing fingerprints across replicas are key drift.",
		append(seriesLabels, "step", "fingerprint"), nil)
	objectiveDesc = prometheus.NewDesc("authprobe_journey_slo_objective_ratio",
		"The journey's objective as a ratio (0.995 for 99.5%).", []string{"journey", "location"}, nil)
	intervalDesc = prometheus.NewDesc("authprobe_journey_interval_seconds",
		"How often the journey runs: its configured interval, or while a series of it backs off after refused credentials, the longest pause between that series' runs.", []string{"journey", "location"}, nil)
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

// collector turns the recorder's series into counters and gauges.
type collector struct{ r *Recorder }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{runsDesc, successDesc, lastRunDesc, lastSuccessDesc, skippedDesc, tlsExpiryDesc,
		tokenExpiryDesc, jwksKeysDesc, jwksChangeDesc, jwksInfoDesc, objectiveDesc, intervalDesc} {
		ch <- d
	}
}

// collectChunk is how many series Collect turns into metrics per hold of
// the recorder's lock.
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
			&sample{desc: objectiveDesc, value: js.j.Objective, labels: l},
			&sample{desc: intervalDesc, value: max(js.j.Interval, backedOff[js.j.Name]).Seconds(), labels: l})
	}
	keys := make([]probes.SeriesKey, 0, len(r.series))
	for k := range r.series {
		keys = append(keys, k)
	}
	r.mu.RUnlock()
	for {
		for _, m := range out {
			ch <- m
		}
		if len(keys) == 0 {
			return
		}
		n := min(len(keys), collectChunk)
		out = out[:0]
		r.mu.RLock()
		for _, k := range keys[:n] {
			if s := r.series[k]; s != nil {
				out = s.collect(out, r.locPair)
			}
		}
		r.mu.RUnlock()
		keys = keys[n:]
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

// collect appends the series' counters and gauges to out. The caller
// holds the recorder's lock.
func (s *seriesState) collect(out []prometheus.Metric, loc *dto.LabelPair) []prometheus.Metric {
	// journey, location, [outcome, reason | cause | step,] target, variant
	base := [4]*dto.LabelPair{s.jobPair, loc, s.targetPair, s.variantPair}
	for i := range numCounts {
		if s.runs[i] == 0 && !s.precreated[i] {
			continue
		}
		out = append(out, &sample{desc: runsDesc, counter: true, value: float64(s.runs[i]),
			labels: []*dto.LabelPair{base[0], base[1], outcomePairs[i], reasonPairs[i], base[2], base[3]}})
	}
	for i, cause := range causePairs {
		out = append(out, &sample{desc: skippedDesc, counter: true, value: float64(s.skipped[i]),
			labels: []*dto.LabelPair{cause, base[0], base[1], base[2], base[3]}})
	}
	if !s.ran {
		return out
	}
	success := 0.0
	if s.success {
		success = 1
	}
	out = append(out,
		&sample{desc: successDesc, value: success, labels: base[:]},
		&sample{desc: lastRunDesc, value: s.lastRun, labels: base[:]})
	if s.lastOK != 0 {
		out = append(out, &sample{desc: lastSuccessDesc, value: s.lastOK, labels: base[:]})
	}
	for _, g := range s.steps {
		l := []*dto.LabelPair{base[0], base[1], g.stepPair, base[2], base[3]}
		for _, v := range []struct {
			desc  *prometheus.Desc
			value float64
		}{{tlsExpiryDesc, g.certExpiry}, {tokenExpiryDesc, g.tokenExpiry}, {jwksKeysDesc, g.jwksKeys}} {
			if v.value != 0 {
				out = append(out, &sample{desc: v.desc, value: v.value, labels: l})
			}
		}
		if g.fpSeen {
			out = append(out,
				&sample{desc: jwksChangeDesc, value: g.changed, labels: l},
				&sample{desc: jwksInfoDesc, value: 1, labels: []*dto.LabelPair{g.fpPair, base[0], base[1], g.stepPair, base[2], base[3]}})
		}
	}
	return out
}
