// Command browser-bench measures sustained browser login journeys on this
// machine: the demo realm's single-page app login (navigate, fill, fill,
// click, wait for the URL and the greeting, extract the token from
// localStorage, then a jwt and an http step), run by authprobe's own engine
// with the browser pool (one long-lived Chromium, K tabs) and with a fresh
// Chromium for every run, as browser probes that launch a browser per run
// do. Each (mode, K) gets a window of its own, one after the other: K
// goroutines running journeys back to back, and then journeys started at a
// steady rate (-paced). For each window it reports journeys per minute, CPU
// seconds per journey (this process plus every Chromium process, from
// rusage) and the peak memory of the process tree (summed RSS, and PSS), as
// Markdown on stdout; progress goes to stderr. bench/README.md says how
// each figure is taken.
//
// Usage (from the repository; bench/run.sh runs it last):
//
//	go run ./bench/cmd/browser-bench [-window 60s] [-tabs 2,4] [-paced 30]
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/browser"
	"github.com/authprobe/authprobe/internal/demo"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/browserstep"
	_ "github.com/authprobe/authprobe/probes/kinds" // every step kind
)

type options struct {
	window    time.Duration
	tabs      []int
	recycle   int
	sample    time.Duration
	pssEvery  time.Duration
	chromiums []string // binaries; each gets both modes
	subreaper bool
	rounds    int
	paced     int // journeys per minute; 0: no paced windows
	pacedTabs int
	flags     []string // extra Chromium flags, for both modes
}

