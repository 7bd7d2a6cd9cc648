// Package bench holds in-process benchmarks of the journey engine; the
// end-to-end comparison with blackbox_exporter is cmd/authprobe-bench.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
	_ "github.com/authprobe/authprobe/probes/kinds"
)

// compileSingleGET compiles the journey cmd/authprobe-bench configures: one
// GET expecting 200.
func compileSingleGET(b *testing.B, url string) *probes.Journey {
	b.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, `
global: { interval: 10s, timeout: 5s, location: bench, max_concurrency: 1000 }
journeys:
  - name: j00001
    steps:
      - name: get
        http: { url: %q }
        expect: { status: 200 }
`, url), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return journeys[0]
}

func target(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkExecuteSingleGET is one run of a single-GET journey, engine and
// HTTP client included, against a loopback server: what authprobe pays per
// probe before recording it. The server's cost is in the figure too;
// BenchmarkBareGET is the same request with nothing around it, to subtract.
func BenchmarkExecuteSingleGET(b *testing.B) {
	srv := target(b)
	j := compileSingleGET(b, srv.URL+"/")
	env := &probes.Env{}
	ctx := context.Background()
	results := make(chan probes.Result)
	b.ReportAllocs()
	for b.Loop() {
		// A fresh goroutine per run, as the scheduler starts them: its
		// stack growth is part of the cost.
		go func() { results <- j.Execute(ctx, env, j.Variants[0], "") }()
		if res := <-results; res.Outcome != probes.OutcomeSuccess {
			b.Fatalf("run failed: %s %s: %s", res.Outcome, res.Reason, res.Message)
		}
	}
}

// BenchmarkBareGET is the lower bound: the same GET on a fresh connection
// with a plain client, reading the body and checking the status, also in a
// goroutine of its own.
func BenchmarkBareGET(b *testing.B) {
	srv := target(b)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	errs := make(chan error)
	b.ReportAllocs()
	for b.Loop() {
		go func() {
			resp, err := client.Get(srv.URL + "/")
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
			errs <- err
		}()
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}
