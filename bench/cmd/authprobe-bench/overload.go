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
)

// overloadOptions are the flags of -mode=overload.
type overloadOptions struct {
	journeys       int
	interval       time.Duration
	maxConcurrency int
	warmup         time.Duration
	window         time.Duration
	scrapeEvery    time.Duration
	scrapeTimeout  time.Duration
}

func (o *overloadOptions) flags() {
	flag.IntVar(&o.journeys, "overload-journeys", 100000, "overload: journeys configured (single GETs against the loopback target)")
	flag.DurationVar(&o.interval, "overload-interval", 30*time.Second, "overload: interval of every journey; the demand is journeys ÷ interval runs/s")
	flag.IntVar(&o.maxConcurrency, "overload-concurrency", 64, "overload: global.max_concurrency")
	flag.DurationVar(&o.warmup, "overload-warmup", 40*time.Second, "overload: time after ready before the window, so that every journey has come due")
	flag.DurationVar(&o.window, "overload-window", 150*time.Second, "overload: length of the window in which /metrics is scraped")
	flag.DurationVar(&o.scrapeEvery, "overload-scrape-every", 2*time.Second, "overload: start a scrape this often; one that takes longer is followed by the next at once, never overlapped")
	flag.DurationVar(&o.scrapeTimeout, "overload-scrape-timeout", 2*time.Minute, "overload: give up on a scrape after this long (counted as failed)")
}

func (o *overloadOptions) check() error {
	if o.journeys < 1 || o.interval <= 0 || o.maxConcurrency < 1 || o.window <= 0 || o.scrapeEvery <= 0 || o.scrapeTimeout <= 0 {
		return errors.New("-overload-journeys, -overload-interval, -overload-concurrency, -overload-window, -overload-scrape-every and -overload-scrape-timeout must be positive")
	}
	return nil
}

// scrapeResult is one scrape of the overload window.
type scrapeResult struct {
	timing scrapeTiming
	tally  tally
	err    error
}

// readAt is when a scrape's counters were read: promhttp gathers every
// metric before it writes the first byte, so between the request and the
// first byte; the middle is taken.
func (s scrapeResult) readAt() time.Time {
	return s.timing.start.Add(s.timing.firstByte.Sub(s.timing.start) / 2)
}

// overloadReport is everything the overload mode measured.
type overloadReport struct {
	o       overloadOptions
	machine machine
	ready   time.Duration
	scrapes []scrapeResult
	first   scrapeResult // the first and last good scrapes bound the window
	last    scrapeResult
	due     int64 // runs that came due between their readings
	// dueLo and dueHi bound due: the counters were read somewhere between
	// each scrape's request and its first byte.
	dueLo, dueHi int64
	windowSecs   float64
	cpu          float64 // authprobe's CPU seconds in the window
	targetCPU    float64
	harnessCPU   float64
	busy         float64 // share of the machine's CPUs busy in the window
	rss          []rssSample
	hwm          float64
}