func main() {
	var o options
	role := flag.String("role", "", "internal: run as the demo realm (realm)")
	tabs := flag.String("tabs", "2,4", "K values: tabs in use at once, and journeys run concurrently")
	flag.DurationVar(&o.window, "window", 60*time.Second, "length of each mode's window")
	flag.IntVar(&o.recycle, "recycle-after", 100, "the pool's RecycleAfter")
	flag.DurationVar(&o.sample, "sample", 200*time.Millisecond, "memory sampling period")
	flag.DurationVar(&o.pssEvery, "pss-every", time.Second, "also sum PSS from /proc/PID/smaps_rollup this often (0: never)")
	chromiums := flag.String("chromium", "/usr/bin/chromium,/usr/lib/chromium/chromium-headless-shell", "Chromium binaries, comma-separated: each is measured in both modes; missing ones are skipped")
	flag.BoolVar(&o.subreaper, "subreaper", true, "become the child subreaper, so that every Chromium process is reaped here and its CPU counted (false shows what is lost without)")
	flag.IntVar(&o.rounds, "rounds", 1, "measure each (mode, K) this many times, alternating the modes")
	flag.IntVar(&o.paced, "paced", 30, "also measure both modes with journeys started at this steady rate, per minute (0: not)")
	flag.IntVar(&o.pacedTabs, "paced-tabs", 2, "K of the paced windows: the most journeys in flight at once")
	flag.Func("chromium-flag", "an extra Chromium flag for both modes (\"--name=value\"); repeatable", func(v string) error {
		o.flags = append(o.flags, v)
		return nil
	})
	flag.Parse()
	for f := range strings.SplitSeq(*tabs, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			fmt.Fprintf(os.Stderr, "browser-bench: -tabs %q: want a list of numbers ≥ 1\n", *tabs)
			os.Exit(2)
		}
		o.tabs = append(o.tabs, k)
	}
	for f := range strings.SplitSeq(*chromiums, ",") {
		f = strings.TrimSpace(f)
		if _, err := os.Stat(f); err != nil {
			logf("skipping %s: %v", f, err)
			continue
		}
		o.chromiums = append(o.chromiums, f)
	}
	if len(o.chromiums) == 0 {
		fmt.Fprintf(os.Stderr, "browser-bench: -chromium %q: none of these exists\n", *chromiums)
		os.Exit(2)
	}

	var err error
	switch *role {
	case "realm":
		err = serveRealm()
	case "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, o)
		stop()
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// serveRealm runs the demo realm on a loopback port, prints its URL, and
// serves until its stdin closes (the harness ended).
func serveRealm() error {
	realm, err := demo.New(os.Getenv("AUTHPROBE_DEMO_PASSWORD"), os.Getenv("AUTHPROBE_DEMO_CLIENT_SECRET"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	realm.SetIssuer(url)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println(url)
	return http.Serve(ln, realm.Handler())
}

// realmProc is the realm, a child process: its CPU is the target's, not
// authprobe's. It runs until the end, so it is never reaped inside a
// window and never counts in RUSAGE_CHILDREN.
type realmProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	url   string
}

func startRealm() (*realmProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-role", "realm")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make([]byte, 0, 64)
	var b [1]byte
	for {
		if _, err := stdout.Read(b[:]); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("the realm did not start: %w", err)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	return &realmProc{cmd: cmd, stdin: stdin, url: string(line)}, nil
}

func (r *realmProc) cpu() float64 {
	procs := readProcs()
	return float64(procs[r.cmd.Process.Pid].ticks) / clockTicks
}

func (r *realmProc) stop() {
	_ = r.stdin.Close()
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

func secret() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// mode is one way of running browsers.
type mode struct {
	name    string
	exec    string // the Chromium binary
	recycle int
	pool    bool
}

// result is one window.
type result struct {
	mode  string // the mode's name and the binary's
	pool  bool
	exec  string
	k     int
	rate  int // journeys started per minute; 0: back to back
	round int

	ok, failed int
	skipped    int            // paced starts that found K journeys in flight
	failures   map[string]int // "reason at step: message" → count
	seconds    float64        // from the first journey's start to the last one's end
	durations  []time.Duration

	cpuSelf, cpuChildren float64 // rusage deltas, the sampler taken out of cpuSelf
	liveCheck            float64 // CPU by /proc just before the shutdown, for the accounting check
	realmCPU             float64
	busy                 float64 // share of both CPUs busy over span
	span                 float64 // seconds from the first CPU reading to the last
	restarts             map[string]uint64
	mem                  samplerResult
	left                 int // our Chromium processes left after the shutdown
}

func (r result) load() string {
	if r.rate == 0 {
		return "back to back"
	}
	return fmt.Sprintf("paced %d/min", r.rate)
}

func (r result) cpu() float64        { return r.cpuSelf + r.cpuChildren }
func (r result) perMinute() float64  { return float64(r.ok) / r.seconds * 60 }
func (r result) perJourney() float64 { return r.cpu() / float64(r.ok) }
func (r result) quantile(q float64) time.Duration {
	if len(r.durations) == 0 {
		return 0
	}
	d := slices.Sorted(slices.Values(r.durations))
	return d[int(q*float64(len(d)-1))]
}

func run(ctx context.Context, o options) error {
	if o.subreaper {
		// Chromium's helpers (zygotes, renderers, utility processes) are
		// children of its main process. When a browser is killed they are
		// orphaned: with us as subreaper they come to us and the pool reaps
		// them, so their CPU lands in our RUSAGE_CHILDREN; without, they go
		// to init and their CPU is lost to this measurement.
		if err := browser.BecomeSubreaper(); err != nil {
			return err
		}
	}
	password, clientSecret := secret(), secret()
	os.Setenv("AUTHPROBE_DEMO_PASSWORD", password)
	os.Setenv("AUTHPROBE_DEMO_CLIENT_SECRET", clientSecret)
	realm, err := startRealm()
	if err != nil {
		return err
	}
	defer realm.stop()
	logf("demo realm at %s (pid %d)", realm.url, realm.cmd.Process.Pid)

	cfg, err := config.Parse(demo.Config(realm.url, []string{"127.0.0.1:1"}, true), filepath.Join(os.TempDir(), "browser-bench.yaml"))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	var j *probes.Journey
	for _, c := range journeys {
		if c.Name == "spa-login" {
			j = c
		}
	}
	if j == nil {
		return errors.New("the demo config has no spa-login journey")
	}

	// One journey outside any window: the page cache holds Chromium's
	// files, and the process's one-time set-up is done.
	var modes []mode
	for _, exe := range o.chromiums {
		browserstep.Configure(browser.Options{ExecPath: exe, MaxTabs: 1, Flags: o.flags})
		res := j.Execute(ctx, nil, j.Variants[0], "")
		browserstep.Shutdown()
		if res.Outcome != probes.OutcomeSuccess {
			return fmt.Errorf("warm-up journey with %s: %s at %s: %s", exe, res.Reason, res.FailedStep, res.Message)
		}
		logf("warm-up journey with %s ok in %v", exe, res.Duration.Round(time.Millisecond))
		modes = append(modes, mode{"pool", exe, o.recycle, true}, mode{"fresh browser per run", exe, 1, false})
	}
	type setup struct{ k, rate int }
	var setups []setup
	for _, k := range o.tabs {
		setups = append(setups, setup{k, 0})
	}
	if o.paced > 0 {
		setups = append(setups, setup{o.pacedTabs, o.paced})
	}
	var results []result
	for round := 1; round <= o.rounds; round++ {
		for i, su := range setups {
			// Rotate which mode goes first, so that none always follows
			// another.
			shift := (round + i) % len(modes)
			order := append(slices.Clone(modes[shift:]), modes[:shift]...)
			for _, m := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r := measure(ctx, o, j, realm, m, su.k, su.rate)
				r.round = round
				results = append(results, r)
			}
		}
	}
	report(os.Stdout, o, results)
	if _, left := liveTreeCPU(realm.cmd.Process.Pid); left != 0 {
		return errors.New("chromium processes are left")
	}
	return nil
}

// measure runs one window: K goroutines run the journey back to back
// until the window ends; the pool starts with no browser and is shut down
// after, so that every Chromium process of the window has been reaped when
// the CPU is read.
func measure(ctx context.Context, o options, j *probes.Journey, realm *realmProc, m mode, k, rate int) result {
	r := result{mode: fmt.Sprintf("%s, %s", m.name, filepath.Base(m.exec)), pool: m.pool, exec: m.exec, k: k, rate: rate, failures: map[string]int{}}
	exclude := realm.cmd.Process.Pid
	if _, n := liveTreeCPU(exclude); n > 0 {
		logf("warning: %d processes of ours before the window", n)
	}
	logf("%s, K=%d, %s: %v window", r.mode, k, r.load(), o.window)

	spanStart := time.Now()
	machine0 := readMachineCPU()
	realm0 := realm.cpu()
	self0, children0 := rusageCPU()
	smp := startSampler(o.sample, o.pssEvery, exclude)
	browserstep.Configure(browser.Options{ExecPath: m.exec, Browsers: 1, MaxTabs: k, RecycleAfter: m.recycle, Flags: o.flags})

	var mu sync.Mutex
	var wg sync.WaitGroup
	once := func() {
		res := j.Execute(ctx, nil, j.Variants[0], "")
		mu.Lock()
		defer mu.Unlock()
		if res.Outcome == probes.OutcomeSuccess {
			r.ok++
			r.durations = append(r.durations, res.Duration)
			return
		}
		r.failed++
		msg := res.Message
		if len(msg) > 120 {
			msg = msg[:120] + "…"
		}
		r.failures[fmt.Sprintf("%s %s at %s: %s", res.Outcome, res.Reason, res.FailedStep, msg)]++
	}
	start := time.Now()
	deadline := start.Add(o.window)
	if rate == 0 {
		// Back to back: K journeys in flight all the time.
		for range k {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					once()
				}
			})
		}
	} else {
		// A start every minute/rate, as a scheduler would; a start that
		// finds K journeys in flight is skipped.
		inFlight := make(chan struct{}, k)
		t := time.NewTicker(time.Minute / time.Duration(rate))
	loop:
		for {
			select {
			case inFlight <- struct{}{}:
				wg.Go(func() {
					defer func() { <-inFlight }()
					once()
				})
			default:
				r.skipped++
			}
			select {
			case <-t.C:
				if !time.Now().Before(deadline) {
					break loop
				}
			case <-ctx.Done():
				break loop
			}
		}
		t.Stop()
	}
	wg.Wait()
	r.seconds = time.Since(start).Seconds()
	if rate > 0 {
		// The rate is the starts' over the window; the last journey
		// ends after it.
		r.seconds = o.window.Seconds()
	}
	if st, ok := browserstep.Stats(); ok {
		r.restarts = st.Restarts
	}
	// The accounting check: the same total read from /proc before the
	// shutdown (live processes with what they reaped, plus our rusage).
	live, _ := liveTreeCPU(exclude)
	s, c := rusageCPU()
	r.liveCheck = live + s + c - self0 - children0

	browserstep.Shutdown()
	r.mem = smp.finish()
	self1, children1 := rusageCPU()
	r.realmCPU = realm.cpu() - realm0
	r.busy = busyShare(machine0, readMachineCPU())
	r.span = time.Since(spanStart).Seconds()
	r.cpuSelf = self1 - self0 - r.mem.threadCPU
	r.cpuChildren = children1 - children0
	r.liveCheck -= r.mem.threadCPU
	_, r.left = liveTreeCPU(exclude)
	logf("  %d ok, %d failed, %.1f/min, %.2f CPU s/journey (authprobe %.2f + Chromium %.2f in all), peak RSS %s, PSS %s; /proc before shutdown %.1f s, rusage after %.1f s; %d left",
		r.ok, r.failed, r.perMinute(), r.perJourney(), r.cpuSelf, r.cpuChildren, mib(r.mem.peak.rss), mib(r.mem.peak.pss), r.liveCheck, r.cpu(), r.left)
	for f, n := range r.failures {
		logf("  failure ×%d: %s", n, f)
	}
	return r
}

