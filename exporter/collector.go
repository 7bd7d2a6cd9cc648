package exporter

import (
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
		"Due runs that did not start: overlap (the previous run was still going) or concurrency (max_concurrency reached).",
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
		"How often the journey is configured to run.", []string{"journey", "location"}, nil)
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
	causePairs = [2]*dto.LabelPair{labelPair("cause", probes.SkipOverlap), labelPair("cause", probes.SkipConcurrency)}
	outcomes   = []probes.Outcome{probes.OutcomeSuccess, probes.OutcomeFailure, probes.OutcomeError}
)

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

func (c collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.RLock()
	defer r.mu.RUnlock()
	loc := r.locPair
	for _, js := range r.journeys {
		if js.j == nil {
			continue
		}
		l := []*dto.LabelPair{js.jobPair, loc}
		ch <- &sample{desc: objectiveDesc, value: js.j.Objective, labels: l}
		ch <- &sample{desc: intervalDesc, value: js.j.Interval.Seconds(), labels: l}
	}
	for _, s := range r.series {
		// journey, location, [outcome, reason | cause | step,] target, variant
		base := [4]*dto.LabelPair{s.jobPair, loc, s.targetPair, s.variantPair}
		for i := range numCounts {
			if s.runs[i] == 0 && !s.precreated[i] {
				continue
			}
			ch <- &sample{desc: runsDesc, counter: true, value: float64(s.runs[i]),
				labels: []*dto.LabelPair{base[0], base[1], outcomePairs[i], reasonPairs[i], base[2], base[3]}}
		}
		for i, cause := range causePairs {
			ch <- &sample{desc: skippedDesc, counter: true, value: float64(s.skipped[i]),
				labels: []*dto.LabelPair{cause, base[0], base[1], base[2], base[3]}}
		}
		if !s.ran {
			continue
		}
		success := 0.0
		if s.success {
			success = 1
		}
		ch <- &sample{desc: successDesc, value: success, labels: base[:]}
		ch <- &sample{desc: lastRunDesc, value: s.lastRun, labels: base[:]}
		if s.lastOK != 0 {
			ch <- &sample{desc: lastSuccessDesc, value: s.lastOK, labels: base[:]}
		}
		for _, g := range s.steps {
			l := []*dto.LabelPair{base[0], base[1], g.stepPair, base[2], base[3]}
			for _, v := range []struct {
				desc  *prometheus.Desc
				value float64
			}{{tlsExpiryDesc, g.certExpiry}, {tokenExpiryDesc, g.tokenExpiry}, {jwksKeysDesc, g.jwksKeys}} {
				if v.value != 0 {
					ch <- &sample{desc: v.desc, value: v.value, labels: l}
				}
			}
			if g.fpSeen {
				ch <- &sample{desc: jwksChangeDesc, value: g.changed, labels: l}
				ch <- &sample{desc: jwksInfoDesc, value: 1, labels: []*dto.LabelPair{g.fpPair, base[0], base[1], g.stepPair, base[2], base[3]}}
			}
		}
	}
}
