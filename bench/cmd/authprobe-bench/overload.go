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
	"sync"
	"time"

	"github.com/authprobe/authprobe/config"
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
	shards         int
}

func (o *overloadOptions) flags() {
	flag.IntVar(&o.journeys, "overload-journeys", 100000, "overload: journeys configured (single GETs against the loopback target)")
	flag.DurationVar(&o.interval, "overload-interval", 30*time.Second, "overload: interval of every journey; the demand is journeys ÷ interval runs/s")
	flag.IntVar(&o.maxConcurrency, "overload-concurrency", 64, "overload: global.max_concurrency")
	flag.DurationVar(&o.warmup, "overload-warmup", 40*time.Second, "overload: time after ready before the window, so that every journey has come due")
	flag.DurationVar(&o.window, "overload-window", 150*time.Second, "overload: length of the window in which /metrics is scraped")
	flag.DurationVar(&o.scrapeEvery, "overload-scrape-every", 2*time.Second, "overload: start a scrape this often; one that takes longer is followed by the next at once, never overlapped")
	flag.DurationVar(&o.scrapeTimeout, "overload-scrape-timeout", 2*time.Minute, "overload: give up on a scrape after this long (counted as failed)")
	flag.IntVar(&o.shards, "overload-shards", 1, "overload: authprobe processes, each running one shard of the config (--shard=I/N)")
}

func (o *overloadOptions) check() error {
	if o.journeys < 1 || o.interval <= 0 || o.maxConcurrency < 1 || o.window <= 0 || o.scrapeEvery <= 0 || o.scrapeTimeout <= 0 || o.shards < 1 {
		return errors.New("-overload-journeys, -overload-interval, -overload-concurrency, -overload-window, -overload-scrape-every, -overload-scrape-timeout and -overload-shards must be positive")
	}
	return nil
}

// scrapeResult is one scrape of the overload window.
type scrapeResult struct {
	timing scrapeTiming
	tally  tally
	err    error
}

// readAt is when a scrape's counters were read: authprobe writes the
// journey series while the page streams, so between the request and the
// last byte; the middle is taken.
func (s scrapeResult) readAt() time.Time {
	return s.timing.start.Add(s.timing.end.Sub(s.timing.start) / 2)
}

// overloadReport is everything the overload mode measured.
type overloadReport struct {
	o          overloadOptions
	machine    machine
	ready      time.Duration // until every shard was ready
	shards     []*shardRun
	windowSecs float64
	targetCPU  float64
	harnessCPU float64
	busy       float64 // share of the machine's CPUs busy in the window
}

// shardRun is one authprobe process of the overload: the whole config,
// or with -overload-shards one shard of it.
type shardRun struct {
	shard   config.Shard
	ap      *authprobe
	scrapes []scrapeResult
	first   scrapeResult // the first and last good scrapes bound the window
	last    scrapeResult
	due     int64 // runs of the shard's journeys that came due between their readings
	// dueLo and dueHi bound due: the counters were read somewhere between
	// each scrape's request and its last byte.
	dueLo, dueHi int64
	cpu          float64 // CPU seconds in the window
	rss          []rssSample
	hwm          float64
}

