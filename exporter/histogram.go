package exporter

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// classic is a duration histogram's classic buckets as the recorder keeps
// them: counts per bucket (+Inf last, not cumulative), the sum, and the
// last exemplar of each bucket, as client_golang keeps them. Step
// durations live only here; journey durations live here for the text
// formats' page and in client_golang's histogram for the native buckets of
// the protobuf format (exposition_test.go checks that both agree). Reading
// a client_golang histogram means building its protobuf message: a third
// of a scrape of 10,000 journeys. One difference: when a journey's
// native buckets outgrow nativeBuckets an hour or more after the last
// reset, client_golang starts its histogram again from 0, classic buckets
// included, so the protobuf format shows a counter reset the text formats
// do not; rate() and increase() read both the same.
type classic struct {
	counts    [len(durationBucket) + 1]uint64
	sum       float64
	exemplars [len(durationBucket) + 1]exemplar
}

// exemplar is a trace id seen with a value; zero when none was.
type exemplar struct {
	traceID string
	value   float64
	at      time.Time
}

// observe counts v in the first bucket whose upper bound is at least v,
// as client_golang does.
func (h *classic) observe(v float64, traceID string, at time.Time) {
	i := sort.SearchFloat64s(durationBucket[:], v)
	h.counts[i]++
	h.sum += v
	if traceID != "" {
		h.exemplars[i] = exemplar{traceID: traceID, value: v, at: at}
	}
}

func (h *classic) count() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// metric returns the histogram for client_golang's registry, labels in
// the order of desc's, with its exemplars.
func (h *classic) metric(desc *prometheus.Desc, labelValues ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(durationBucket))
	var cumulative uint64
	for i, bound := range durationBucket {
		cumulative += h.counts[i]
		buckets[bound] = cumulative
	}
	m := prometheus.MustNewConstHistogram(desc, h.count(), h.sum, buckets, labelValues...)
	var exemplars []prometheus.Exemplar
	for _, e := range h.exemplars {
		if e.traceID != "" {
			exemplars = append(exemplars, prometheus.Exemplar{Value: e.value, Labels: prometheus.Labels{"trace_id": e.traceID}, Timestamp: e.at})
		}
	}
	if len(exemplars) == 0 {
		return m
	}
	withExemplars, err := prometheus.NewMetricWithExemplars(m, exemplars...)
	if err != nil {
		// Only a malformed exemplar (a trace id over 128 runes) gets
		// here; the histogram goes without its exemplars.
		return m
	}
	return withExemplars
}

// traceIDName is the label name of every exemplar.
const traceIDName = "trace_id"

// writeClassic writes a classic histogram's buckets, sum and count, with
// the buckets' exemplars in OpenMetrics.
func (p *pageWriter) writeClassic(name string, h *classic, l labels) {
	var cumulative uint64
	for i := range h.counts {
		bound := math.Inf(+1)
		if i < len(durationBucket) {
			bound = durationBucket[i]
		}
		cumulative += h.counts[i]
		p.labels(name, "_bucket", l, "le", bound)
		p.buf = strconv.AppendUint(p.buf, cumulative, 10)
		if e := h.exemplars[i]; p.om && e.traceID != "" {
			p.exemplar(traceIDName, e.traceID, e.value, e.at)
		}
		p.buf = append(p.buf, '\n')
	}
	p.sample(name, "_sum", l, h.sum)
	p.labels(name, "_count", l, "", 0)
	p.buf = strconv.AppendUint(p.buf, cumulative, 10)
	p.buf = append(p.buf, '\n')
}