// runOverload runs authprobe with -overload-journeys journeys, more than
// the machine can run, and scrapes its /metrics the whole window.
func (b *bench) runOverload(ctx context.Context) error {
	o := b.o.overload
	if err := b.startTarget(ctx); err != nil {
		return err
	}
	cfg, err := b.writeJourneys(fmt.Sprintf("overload-%d.yaml", o.journeys), o.journeys, o.interval, o.maxConcurrency)
	if err != nil {
		return err
	}
	rate := float64(o.journeys) / o.interval.Seconds()
	logf("overload: %d journeys every %s = %.0f runs/s demanded, max_concurrency %d; warm-up %s, window %s, a scrape every %s",
		o.journeys, o.interval, rate, o.maxConcurrency, o.warmup, o.window, o.scrapeEvery)
	began := time.Now()
	ap, err := b.startAuthprobeConfig(ctx, "authprobe-overload", cfg)
	if err != nil {
		return err
	}
	r := &overloadReport{o: o, machine: b.report.machine, ready: time.Since(began)}
	logf("ready after %s", r.ready.Round(time.Millisecond))
	stopRSS := sampleRSS(ctx, ap.proc.pid(), time.Second)
	if err := sleep(ctx, o.warmup); err != nil {
		stopRSS()
		return err
	}

	client := &http.Client{Timeout: o.scrapeTimeout}
	url := "http://" + ap.addr + "/metrics"
	self := os.Getpid()
	cpu0, _ := cpuSeconds(ap.proc.pid())
	target0, _ := cpuSeconds(b.targetPC.pid())
	self0, _ := cpuSeconds(self)
	m0, _ := readMachineCPU()
	at0 := time.Now()
	deadline := at0.Add(o.window)
	logf("window starts")
	for {
		t, tm, err := scrapeTally(ctx, client, url)
		if ctx.Err() != nil {
			stopRSS()
			return ctx.Err()
		}
		if tm.end.IsZero() {
			tm.end = time.Now()
		}
		if tm.firstByte.IsZero() {
			tm.firstByte = tm.end
		}
		r.scrapes = append(r.scrapes, scrapeResult{tm, t, err})
		if err != nil {
			logf("scrape failed after %s: %v", tm.duration().Round(time.Millisecond), err)
		} else {
			rss, _, _ := memStatus(ap.proc.pid())
			logf("scrape %d: %s (first byte %s), %d series, %.0f goroutines, VmRSS %s, heap in use %s, held %s",
				len(r.scrapes), tm.duration().Round(time.Millisecond), tm.firstByte.Sub(tm.start).Round(time.Millisecond), t.series, t.goroutines,
				mib(rss), mib(t.heapInuse), mib(t.heapSys-t.released))
		}
		if ap.proc.exited() {
			stopRSS()
			return fmt.Errorf("authprobe exited during the window: %s", ap.proc.tail())
		}
		if !time.Now().Before(deadline) {
			break
		}
		if err := sleep(ctx, time.Until(tm.start.Add(o.scrapeEvery))); err != nil {
			stopRSS()
			return err
		}
	}
	cpu1, _ := cpuSeconds(ap.proc.pid())
	target1, _ := cpuSeconds(b.targetPC.pid())
	self1, _ := cpuSeconds(self)
	m1, _ := readMachineCPU()
	r.windowSecs = time.Since(at0).Seconds()
	r.cpu, r.targetCPU, r.harnessCPU = cpu1-cpu0, target1-target0, self1-self0
	if total := (m1.busy + m1.idle + m1.steal) - (m0.busy + m0.idle + m0.steal); total > 0 {
		r.busy = (m1.busy - m0.busy) / total
	}
	all := stopRSS()
	_, r.hwm, _ = memStatus(ap.proc.pid())
	for _, s := range all {
		if !s.at.Before(at0) {
			r.rss = append(r.rss, s)
		}
	}
	logf("window ends")
	var good []scrapeResult
	for _, s := range r.scrapes {
		if s.err == nil {
			good = append(good, s)
		}
	}
	if len(good) < 2 {
		return fmt.Errorf("fewer than two scrapes succeeded in the window (%d tried)", len(r.scrapes))
	}
	r.first, r.last = good[0], good[len(good)-1]
	r.due = dueRuns(o.journeys, o.interval, r.first.readAt(), r.last.readAt())
	r.dueLo = dueRuns(o.journeys, o.interval, r.first.timing.firstByte, r.last.timing.start)
	r.dueHi = dueRuns(o.journeys, o.interval, r.first.timing.start, r.last.timing.firstByte)
	ap.proc.stop()
	r.print(os.Stdout)
	return nil
}