// runOverload runs authprobe with -overload-journeys journeys, more than
// the machine can run, and scrapes its /metrics the whole window; with
// -overload-shards N it runs N processes, each one shard of the config
// (--shard=I/N), and scrapes each of them so.
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
	logf("overload: %d journeys every %s = %.0f runs/s demanded, %d process(es), max_concurrency %d each; warm-up %s, window %s, a scrape of each every %s",
		o.journeys, o.interval, rate, o.shards, o.maxConcurrency, o.warmup, o.window, o.scrapeEvery)
	began := time.Now()
	r := &overloadReport{o: o, machine: b.report.machine}
	for i := range o.shards {
		sh := &shardRun{shard: config.Shard{Index: i, Total: o.shards}}
		var args []string
		if o.shards > 1 {
			args = []string{"--shard", sh.shard.String()}
		}
		if sh.ap, err = b.startAuthprobeConfig(ctx, fmt.Sprintf("authprobe-overload-%d", i), cfg, args...); err != nil {
			return err
		}
		r.shards = append(r.shards, sh)
	}
	r.ready = time.Since(began)
	logf("ready after %s", r.ready.Round(time.Millisecond))
	var stops []func() []rssSample
	for _, sh := range r.shards {
		stops = append(stops, sampleRSS(ctx, sh.ap.proc.pid(), time.Second))
	}
	stopRSS := func() {
		for i, stop := range stops {
			r.shards[i].rss = stop()
		}
	}
	if err := sleep(ctx, o.warmup); err != nil {
		stopRSS()
		return err
	}

	self := os.Getpid()
	cpu0 := make([]float64, len(r.shards))
	for i, sh := range r.shards {
		cpu0[i], _ = cpuSeconds(sh.ap.proc.pid())
	}
	target0, _ := cpuSeconds(b.targetPC.pid())
	self0, _ := cpuSeconds(self)
	m0, _ := readMachineCPU()
	at0 := time.Now()
	deadline := at0.Add(o.window)
	logf("window starts")
	errs := make([]error, len(r.shards))
	var wg sync.WaitGroup
	for i, sh := range r.shards {
		// Like Prometheus, which spreads its targets' scrapes over the
		// interval, each process is scraped at its own offset.
		offset := o.scrapeEvery * time.Duration(i) / time.Duration(len(r.shards))
		wg.Go(func() { errs[i] = sh.scrapeUntil(ctx, o, at0.Add(offset), deadline) })
	}
	wg.Wait()
	for i, sh := range r.shards {
		cpu1, _ := cpuSeconds(sh.ap.proc.pid())
		sh.cpu = cpu1 - cpu0[i]
	}
	target1, _ := cpuSeconds(b.targetPC.pid())
	self1, _ := cpuSeconds(self)
	m1, _ := readMachineCPU()
	r.windowSecs = time.Since(at0).Seconds()
	r.targetCPU, r.harnessCPU = target1-target0, self1-self0
	if total := (m1.busy + m1.idle + m1.steal) - (m0.busy + m0.idle + m0.steal); total > 0 {
		r.busy = (m1.busy - m0.busy) / total
	}
	stopRSS()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logf("window ends")
	for _, sh := range r.shards {
		_, sh.hwm, _ = memStatus(sh.ap.proc.pid())
		sh.rss = slices.DeleteFunc(sh.rss, func(s rssSample) bool { return s.at.Before(at0) })
		var good []scrapeResult
		for _, s := range sh.scrapes {
			if s.err == nil {
				good = append(good, s)
			}
		}
		if len(good) < 2 {
			return fmt.Errorf("shard %s: fewer than two scrapes succeeded in the window (%d tried)", sh.shard, len(sh.scrapes))
		}
		sh.first, sh.last = good[0], good[len(good)-1]
		due := func(a, b time.Time) int64 { return dueRuns(o.journeys, o.interval, a, b, sh.shard) }
		sh.due = due(sh.first.readAt(), sh.last.readAt())
		sh.dueLo = due(sh.first.timing.end, sh.last.timing.start)
		sh.dueHi = due(sh.first.timing.start, sh.last.timing.end)
		sh.ap.proc.stop()
	}
	r.print(os.Stdout)
	return nil
}

