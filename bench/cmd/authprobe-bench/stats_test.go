package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

func TestTallyPage(t *testing.T) {
	page := `# HELP authprobe_journey_runs_total x
# TYPE authprobe_journey_runs_total counter
authprobe_journey_runs_total{journey="a",location="l",outcome="success",reason="",target="",variant=""} 7
authprobe_journey_runs_total{journey="a",location="l",outcome="failure",reason="http_status",target="",variant=""} 2
authprobe_journey_runs_total{journey="b",location="l",outcome="failure",reason="timeout",target="",variant=""} 1
authprobe_runs_skipped_total{cause="concurrency",journey="a",location="l",target="",variant=""} 3
authprobe_runs_skipped_total{cause="overlap",journey="a",location="l",target="",variant=""} 1
authprobe_scheduler_start_lateness_seconds_bucket{le="0.001"} 5
authprobe_scheduler_start_lateness_seconds_bucket{le="+Inf"} 9
go_goroutines 42
process_resident_memory_bytes 1.5e+07
go_memstats_heap_inuse_bytes 1e+06
`
	got, err := tallyPage(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if got.series != 10 || got.runs != 10 || got.byOutcome["success"] != 7 || got.byOutcome["failure"] != 3 ||
		got.byReason["failure/http_status"] != 2 || got.skips() != 4 || got.skipped["overlap"] != 1 ||
		got.goroutines != 42 || got.promRSS != 1.5e7 || got.heapInuse != 1e6 {
		t.Errorf("tally = %+v", got)
	}
	if len(got.lateness) != 2 || !math.IsInf(got.lateness[1].le, 1) || got.lateness[1].count != 9 {
		t.Errorf("lateness = %v", got.lateness)
	}
	// A label whose name ends another's is not taken for it.
	if v := labelValue(`x{subcause="no",cause="yes"} 1`, "cause"); v != "yes" {
		t.Errorf("labelValue = %q", v)
	}
}

// dueRuns agrees with the scheduler's rule counted the slow way.
func TestDueRuns(t *testing.T) {
	const n, interval = 50, 3 * time.Second
	a := time.Unix(1_700_000_000, 123_456_789)
	b := a.Add(47*time.Second + 5*time.Millisecond)
	var want int64
	for i := 1; i <= n; i++ {
		off := probes.Offset(journeyName(i)+"\x00\x00", interval)
		for at := a.Truncate(interval).Add(off - interval); !at.After(b); at = at.Add(interval) {
			if at.After(a) {
				want++
			}
		}
	}
	if got := dueRuns(n, interval, a, b, config.Shard{}); got != want {
		t.Errorf("dueRuns = %d, want %d", got, want)
	}
	if got := dueRuns(n, interval, b, a, config.Shard{}); got != 0 {
		t.Errorf("dueRuns of an empty span = %d", got)
	}
	// Shards split the runs: each counts its own journeys', all of them
	// once.
	var sum int64
	for i := range 3 {
		part := dueRuns(n, interval, a, b, config.Shard{Index: i, Total: 3})
		if part == 0 || part == want {
			t.Errorf("shard %d/3 has %d of %d due runs", i, part, want)
		}
		sum += part
	}
	if sum != want {
		t.Errorf("the shards' due runs add up to %d, want %d", sum, want)
	}
}

func TestFitAndPercentile(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	slope, resid := fit(x, []float64{1, 3, 5, 7})
	if slope != 2 || resid != 0 {
		t.Errorf("fit = %g ± %g, want 2 ± 0", slope, resid)
	}
	if p := percentile([]float64{5, 1, 4, 2, 3}, .5); p != 3 {
		t.Errorf("p50 = %g", p)
	}
	if p := percentile([]float64{5, 1, 4, 2, 3}, .99); p != 5 {
		t.Errorf("p99 = %g", p)
	}
	if !math.IsNaN(percentile(nil, .5)) {
		t.Error("percentile of nothing is not NaN")
	}
}
