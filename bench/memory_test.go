package bench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/probes"
)

var heapProfile = flag.String("heapprofile", "", "write a heap profile of the last BenchmarkMemoryPerJourney state to this file")

// BenchmarkMemoryPerJourney builds what authprobe run holds for n
// single-GET journeys — the config, the compiled journeys, the scheduler's
// loops, and the recorder's series after one run each — and reports the Go
// heap in use per journey. Run it with -benchtime=1x; -heapprofile writes
// where that heap is.
func BenchmarkMemoryPerJourney(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv := target(b)
			var s strings.Builder
			s.WriteString("global: { interval: 10s, timeout: 5s, location: bench, max_concurrency: 1000 }\njourneys:\n")
			for i := 1; i <= n; i++ {
				fmt.Fprintf(&s, "  - name: j%05d\n    steps:\n      - name: get\n        http: { url: %q }\n        expect: { status: 200 }\n", i, srv.URL+"/")
			}
			data := []byte(s.String())
			for b.Loop() {
				before := heapInuse()
				cfg, err := config.Parse(data, "bench.yaml")
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
				// Like authprobe run, keep the compiled journeys, the
				// scheduler and the recorder, not the parsed config.
				after := heapInuse()
				b.ReportMetric(float64(after-before)/float64(n)/1024, "heap-KiB/journey")
				if *heapProfile != "" && n == 10000 {
					f, err := os.Create(*heapProfile)
					if err != nil {
						b.Fatal(err)
					}
					if err := pprof.WriteHeapProfile(f); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
				runtime.KeepAlive(sched)
				runtime.KeepAlive(rec)
				runtime.KeepAlive(journeys)
			}
		})
	}
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkRecorderOverTime feeds the recorder the results of 500 series
// for the equivalent of many hours at 50 runs/s — durations spread like a
// real target's, 5 % failures by reason, a trace id on each — and reports
// the Go heap in use after 10 minutes', 1 hour's, 4 hours' and 12 hours'
// worth of runs. What the recorder keeps per series is bounded (the strip
// of recent runs, the last run and failure, native histogram buckets up to
// their limit, exemplars with a TTL), so the heap must level off; the soak
// (bench/README.md) measures the whole process for 30 minutes.
func BenchmarkRecorderOverTime(b *testing.B) {
	const series, perSecond = 500, 50
	js := compileJourneys(b, series, "http://127.0.0.1:9/")
	for b.Loop() {
		rec := exporter.NewRecorder("bench")
		rec.SetLocation("bench")
		for _, j := range js {
			rec.Series(j, probes.SeriesKey{Journey: j.Name}, true)
		}
		rnd := rand.New(rand.NewPCG(1, 2))
		start := time.Unix(1_790_000_000, 0)
		base := heapInuse()
		done := 0
		for _, cp := range []struct {
			name string
			at   time.Duration
		}{{"10m", 10 * time.Minute}, {"1h", time.Hour}, {"4h", 4 * time.Hour}, {"12h", 12 * time.Hour}} {
			for ; done < int(cp.at.Seconds())*perSecond; done++ {
				j := js[done%series]
				// Log-normal around 4 ms, a long tail to seconds.
				d := time.Duration(math.Exp(rnd.NormFloat64()*1.2) * 4e6)
				res := probes.Result{Journey: j.Name, Start: start.Add(time.Duration(done) * time.Second / perSecond), Duration: d,
					Outcome: probes.OutcomeSuccess, TraceID: fmt.Sprintf("%032x", rnd.Uint64()),
					Steps: []probes.StepResult{{Name: "get", Duration: d}}}
				if done%20 == 7 {
					res.Outcome, res.Reason, res.FailedStep, res.Message = probes.OutcomeFailure, probes.ReasonHTTPStatus, "get", "status 503"
				}
				rec.Result(j, res)
			}
			b.ReportMetric(float64(heapInuse()-base)/(1<<20), "heap-MiB@"+cp.name)
		}
		runtime.KeepAlive(rec)
	}
}

// compileJourneys compiles n single-GET journeys against url.
func compileJourneys(b *testing.B, n int, url string) []*probes.Journey {
	b.Helper()
	var s strings.Builder
	s.WriteString("global: { interval: 10s, timeout: 5s, location: bench, max_concurrency: 1000 }\njourneys:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "  - name: j%06d\n    steps:\n      - name: get\n        http: { url: %q }\n        expect: { status: 200 }\n", i, url)
	}
	cfg, err := config.Parse([]byte(s.String()), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return journeys
}
