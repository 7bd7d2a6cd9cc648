package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/probes"
)

// BenchmarkScrape serves authprobe's /metrics for n single-GET journeys
// that have each run once, as Prometheus asks for it (gzip), and reports
// the page's series and size. Side by side: the text formats as authprobe
// writes them ("text", "openmetrics"), the protobuf format (client_golang,
// for native histograms), and the text format as client_golang's registry
// would write it ("registry-text", what /metrics served before the page
// writer). With -cpuprofile it says where a scrape's time goes; the
// overload benchmark (bench/README.md) measures the page from outside the
// process, under load.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		rec := scrapeRecorder(b, n)
		fast := exporter.Handler(exporter.Options{Recorder: rec})
		registry := promhttp.HandlerFor(rec.Registry(), promhttp.HandlerOpts{EnableOpenMetrics: true})
		for _, c := range []struct {
			name, accept string
			h            http.Handler
		}{
			{"text", "text/plain;version=0.0.4", fast},
			{"openmetrics", "application/openmetrics-text;version=1.0.0", fast},
			{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", fast},
			{"registry-text", "text/plain;version=0.0.4", registry},
		} {
			b.Run(fmt.Sprintf("%d/%s", n, c.name), func(b *testing.B) {
				var size int
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
					req.Header.Set("Accept", c.accept)
					req.Header.Set("Accept-Encoding", "gzip")
					w := &countingWriter{header: http.Header{}}
					c.h.ServeHTTP(w, req)
					size = w.n
				}
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", c.accept)
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if c.name != "protobuf" {
					series := 0
					for line := range strings.Lines(w.Body.String()) {
						if !strings.HasPrefix(line, "#") {
							series++
						}
					}
					b.ReportMetric(float64(series), "series")
				}
				b.ReportMetric(float64(size)/1024, "gzip-KiB")
				b.ReportMetric(float64(w.Body.Len())/1024, "page-KiB")
			})
		}
	}
}

func scrapeRecorder(b *testing.B, n int) *exporter.Recorder {
	b.Helper()
	journeys := compileJourneys(b, n, target(b).URL+"/")
	env := &probes.Env{}
	rec := exporter.NewRecorder("bench")
	rec.SetLocation("bench")
	sched := probes.NewScheduler(env)
	sched.OnSeries = rec.Series
	sched.Apply(journeys, 1000)
	for _, j := range journeys {
		rec.Result(j, j.Execute(context.Background(), env, j.Variants[0], ""))
	}
	return rec
}

// countingWriter is a ResponseWriter that keeps only the size.
type countingWriter struct {
	header http.Header
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)
