package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/authprobe/authprobe/config"
)

// soakOptions are the flags of -mode=soak.
type soakOptions struct {
	journeys  int
	interval  time.Duration
	failEvery int
	duration  time.Duration
	warmup    time.Duration
	sample    time.Duration
	// edge is how long after it came due a run is surely finished, for
	// the accounting at the window's ends.
	edge time.Duration
}

func (o *soakOptions) flags() {
	flag.IntVar(&o.journeys, "soak-journeys", 500, "soak: journeys configured (single GETs against the loopback target)")
	flag.DurationVar(&o.interval, "soak-interval", 10*time.Second, "soak: interval of every journey; the rate is journeys ÷ interval runs/s")
	flag.IntVar(&o.failEvery, "soak-fail-every", 20, "soak: the target answers 503 to every n-th request (20: 5 %); 0 never")
	flag.DurationVar(&o.duration, "soak-duration", 3*time.Minute, "soak: how long authprobe runs, from ready (bench/README.md records a 30m run)")
	flag.DurationVar(&o.warmup, "soak-warmup", time.Minute, "soak: the first part of the run left out of the slopes and the accounting")
	flag.DurationVar(&o.sample, "soak-sample", 15*time.Second, "soak: scrape /metrics and read VmRSS this often")
	flag.DurationVar(&o.edge, "soak-edge", 250*time.Millisecond, "soak: a run is counted by this long after it came due (for the accounting's bounds)")
}

func (o *soakOptions) check() error {
	if o.journeys < 1 || o.interval <= 0 || o.failEvery < 0 || o.duration <= 0 || o.warmup < 0 || o.sample <= 0 {
		return errors.New("-soak-journeys, -soak-interval, -soak-duration and -soak-sample must be positive, -soak-fail-every and -soak-warmup not negative")
	}
	if o.warmup+2*o.sample > o.duration {
		return errors.New("-soak-duration must leave at least two samples after -soak-warmup")
	}
	return nil
}

// soakSample is one reading of the soak.
type soakSample struct {
	at    time.Time // since ready
	rss   float64   // VmRSS from /proc, just before the scrape
	cpu   float64   // CPU seconds so far
	s     scrapeResult
	valid bool
}

// soakReport is everything the soak measured.
type soakReport struct {
	o       soakOptions
	machine machine
	ready   time.Time
	samples []soakSample
	hwm     float64
}

// runSoak runs authprobe at a steady rate against a target that fails
// every -soak-fail-every-th request, and samples its memory, goroutines and
// counts every -soak-sample.
func (b *bench) runSoak(ctx context.Context) error {
	o := b.o.soak
	var targetArgs []string
	if o.failEvery > 0 {
		targetArgs = append(targetArgs, fmt.Sprintf("-fail-every=%d", o.failEvery))
	}
	if err := b.startTarget(ctx, targetArgs...); err != nil {
		return err
	}
	cfg, err := b.writeJourneys(fmt.Sprintf("soak-%d.yaml", o.journeys), o.journeys, o.interval, 1000)
	if err != nil {
		return err
	}
	logf("soak: %d journeys every %s = %.0f runs/s, every %d-th request fails; %s (warm-up %s), a sample every %s",
		o.journeys, o.interval, float64(o.journeys)/o.interval.Seconds(), o.failEvery, o.duration, o.warmup, o.sample)
	ap, err := b.startAuthprobeConfig(ctx, "authprobe-soak", cfg)
	if err != nil {
		return err
	}
	r := &soakReport{o: o, machine: b.report.machine, ready: time.Now()}
	client := &http.Client{Timeout: 30 * time.Second}
	url := "http://" + ap.addr + "/metrics"
	end := r.ready.Add(o.duration)
	for next := r.ready; !next.After(end); next = next.Add(o.sample) {
		if err := sleep(ctx, time.Until(next)); err != nil {
			return err
		}
		if ap.proc.exited() {
			return fmt.Errorf("authprobe exited during the soak: %s", ap.proc.tail())
		}
		rss, _, _ := memStatus(ap.proc.pid())
		cpu, _ := cpuSeconds(ap.proc.pid())
		t, tm, err := scrapeTally(ctx, client, url)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			logf("scrape failed: %v", err)
		}
		r.samples = append(r.samples, soakSample{at: tm.start, rss: rss, cpu: cpu, s: scrapeResult{tm, t, err}, valid: err == nil})
		if err == nil && len(r.samples)%8 == 1 {
			logf("%s: RSS %s, %.0f goroutines, %.0f runs, %.0f skips", tm.start.Sub(r.ready).Round(time.Second), mib(rss), t.goroutines, t.runs, t.skips())
		}
	}
	_, r.hwm, _ = memStatus(ap.proc.pid())
	ap.proc.stop()
	return r.print(os.Stdout)
}

