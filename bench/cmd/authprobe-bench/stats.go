package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

// percentile is the q-quantile of values by the nearest-rank method: the
// smallest value with at least q of them at or below it. NaN when empty.
func percentile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(values))
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// fit is the least-squares line through (x, y): its slope, and the
// standard deviation of the residuals around it.
func fit(x, y []float64) (slope, residual float64) {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return math.NaN(), math.NaN()
	}
	var sx, sy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range x {
		sxx += (x[i] - mx) * (x[i] - mx)
		sxy += (x[i] - mx) * (y[i] - my)
	}
	if sxx == 0 {
		return math.NaN(), math.NaN()
	}
	slope = sxy / sxx
	var ss float64
	for i := range x {
		r := y[i] - (my + slope*(x[i]-mx))
		ss += r * r
	}
	return slope, math.Sqrt(ss / n)
}

// dueRuns counts the runs of the n generated journeys (journeyName, no
// variants, no fan-out) the shard owns that came due in (a, b]: the
// scheduler starts a loop at probes.Offset of its identity plus whole
// intervals since the Unix epoch, so this count is exact.
func dueRuns(n int, interval time.Duration, a, b time.Time, shard config.Shard) int64 {
	if !b.After(a) {
		return 0
	}
	iv := int64(interval)
	floorDiv := func(x int64) int64 {
		q := x / iv
		if x%iv != 0 && x < 0 {
			q--
		}
		return q
	}
	var total int64
	for i := 1; i <= n; i++ {
		if !probes.Owns(shard, probes.SeriesKey{Journey: journeyName(i)}) {
			continue
		}
		off := int64(probes.Offset(journeyName(i)+"\x00\x00", interval))
		total += floorDiv(b.UnixNano()-off) - floorDiv(a.UnixNano()-off)
	}
	return total
}

// rssSample is a process's VmRSS at one moment.
type rssSample struct {
	at  time.Time
	rss float64
}

// sampleRSS reads a process's VmRSS from /proc every period until the
// returned function is called; that function returns the samples.
func sampleRSS(ctx context.Context, pid int, period time.Duration) func() []rssSample {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu  sync.Mutex
		out []rssSample
		wg  sync.WaitGroup
	)
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if rss, _, err := memStatus(pid); err == nil {
				mu.Lock()
				out = append(out, rssSample{time.Now(), rss})
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() []rssSample {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// seconds formats a duration in seconds with a precision that suits it.
func seconds(s float64) string {
	switch {
	case math.IsNaN(s):
		return "—"
	case s < 1:
		return ms(s)
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}