// scrapeUntil scrapes the shard's /metrics from first on, every
// -overload-scrape-every (the next at once when one takes longer), until
// the deadline.
func (sh *shardRun) scrapeUntil(ctx context.Context, o overloadOptions, first, deadline time.Time) error {
	client := &http.Client{Timeout: o.scrapeTimeout}
	url := "http://" + sh.ap.addr + "/metrics"
	if err := sleep(ctx, time.Until(first)); err != nil {
		return err
	}
	for {
		t, tm, err := scrapeTally(ctx, client, url)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if tm.end.IsZero() {
			tm.end = time.Now()
		}
		if tm.firstByte.IsZero() {
			tm.firstByte = tm.end
		}
		sh.scrapes = append(sh.scrapes, scrapeResult{tm, t, err})
		if err != nil {
			logf("shard %s: scrape failed after %s: %v", sh.shard, tm.duration().Round(time.Millisecond), err)
		} else {
			rss, _, _ := memStatus(sh.ap.proc.pid())
			logf("shard %s: scrape %d: %s (first byte %s), %d series, %.0f goroutines, VmRSS %s, heap in use %s, held %s",
				sh.shard, len(sh.scrapes), tm.duration().Round(time.Millisecond), tm.firstByte.Sub(tm.start).Round(time.Millisecond), t.series, t.goroutines,
				mib(rss), mib(t.heapInuse), mib(t.heapSys-t.released))
		}
		if sh.ap.proc.exited() {
			return fmt.Errorf("authprobe (shard %s) exited during the window: %s", sh.shard, sh.ap.proc.tail())
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		if err := sleep(ctx, time.Until(tm.start.Add(o.scrapeEvery))); err != nil {
			return err
		}
	}
}

func (r *overloadReport) print(w io.Writer) {
	o, m := r.o, r.machine
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	rate := float64(o.journeys) / o.interval.Seconds()
	p("### Machine\n")
	p("- CPUs (nproc): %s — %s; memory %s; %s; Go %s; authprobe: %s", m.cpus, m.model, m.memory, m.kernel, m.goVersion, m.authprobe)
	p("- Date: %s", m.date)
	p("")
	procs := "one process"
	if o.shards > 1 {
		procs = fmt.Sprintf("%d processes, each one shard (`--shard=I/%d`)", o.shards, o.shards)
	}
	p("### Overload: %d journeys every %s (%.0f runs/s demanded), %s, max_concurrency %d\n", o.journeys, o.interval, rate, procs, o.maxConcurrency)
	p("Ready (`/-/ready` answers 200) %s after the start; warm-up %s; window %.1f s, a scrape of each process started every %s (the next at once when one takes longer), as Prometheus would with gzip.\n",
		r.ready.Round(10*time.Millisecond), o.warmup, r.windowSecs, o.scrapeEvery)

	// Scrapes of every process together; a page's size is the sum of the
	// processes' last pages.
	var dur, gather []float64
	scrapes, failed := 0, 0
	var series int
	var wire, text int64
	for _, sh := range r.shards {
		for _, s := range sh.scrapes {
			scrapes++
			if s.err != nil {
				failed++
				continue
			}
			dur = append(dur, s.timing.duration().Seconds())
			gather = append(gather, s.timing.firstByte.Sub(s.timing.start).Seconds())
		}
		series += sh.last.tally.series
		wire += sh.last.tally.wireBytes
		text += sh.last.tally.textBytes
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
	p("| %d (%d) | %s | %s | **%s** | %s | %s / %s | %d | %d | %d | %s | %s |", scrapes, failed,
		seconds(percentile(dur, .5)), seconds(percentile(dur, .9)), seconds(percentile(dur, .99)), seconds(slices.Max(dur)),
		seconds(percentile(gather, .5)), seconds(slices.Max(gather)), over(1), over(10), series, mib(float64(wire)), mib(float64(text)))
	p("")
	if len(dur) <= 60 {
		var parts []string
		for _, d := range dur {
			parts = append(parts, fmt.Sprintf("%.2f", d))
		}
		p("Every scrape, in order (s): %s.\n", strings.Join(parts, ", "))
	}

	// Runs: each process's counters between its own first and last
	// reading, against the runs of its own journeys that came due between
	// them; rates are summed over the processes.
	var due, dueLo, dueHi int64
	var runs, skips, perSecond, spans float64
	skipped, skippedRate := map[string]float64{}, map[string]float64{}
	outcomes, reasons := map[string]float64{}, map[string]float64{}
	var late []bucket
	for _, sh := range r.shards {
		a, b := sh.first.tally, sh.last.tally
		span := sh.last.readAt().Sub(sh.first.readAt()).Seconds()
		spans += span / float64(len(r.shards))
		due, dueLo, dueHi = due+sh.due, dueLo+sh.dueLo, dueHi+sh.dueHi
		runs += b.runs - a.runs
		perSecond += (b.runs - a.runs) / span
		skips += b.skips() - a.skips()
		for c, v := range b.skipped {
			skipped[c] += v - a.skipped[c]
			skippedRate[c] += (v - a.skipped[c]) / span
		}
		for k, v := range b.byOutcome {
			outcomes[k] += v - a.byOutcome[k]
		}
		for k, v := range b.byReason {
			reasons[k] += v - a.byReason[k]
		}
		late = addBuckets(late, histogramDelta(a.lateness, b.lateness))
	}
	dueRate := rate
	rest := float64(due) - runs - skips
	p("Runs between the first and the last scrape's reading (%.1f s; each reading is the middle of its scrape's request and last byte):\n", spans)
	p("| | runs | per second | share of due |")
	p("|---|---:|---:|---:|")
	p("| came due (exact, from the fixed offsets; %d–%d within the readings' bounds) | %d | %.0f | 100 %% |", dueLo, dueHi, due, dueRate)
	p("| finished (authprobe_journey_runs_total) | %.0f | **%.0f** | %.1f %% |", runs, perSecond, 100*runs/float64(due))
	for _, c := range slices.Sorted(maps.Keys(skipped)) {
		p("| skipped, cause=%q | %.0f | %.0f | %.1f %% |", c, skipped[c], skippedRate[c], 100*skipped[c]/float64(due))
	}
	p("| neither (in flight at the end, not started, or the readings' uncertainty) | %.0f | %.0f | %.1f %% |", rest, rest/spans, 100*rest/float64(due))
	p("")
	var outs []string
	for _, k := range slices.Sorted(maps.Keys(outcomes)) {
		outs = append(outs, fmt.Sprintf("%s %.0f", k, outcomes[k]))
	}
	var failures []string
	for _, k := range slices.Sorted(maps.Keys(reasons)) {
		if reasons[k] > 0 {
			failures = append(failures, fmt.Sprintf("%s %.0f", k, reasons[k]))
		}
	}
	if len(failures) == 0 {
		failures = []string{"none"}
	}
	p("- Outcomes of the finished runs: %s; not successful, by outcome/reason: %s.", strings.Join(outs, ", "), strings.Join(failures, ", "))
	p("- Start lateness (authprobe_scheduler_start_lateness_seconds, same span): p50 %s, p99 %s, %.2f %% of starts within 1 s (the highest bucket).",
		ms(quantile(.5, late)), ms(quantile(.99, late)), 100*fractionAtMost(1, late))
	var cpu float64
	for _, sh := range r.shards {
		cpu += sh.cpu
	}
	p("- CPU in the window: authprobe %.1f s (%.2f CPUs), target %.1f s, harness (scrapes, decompressing and reading the page) %.1f s; the machine was %.0f %% busy.",
		cpu, cpu/r.windowSecs, r.targetCPU, r.harnessCPU, 100*r.busy)
	p("")

	p("| memory | VmRSS at window start | at end | max in window (1 s samples) | VmHWM (peak since start) | slope after the first scrape (least squares) | Go heap in use, max | heap held from the OS, max | goroutines min / median / max |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	var sum [7]float64
	for _, sh := range r.shards {
		// The first scrape builds the page's transient for the first
		// time; the slope is fitted from its end on.
		var xs, ys []float64
		maxRSS := 0.0
		steady := sh.scrapes[0].timing.end
		for _, s := range sh.rss {
			maxRSS = max(maxRSS, s.rss)
			if !s.at.Before(steady) {
				xs = append(xs, s.at.Sub(steady).Minutes())
				ys = append(ys, s.rss/(1<<20))
			}
		}
		slope, resid := fit(xs, ys)
		var gor, heap, held []float64
		for _, s := range sh.scrapes {
			if s.err == nil {
				gor = append(gor, s.tally.goroutines)
				heap = append(heap, s.tally.heapInuse)
				held = append(held, s.tally.heapSys-s.tally.released)
			}
		}
		if len(sh.rss) == 0 {
			continue
		}
		first, last := sh.rss[0].rss, sh.rss[len(sh.rss)-1].rss
		name := "authprobe"
		if len(r.shards) > 1 {
			name = "shard " + sh.shard.String()
		}
		p("| %s | %s | %s | %s | %s | %+.1f MiB/min (±%.0f MiB residual) | %s | %s | %.0f / %.0f / %.0f |", name,
			mib(first), mib(last), mib(maxRSS), mib(sh.hwm), slope, resid,
			mib(slices.Max(heap)), mib(slices.Max(held)), slices.Min(gor), percentile(gor, .5), slices.Max(gor))
		for i, v := range []float64{first, last, maxRSS, sh.hwm, slope, slices.Max(heap), slices.Max(held)} {
			sum[i] += v
		}
		if len(r.shards) == 1 {
			var perScrape []string
			for i := range heap {
				perScrape = append(perScrape, fmt.Sprintf("%.0f/%.0f", heap[i]/(1<<20), held[i]/(1<<20)))
			}
			defer p("Go heap in use / held from the OS (go_memstats_heap_sys_bytes − go_memstats_heap_released_bytes) as each scrape read it (MiB): %s.\n", strings.Join(perScrape, ", "))
			var byHalfMinute []string
			for i, s := range sh.rss {
				if i%30 == 0 {
					byHalfMinute = append(byHalfMinute, fmt.Sprintf("%.0f", s.rss/(1<<20)))
				}
			}
			defer p("VmRSS every 30 s of the window (MiB): %s.\n", strings.Join(byHalfMinute, ", "))
		}
	}
	if len(r.shards) > 1 {
		p("| all shards (sums; the max and peak columns sum each shard's own) | %s | %s | %s | %s | %+.1f MiB/min | %s | %s | |",
			mib(sum[0]), mib(sum[1]), mib(sum[2]), mib(sum[3]), sum[4], mib(sum[5]), mib(sum[6]))
	}
	p("")
	p99 := percentile(dur, .99)
	p("| goal | measured | met |")
	p("|---|---|---|")
	p("| /metrics scrapeable, p99 scrape < 1 s | p99 %s over %d scrapes (%d failed), %d series | %s |", seconds(p99), scrapes, failed, series, yesNo(failed == 0 && p99 < 1))
	// In flight at the end: at most max_concurrency runs per process; not
	// yet started: what came due in the last p99 lateness.
	slack := float64(o.maxConcurrency*len(r.shards)) + rate*quantile(.99, late)
	p("| skips counted, none lost | %d–%d due, %.0f finished + %.0f skipped | %s |", dueLo, dueHi, runs, skips,
		yesNo(runs+skips >= float64(dueLo)-slack && runs+skips <= float64(dueHi)))
	p("")
}

// addBuckets adds cumulative buckets of the same layout.
func addBuckets(sum, b []bucket) []bucket {
	if sum == nil {
		return slices.Clone(b)
	}
	for i := range sum {
		for _, x := range b {
			if x.le == sum[i].le {
				sum[i].count += x.count
			}
		}
	}
	return sum
}