func (r *soakReport) print(w io.Writer) error {
	o, m := r.o, r.machine
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	var after []soakSample
	for _, s := range r.samples {
		if s.valid && s.at.Sub(r.ready) >= o.warmup {
			after = append(after, s)
		}
	}
	if len(after) < 2 {
		return errors.New("fewer than two good samples after the warm-up")
	}
	failed := 0
	for _, s := range r.samples {
		if !s.valid {
			failed++
		}
	}
	rate := float64(o.journeys) / o.interval.Seconds()
	p("### Machine\n")
	p("- CPUs (nproc): %s — %s; memory %s; %s; Go %s; authprobe: %s", m.cpus, m.model, m.memory, m.kernel, m.goVersion, m.authprobe)
	p("- Date: %s", m.date)
	p("")
	p("### Soak: %s at %.0f runs/s (%d journeys every %s), every %d-th request fails\n", o.duration, rate, o.journeys, o.interval, o.failEvery)
	p("A sample every %s: VmRSS from /proc, then a scrape of /metrics (go_goroutines, go_memstats_heap_inuse_bytes, the counters). %d samples, %d scrapes failed. Slopes are least-squares fits over the %d samples after the first %s.\n",
		o.sample, len(r.samples), failed, len(after), o.warmup)

	hours := func(s soakSample) float64 { return s.at.Sub(r.ready).Hours() }
	series := []struct {
		name  string
		unit  string
		scale float64
		get   func(soakSample) float64
	}{
		{"VmRSS", "MiB", 1 << 20, func(s soakSample) float64 { return s.rss }},
		{"Go heap in use", "MiB", 1 << 20, func(s soakSample) float64 { return s.s.tally.heapInuse }},
		{"goroutines", "", 1, func(s soakSample) float64 { return s.s.tally.goroutines }},
	}
	p("| | at %s | at end | min / max after warm-up | slope per hour | residual (σ) | change over the fitted span by the slope |", o.warmup)
	p("|---|---:|---:|---:|---:|---:|---:|")
	span := hours(after[len(after)-1]) - hours(after[0])
	for _, x := range series {
		var xs, ys []float64
		for _, s := range after {
			xs = append(xs, hours(s))
			ys = append(ys, x.get(s)/x.scale)
		}
		slope, resid := fit(xs, ys)
		unit := ""
		if x.unit != "" {
			unit = " " + x.unit
		}
		p("| %s | %.1f%s | %.1f%s | %.1f / %.1f%s | **%+.2f%s/h** | %.2f%s | %+.2f%s |", x.name, ys[0], unit, ys[len(ys)-1], unit,
			slices.Min(ys), slices.Max(ys), unit, slope, unit, resid, unit, slope*span, unit)
	}
	p("")
	p("VmHWM (peak RSS since start): %s.", mib(r.hwm))
	p("")
	step := max(1, (len(r.samples)+9)/10)
	p("| since ready | VmRSS | Go heap in use | goroutines | runs finished | of which failed | skipped |")
	p("|---:|---:|---:|---:|---:|---:|---:|")
	for i, s := range r.samples {
		if !s.valid || (i%step != 0 && i != len(r.samples)-1) {
			continue
		}
		t := s.s.tally
		p("| %s | %s | %s | %.0f | %.0f | %.0f | %.0f |", s.at.Sub(r.ready).Round(time.Second), mib(s.rss), mib(t.heapInuse), t.goroutines,
			t.runs, t.byOutcome["failure"]+t.byOutcome["error"], t.skips())
	}
	p("")

	a, b := after[0], after[len(after)-1]
	// The counters were read somewhere between each scrape's request and
	// its last byte; a run is counted within -soak-edge of coming due.
	lo := dueRuns(o.journeys, o.interval, a.s.timing.end, b.s.timing.start.Add(-o.edge), config.Shard{})
	hi := dueRuns(o.journeys, o.interval, a.s.timing.start.Add(-o.edge), b.s.timing.end, config.Shard{})
	mid := dueRuns(o.journeys, o.interval, a.s.readAt(), b.s.readAt(), config.Shard{})
	ta, tb := a.s.tally, b.s.tally
	runs, skips := tb.runs-ta.runs, tb.skips()-ta.skips()
	secs := b.s.readAt().Sub(a.s.readAt()).Seconds()
	fails := tb.byOutcome["failure"] - ta.byOutcome["failure"]
	errs := tb.byOutcome["error"] - ta.byOutcome["error"]
	p("Runs from the sample at %s to the last (%.1f s):\n", a.at.Sub(r.ready).Round(time.Second), secs)
	p("| | runs |")
	p("|---|---:|")
	p("| rate × time (%.0f/s × %.1f s) | %.0f |", rate, secs, rate*secs)
	p("| came due (exact, from the fixed offsets, between the readings) | %d (bounds %d–%d) |", mid, lo, hi)
	p("| finished (authprobe_journey_runs_total) | %.0f |", runs)
	p("| of which failure / error | %.0f (%.2f %%) / %.0f |", fails, 100*fails/runs, errs)
	p("| skipped (authprobe_runs_skipped_total) | %.0f |", skips)
	p("| finished + skipped − came due | %+.0f |", runs+skips-float64(mid))
	p("")
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(tb.byReason)) {
		if d := tb.byReason[k] - ta.byReason[k]; d > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %.0f", k, d))
		}
	}
	p("- Not successful, by outcome/reason: %s.", strings.Join(reasons, ", "))
	late := histogramDelta(ta.lateness, tb.lateness)
	p("- Start lateness over the same span: p50 %s, p99 %s.", ms(quantile(.5, late)), ms(quantile(.99, late)))
	p("- authprobe's CPU: %.3f s per 1,000 runs (%.1f %% of one CPU).", (b.cpu-a.cpu)/runs*1000, 100*(b.cpu-a.cpu)/b.at.Sub(a.at).Seconds())
	var dur []float64
	for _, s := range r.samples {
		if s.valid {
			dur = append(dur, s.s.timing.duration().Seconds())
		}
	}
	p("- Scrapes: p50 %s, max %s, %d series.", seconds(percentile(dur, .5)), seconds(slices.Max(dur)), tb.series)
	p("")
	p("| goal | measured | met |")
	p("|---|---|---|")
	p("| no run lost beyond counted skips | %.0f finished + %.0f skipped against %d–%d due | %s |", runs, skips, lo, hi, yesNo(runs+skips >= float64(lo) && runs+skips <= float64(hi)))
	return nil
}