func report(w io.Writer, o options, results []result) {
	// Back to back first, then paced; by K; the pool before the fresh
	// browsers of the same round.
	results = slices.Clone(results)
	slices.SortStableFunc(results, func(a, b result) int {
		return cmp.Or(cmp.Compare(min(a.rate, 1), min(b.rate, 1)), cmp.Compare(a.rate, b.rate), cmp.Compare(a.k, b.k),
			cmp.Compare(a.round, b.round), cmp.Compare(a.exec, b.exec), cmp.Compare(b.mode, a.mode))
	})
	type key struct {
		exec           string
		round, k, rate int
	}
	pool := map[key]float64{}
	cheapest := map[key]float64{} // over the binaries; exec is ""
	for _, r := range results {
		if r.pool && r.ok > 0 {
			pool[key{r.exec, r.round, r.k, r.rate}] = r.perJourney()
			c := key{"", r.round, r.k, r.rate}
			if v, ok := cheapest[c]; !ok || r.perJourney() < v {
				cheapest[c] = r.perJourney()
			}
		}
	}

	fmt.Fprintf(w, "### Browser journeys: pool vs a fresh browser per run (%v per window)\n\n", o.window)
	fmt.Fprintln(w, "| mode | K | load | journeys ok (failed) | journeys/min | journey p50 / p95 | **CPU s / journey** | of which authprobe / Chromium | **fresh ÷ pool** (same binary) | fresh ÷ cheapest pool | **peak RSS** (authprobe + Chromium) | peak RSS, one browser | peak PSS | peak processes (browsers at the RSS peak) | browser restarts | machine busy (others) |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		ratio, ratioCheapest := "", ""
		if !r.pool {
			ratio, ratioCheapest = "—", "—"
			if p := pool[key{r.exec, r.round, r.k, r.rate}]; p > 0 && r.ok > 0 {
				ratio = fmt.Sprintf("**%.2f×**", r.perJourney()/p)
			}
			if p := cheapest[key{"", r.round, r.k, r.rate}]; p > 0 && r.ok > 0 {
				ratioCheapest = fmt.Sprintf("%.2f×", r.perJourney()/p)
			}
		}
		restarts := "—"
		if r.restarts != nil {
			var parts []string
			for _, c := range slices.Sorted(maps.Keys(r.restarts)) {
				if r.restarts[c] > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", c, r.restarts[c]))
				}
			}
			restarts = cmp.Or(strings.Join(parts, ", "), "0")
		}
		counts := fmt.Sprintf("%d (%d)", r.ok, r.failed)
		if r.skipped > 0 {
			counts += fmt.Sprintf(", %d skipped", r.skipped)
		}
		n := float64(max(r.ok, 1))
		fmt.Fprintf(w, "| %s | %d | %s | %s | %.1f | %.2f / %.2f s | **%.3f** | %.3f / %.3f | %s | %s | **%s** | %s | %s | %d (%d) | %s | %.0f %% (%.0f %%) |\n",
			r.mode, r.k, r.load(), counts, r.perMinute(),
			r.quantile(0.5).Seconds(), r.quantile(0.95).Seconds(),
			r.perJourney(), r.cpuSelf/n, r.cpuChildren/n, ratio, ratioCheapest,
			gib(r.mem.peak.rss), gib(r.mem.peakOneBrowser), gib(r.mem.peak.pss), r.mem.peak.procs, r.mem.browsersAtPeak, restarts, r.busy*100,
			max(0, r.busy-r.cpu()/(r.span*float64(runtime.NumCPU())))*100)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Where the CPU went, CPU s per journey. The authprobe process and the Chromium total are exact (rusage); Chromium by process type is each process's CPU as last sampled, so it misses the end of each process (up to one sample period) and processes shorter than that: that is \"unattributed\". The realm's CPU (the target, a process of its own) is counted nowhere else.")
	fmt.Fprintln(w)
	// Process types worth a column: 5 ms per journey somewhere.
	const other = "other"
	types := map[string]bool{}
	for _, r := range results {
		for t, v := range r.mem.byType {
			if v/float64(max(r.ok, 1)) >= 0.005 {
				types[t] = true
			}
		}
	}
	cols := slices.SortedFunc(maps.Keys(types), func(a, b string) int {
		// Largest first, by the first window's figures.
		return cmp.Or(cmp.Compare(results[0].mem.byType[b], results[0].mem.byType[a]), cmp.Compare(a, b))
	})
	cols = append(cols, other)
	fmt.Fprint(w, "| mode | K | load | authprobe process | Chromium total |")
	for _, t := range cols {
		fmt.Fprintf(w, " %s |", t)
	}
	fmt.Fprintln(w, " unattributed | realm |")
	fmt.Fprint(w, "|---|---:|---|---:|---:|")
	for range cols {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w, "---:|---:|")
	for _, r := range results {
		n := float64(max(r.ok, 1))
		fmt.Fprintf(w, "| %s | %d | %s | %.3f | %.3f |", r.mode, r.k, r.load(), r.cpuSelf/n, r.cpuChildren/n)
		var attributed, rest float64
		for t, v := range r.mem.byType {
			attributed += v
			if !types[t] {
				rest += v
			}
		}
		for _, t := range cols {
			v := r.mem.byType[t]
			if t == other {
				v = rest
			}
			fmt.Fprintf(w, " %.3f |", v/n)
		}
		fmt.Fprintf(w, " %.3f | %.3f |\n", (r.cpuChildren-attributed)/n, r.realmCPU/n)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Accounting check, CPU s in each window: read from /proc just before the shutdown (our rusage plus every live Chromium process with the children it reaped) and from rusage after it (every process reaped); the second is the figure, and it must not be lower. The sampler runs on a thread of its own whose CPU is taken out of both.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| mode | K | load | window s | /proc before shutdown | rusage after | sampler CPU s (samples, with PSS) | Chromium processes seen | left after |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %s | %.1f | %.2f | %.2f | %.2f (%d, %d) | %d | %d |\n",
			r.mode, r.k, r.load(), r.seconds, r.liveCheck, r.cpu(), r.mem.threadCPU, r.mem.samples, r.mem.pssSamples, r.mem.procsSeen, r.left)
	}
	var fails []string
	for _, r := range results {
		for f, n := range r.failures {
			fails = append(fails, fmt.Sprintf("- %s, K=%d, %s: ×%d %s", r.mode, r.k, r.load(), n, f))
		}
	}
	if len(fails) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Failures:")
		fmt.Fprintln(w)
		for _, f := range fails {
			fmt.Fprintln(w, f)
		}
	}
}

func gib(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return mib(b)
}