func (r *overloadReport) print(w io.Writer) {
	o, m := r.o, r.machine
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	rate := float64(o.journeys) / o.interval.Seconds()
	p("### Machine\n")
	p("- CPUs (nproc): %s — %s; memory %s; %s; Go %s; authprobe: %s", m.cpus, m.model, m.memory, m.kernel, m.goVersion, m.authprobe)
	p("- Date: %s", m.date)
	p("")
	p("### Overload: %d journeys every %s (%.0f runs/s demanded), max_concurrency %d\n", o.journeys, o.interval, rate, o.maxConcurrency)
	p("Ready (`/-/ready` answers 200) %s after the start; warm-up %s; window %.1f s, a scrape started every %s (the next at once when one takes longer), as Prometheus would with gzip.\n",
		r.ready.Round(10*time.Millisecond), o.warmup, r.windowSecs, o.scrapeEvery)

	var dur, gather []float64
	failed := 0
	var last tally
	for _, s := range r.scrapes {
		if s.err != nil {
			failed++
			continue
		}
		dur = append(dur, s.timing.duration().Seconds())
		gather = append(gather, s.timing.firstByte.Sub(s.timing.start).Seconds())
		last = s.tally
	}
	over := func(limit float64) int {
		n := 0
		for _, d := range dur {
			if d > limit {
				n++
			}
		}
		return n
	}
	p("| scrapes (failed) | p50 | p90 | p99 | max | to first byte p50 / max | > 1 s | > 10 s | series | gzip | text |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	p("| %d (%d) | %s | %s | **%s** | %s | %s / %s | %d | %d | %d | %s | %s |", len(r.scrapes), failed,
		seconds(percentile(dur, .5)), seconds(percentile(dur, .9)), seconds(percentile(dur, .99)), seconds(slices.Max(dur)),
		seconds(percentile(gather, .5)), seconds(slices.Max(gather)), over(1), over(10), last.series, mib(float64(last.wireBytes)), mib(float64(last.textBytes)))
	p("")
	if len(dur) <= 60 {
		var parts []string
		for _, d := range dur {
			parts = append(parts, fmt.Sprintf("%.2f", d))
		}
		p("Every scrape, in order (s): %s.\n", strings.Join(parts, ", "))
	}

	a, b := r.first.tally, r.last.tally
	span := r.last.readAt().Sub(r.first.readAt()).Seconds()
	runs := b.runs - a.runs
	skipped := map[string]float64{}
	for _, c := range slices.Sorted(maps.Keys(b.skipped)) {
		skipped[c] = b.skipped[c] - a.skipped[c]
	}
	skips := b.skips() - a.skips()
	rest := float64(r.due) - runs - skips
	p("Runs between the first and the last scrape's reading (%.1f s; each reading is the middle of its scrape's request and first byte):\n", span)
	p("| | runs | per second | share of due |")
	p("|---|---:|---:|---:|")
	p("| came due (exact, from the fixed offsets; %d–%d within the readings' bounds) | %d | %.0f | 100 %% |", r.dueLo, r.dueHi, r.due, float64(r.due)/span)
	p("| finished (authprobe_journey_runs_total) | %.0f | **%.0f** | %.1f %% |", runs, runs/span, 100*runs/float64(r.due))
	for _, c := range slices.Sorted(maps.Keys(skipped)) {
		p("| skipped, cause=%q | %.0f | %.0f | %.1f %% |", c, skipped[c], skipped[c]/span, 100*skipped[c]/float64(r.due))
	}
	p("| neither (in flight at the end, not started, or the readings' uncertainty) | %.0f | %.0f | %.1f %% |", rest, rest/span, 100*rest/float64(r.due))
	p("")
	var outs []string
	for _, k := range slices.Sorted(maps.Keys(b.byOutcome)) {
		outs = append(outs, fmt.Sprintf("%s %.0f", k, b.byOutcome[k]-a.byOutcome[k]))
	}
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(b.byReason)) {
		if d := b.byReason[k] - a.byReason[k]; d > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %.0f", k, d))
		}
	}
	if len(reasons) == 0 {
		reasons = []string{"none"}
	}
	p("- Outcomes of the finished runs: %s; not successful, by outcome/reason: %s.", strings.Join(outs, ", "), strings.Join(reasons, ", "))
	late := histogramDelta(a.lateness, b.lateness)
	p("- Start lateness (authprobe_scheduler_start_lateness_seconds, same span): p50 %s, p99 %s, %.2f %% of starts within 1 s (the highest bucket).",
		ms(quantile(.5, late)), ms(quantile(.99, late)), 100*fractionAtMost(1, late))
	p("- CPU in the window: authprobe %.1f s (%.2f CPUs), target %.1f s, harness (scrapes, decompressing and reading the page) %.1f s; the machine was %.0f %% busy.",
		r.cpu, r.cpu/r.windowSecs, r.targetCPU, r.harnessCPU, 100*r.busy)
	p("")

	// The first scrape builds the page's transient for the first time;
	// the slope is fitted from its end on.
	var xs, ys []float64
	maxRSS := 0.0
	steady := r.scrapes[0].timing.end
	for _, s := range r.rss {
		maxRSS = max(maxRSS, s.rss)
		if !s.at.Before(steady) {
			xs = append(xs, s.at.Sub(steady).Minutes())
			ys = append(ys, s.rss/(1<<20))
		}
	}
	slope, resid := fit(xs, ys)
	var gor, heap, held []float64
	for _, s := range r.scrapes {
		if s.err == nil {
			gor = append(gor, s.tally.goroutines)
			heap = append(heap, s.tally.heapInuse)
			held = append(held, s.tally.heapSys-s.tally.released)
		}
	}
	p("| memory | VmRSS at window start | at end | max in window (1 s samples) | VmHWM (peak since start) | slope after the first scrape (least squares) | Go heap in use, max | heap held from the OS, max | goroutines min / median / max |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	if len(r.rss) > 0 {
		p("| authprobe | %s | %s | %s | %s | %+.1f MiB/min (±%.0f MiB residual) | %s | %s | %.0f / %.0f / %.0f |",
			mib(r.rss[0].rss), mib(r.rss[len(r.rss)-1].rss), mib(maxRSS), mib(r.hwm), slope, resid,
			mib(slices.Max(heap)), mib(slices.Max(held)), slices.Min(gor), percentile(gor, .5), slices.Max(gor))
	}
	var perScrape []string
	for i := range heap {
		perScrape = append(perScrape, fmt.Sprintf("%.0f/%.0f", heap[i]/(1<<20), held[i]/(1<<20)))
	}
	p("")
	p("Go heap in use / held from the OS (go_memstats_heap_sys_bytes − go_memstats_heap_released_bytes) as each scrape read it (MiB): %s.", strings.Join(perScrape, ", "))
	var byHalfMinute []string
	for i, s := range r.rss {
		if i%30 == 0 {
			byHalfMinute = append(byHalfMinute, fmt.Sprintf("%.0f", s.rss/(1<<20)))
		}
	}
	p("")
	p("VmRSS every 30 s of the window (MiB): %s.", strings.Join(byHalfMinute, ", "))
	p("")
	p99 := percentile(dur, .99)
	p("| goal | measured | met |")
	p("|---|---|---|")
	p("| /metrics scrapeable, p99 scrape < 1 s | p99 %s over %d scrapes (%d failed), %d series | %s |", seconds(p99), len(r.scrapes), failed, last.series, yesNo(failed == 0 && p99 < 1))
	// In flight at the end: at most max_concurrency runs; not yet started:
	// what came due in the last p99 lateness.
	slack := float64(o.maxConcurrency) + rate*quantile(.99, late)
	p("| skips counted, none lost | %d–%d due, %.0f finished + %.0f skipped | %s |", r.dueLo, r.dueHi, runs, skips,
		yesNo(runs+skips >= float64(r.dueLo)-slack && runs+skips <= float64(r.dueHi)))
}
