package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/probes"
)

// BenchmarkScrape serves authprobe's /metrics for n single-GET journeys
// that have each run once, as Prometheus asks for it (gzip), and reports
// the page's series and size. With -cpuprofile it says where a scrape's
// time goes; the overload benchmark (bench/README.md) measures the same
// page from outside the process, under load.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := scrapeHandler(b, n)
			b.ResetTimer()
			var size, series int
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				w := &countingWriter{header: http.Header{}}
				h.ServeHTTP(w, req)
				size = w.n
				series = 0
			}
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			for line := range strings.Lines(rec.Body.String()) {
				if !strings.HasPrefix(line, "#") {
					series++
				}
			}
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(size)/1024, "gzip-KiB")
			b.ReportMetric(float64(rec.Body.Len())/1024, "text-KiB")
		})
	}
}

func scrapeHandler(b *testing.B, n int) http.Handler {
	b.Helper()
	srv := target(b)
	var s strings.Builder
	s.WriteString("global: { interval: 10s, timeout: 5s, location: bench, max_concurrency: 1000 }\njourneys:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "  - name: j%06d\n    steps:\n      - name: get\n        http: { url: %q }\n        expect: { status: 200 }\n", i, srv.URL+"/")
	}
	cfg, err := config.Parse([]byte(s.String()), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	env := &probes.Env{}
	rec := exporter.NewRecorder("bench")
	rec.SetLocation(cfg.Global.Location)
	sched := probes.NewScheduler(env)
	sched.OnSeries = rec.Series
	sched.Apply(journeys, cfg.Global.MaxConcurrency)
	for _, j := range journeys {
		rec.Result(j, j.Execute(context.Background(), env, j.Variants[0], ""))
	}
	return exporter.Handler(exporter.Options{Recorder: rec})
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
