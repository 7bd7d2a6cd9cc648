package exporter

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// The text formats' fast path of /metrics.
//
// client_golang's registry builds a protobuf message for every series,
// hashes each to find duplicates and sorts them all before it encodes a
// page: for a big config that is most of a scrape (measured in process:
// 1.1 s for 10,000 journeys, 490,060 series, of which the writing and the
// compression were a third). For the text formats Prometheus asks for
// (OpenMetrics 1.0, text 0.0.4), /metrics writes the journey series
// itself, straight from the recorder's numbers, a chunk of series per hold
// of the lock, in the order of a sorted index kept between scrapes, and
// compresses with gzip's fastest level. Labels with an empty value, which
// Prometheus treats as absent, are left out. The other metrics (Go,
// process, scheduler, browser) come from the registry as before, and the
// protobuf format (what Prometheus asks for with native histograms on) is
// client_golang's, from the whole registry; exposition_test.go checks that
// every format says the same.

// metricsHandler serves /metrics.
func metricsHandler(r *Recorder, logger *slog.Logger) http.Handler {
	errorLog := slog.NewLogLogger(logger.Handler(), slog.LevelError)
	full := promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorLog: errorLog})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// OpenMetrics 1.0 (or 0.0.1), the protobuf formats or text 0.0.4,
		// as promhttp offers them.
		format := expfmt.NegotiateAccept(req.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
		om := format.FormatType() == expfmt.TypeOpenMetrics
		if !om && format.FormatType() != expfmt.TypeTextPlain || len(req.URL.Query()["name[]"]) > 0 {
			// Protobuf, or client_golang's filter by name.
			full.ServeHTTP(w, req)
			return
		}
		base, err := r.base.Gather()
		if err != nil {
			errorLog.Printf("error gathering metrics: %v", err)
			http.Error(w, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Accept-Encoding")
		w.Header().Set("Content-Type", string(format))
		var out io.Writer = w
		var gz *gzip.Writer
		if acceptsGzip(req.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			gz = gzipWriters.Get().(*gzip.Writer)
			gz.Reset(w)
			out = gz
		}
		bw := bufio.NewWriterSize(out, 64<<10)
		enc := expfmt.NewEncoder(bw, format)
		for _, mf := range base {
			if err = enc.Encode(mf); err != nil {
				break
			}
		}
		if err == nil {
			err = r.writeSeries(bw, om)
		}
		if c, ok := enc.(expfmt.Closer); ok && err == nil {
			err = c.Close() // OpenMetrics' "# EOF"
		}
		if err == nil {
			err = bw.Flush()
		}
		if err == nil && gz != nil {
			err = gz.Close()
		}
		if err != nil {
			// The client went away, or a collector sent nonsense. The
			// page is cut short: break the connection rather than end
			// the response, so the scraper counts a failed scrape
			// instead of taking a short page for a whole one.
			errorLog.Printf("error writing metrics: %v", err)
			panic(http.ErrAbortHandler)
		}
		if gz != nil {
			gzipWriters.Put(gz)
		}
	})
}

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return gz
}}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: gzip
// (or x-gzip) listed with a q above 0, or else * with a q above 0.
func acceptsGzip(header string) bool {
	gz, star := -1.0, -1.0 // not listed
	for part := range strings.SplitSeq(header, ",") {
		fields := strings.Split(part, ";")
		q := 1.0
		for _, f := range fields[1:] {
			if k, v, _ := strings.Cut(f, "="); strings.EqualFold(strings.TrimSpace(k), "q") {
				if x, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = x
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(fields[0])) {
		case "gzip", "x-gzip":
			gz = max(gz, q)
		case "*":
			star = max(star, q)
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}

// sortedSeries returns every series sorted by journey, variant and target.
// The slice is shared and never changed; it is rebuilt after a series was
// added or removed.
func (r *Recorder) sortedSeries() []*seriesState {
	r.mu.RLock()
	sorted := r.sorted
	r.mu.RUnlock()
	if sorted != nil {
		return sorted
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sorted == nil {
		r.sorted = make([]*seriesState, 0, len(r.series))
		for _, s := range r.series {
			r.sorted = append(r.sorted, s)
		}
		slices.SortFunc(r.sorted, func(a, b *seriesState) int {
			return cmp.Or(cmp.Compare(a.key.Journey, b.key.Journey), cmp.Compare(a.key.Variant, b.key.Variant), cmp.Compare(a.key.Target, b.key.Target))
		})
	}
	return r.sorted
}

// writeSeries writes the journey series' families, one family after the
// other, each over every series in the sorted index.
func (r *Recorder) writeSeries(w io.Writer, om bool) error {
	all := r.sortedSeries()
	p := &pageWriter{om: om, buf: make([]byte, 0, flushBytes+64<<10)}
	// The journeys' objective and interval, one sample per journey: the
	// first series of each in the index stands for it.
	for _, f := range []*family{objectiveFamily, intervalFamily} {
		p.header(f)
		var backedOff map[string]time.Duration
		prev := ""
		err := r.walk(w, p, all, func() { backedOff = r.backedOff() }, func(s *seriesState) {
			js := r.journeys[s.key.Journey]
			if s.key.Journey == prev || js == nil || js.j == nil {
				return
			}
			prev = s.key.Journey
			v := js.j.Objective
			if f == intervalFamily {
				v = max(js.j.Interval, backedOff[js.j.Name]).Seconds()
			}
			p.sample(f.name, "", labelsOf(js.jobPair, r.locPair), v)
		})
		if err != nil {
			return err
		}
	}
	for _, f := range append(slices.Clip(seriesFamilies), durationFamily, stepDurationFamily) {
		p.header(f)
		err := r.walk(w, p, all, nil, func(s *seriesState) {
			switch f {
			case durationFamily:
				p.writeClassic(f.name, &s.durations, labelsOf(s.jobPair, r.locPair, s.targetPair, s.variantPair))
			case stepDurationFamily:
				for _, h := range s.stepHists {
					p.writeClassic(f.name, h.h, labelsOf(s.jobPair, r.locPair, h.stepPair, s.targetPair, s.variantPair))
				}
			default:
				s.each(f, r.locPair, func(v float64, l labels) { p.sample(f.name, "", l, v) })
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// flushBytes is how much of the page the writer formats before it lets go
// of the recorder's lock and writes it out.
const flushBytes = 256 << 10

// walk calls each for every series of all that is still the recorder's,
// holding the recorder's read lock for at most collectChunk series or
// flushBytes of page at a time (start, if set, runs after each taking of
// the lock); between holds it writes the page out, so runs finishing
// meanwhile wait for one chunk at most, and a slow scraper for none.
func (r *Recorder) walk(w io.Writer, p *pageWriter, all []*seriesState, start func(), each func(*seriesState)) error {
	for i := 0; i < len(all); {
		r.mu.RLock()
		if start != nil {
			start()
		}
		for n := 0; i < len(all) && n < collectChunk && len(p.buf) < flushBytes; i, n = i+1, n+1 {
			if s := all[i]; !s.removed {
				each(s)
			}
		}
		r.mu.RUnlock()
		if _, err := w.Write(p.buf); err != nil {
			return err
		}
		p.buf = p.buf[:0]
	}
	return nil
}

// pageWriter formats samples as OpenMetrics 1.0 or as the text format
// 0.0.4, the way expfmt does (exposition_test.go compares them).
type pageWriter struct {
	om  bool
	buf []byte
	// next is the family whose HELP and TYPE come before its first
	// sample: a family without samples is left out, as expfmt does.
	next *family
}

// header starts a family.
func (p *pageWriter) header(f *family) { p.next = f }

func (p *pageWriter) writeHeader() {
	f := p.next
	p.next = nil
	name, typ := f.name, "gauge"
	switch f.typ {
	case counter:
		typ = "counter"
		if p.om {
			name = strings.TrimSuffix(name, "_total")
		}
	case histogramType:
		typ = "histogram"
	}
	p.buf = append(p.buf, "# HELP "...)
	p.buf = append(p.buf, name...)
	p.buf = append(p.buf, ' ')
	p.buf = appendEscaped(p.buf, f.help, p.om)
	p.buf = append(p.buf, "\n# TYPE "...)
	p.buf = append(p.buf, name...)
	p.buf = append(p.buf, ' ')
	p.buf = append(p.buf, typ...)
	p.buf = append(p.buf, '\n')
}

// sample writes one line with a float value.
func (p *pageWriter) sample(name, suffix string, l labels, v float64) {
	p.labels(name, suffix, l, "", 0)
	p.buf = p.appendFloat(p.buf, v)
	p.buf = append(p.buf, '\n')
}

// labels writes the metric name and the label set, and the le label of a
// histogram bucket when le is set, then a space.
func (p *pageWriter) labels(name, suffix string, l labels, le string, bound float64) {
	if p.next != nil {
		p.writeHeader()
	}
	p.buf = append(p.buf, name...)
	p.buf = append(p.buf, suffix...)
	sep := byte('{')
	for _, pair := range l.list() {
		v := pair.GetValue()
		if v == "" {
			continue
		}
		p.buf = append(p.buf, sep)
		sep = ','
		p.buf = append(p.buf, pair.GetName()...)
		p.buf = append(p.buf, '=', '"')
		p.buf = appendEscaped(p.buf, v, true)
		p.buf = append(p.buf, '"')
	}
	if le != "" {
		p.buf = append(p.buf, sep)
		sep = ','
		p.buf = append(p.buf, le...)
		p.buf = append(p.buf, '=', '"')
		p.buf = p.appendFloat(p.buf, bound)
		p.buf = append(p.buf, '"')
	}
	if sep == ',' {
		p.buf = append(p.buf, '}')
	}
	p.buf = append(p.buf, ' ')
}

// exemplar writes an exemplar with one label, its value and its time.
func (p *pageWriter) exemplar(label, value string, v float64, at time.Time) {
	p.buf = append(p.buf, " # {"...)
	p.buf = append(p.buf, label...)
	p.buf = append(p.buf, '=', '"')
	p.buf = appendEscaped(p.buf, value, true)
	p.buf = append(p.buf, '"', '}', ' ')
	p.buf = p.appendFloat(p.buf, v)
	if !at.IsZero() {
		p.buf = append(p.buf, ' ')
		p.buf = p.appendFloat(p.buf, float64(at.UnixNano())/1e9)
	}
}

// appendFloat formats a value as expfmt does: OpenMetrics marks integral
// values with ".0".
func (p *pageWriter) appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if p.om && !slices.ContainsFunc(b[start:], func(c byte) bool { return c == 'e' || c == '.' }) {
		b = append(b, '.', '0')
	}
	return b
}

// appendEscaped escapes a backslash and a newline, and with quotes a
// double quote, as the exposition formats want in label values and help.
func appendEscaped(b []byte, s string, quotes bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quotes:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}
