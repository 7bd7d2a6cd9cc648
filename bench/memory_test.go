package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

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
