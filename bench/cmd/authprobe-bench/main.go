// Command authprobe-bench measures authprobe against
// prometheus-blackbox-exporter and a bare Go HTTP loop, all probing the same
// loopback target at the same rate in the same window, and authprobe's
// memory and scheduling lateness with many configured journeys
// (-mode=compare, the default). -mode=overload runs authprobe with more
// journeys than the machine can run and measures its /metrics, skips and
// memory; -mode=soak runs it for a long time at a steady rate with
// injected failures and measures whether memory, goroutines or runs drift.
// It prints the results as Markdown; bench/README.md says what each figure
// means.
//
// Usage (from the repository; bench/run.sh builds authprobe first):
//
//	authprobe-bench -authprobe /path/to/authprobe [-window 60s] [-journeys 1000]
//	authprobe-bench -authprobe /path/to/authprobe -mode=overload [-overload-journeys 100000] [-overload-window 150s]
//	authprobe-bench -authprobe /path/to/authprobe -mode=soak [-soak-duration 30m] [-soak-warmup 5m]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	authprobe   string
	blackbox    string
	journeys    int
	rssJourneys int
	interval    time.Duration
	warmup      time.Duration
	window      time.Duration
	rssWarmup   time.Duration
	rssWindow   time.Duration
	scrapeEvery time.Duration
	keep        bool

	mode     string
	overload overloadOptions
	soak     soakOptions
}

func main() {
	var o options
	role := flag.String("role", "", "internal: run as the loopback target (target) or the bare loop (bare)")
	bareURL := flag.String("url", "", "internal: the URL the bare loop requests")
	bareEvery := flag.Duration("every", 10*time.Millisecond, "internal: the bare loop's period")
	failEvery := flag.Int("fail-every", 0, "internal: the target answers 503 to every n-th request (0: never)")
	flag.StringVar(&o.mode, "mode", "compare", "what to measure: compare (CPU side by side, memory, lateness), overload or soak")
	flag.StringVar(&o.authprobe, "authprobe", "", "authprobe binary; empty builds one from this module with go build")
	flag.StringVar(&o.blackbox, "blackbox", "/usr/bin/prometheus-blackbox-exporter", "blackbox_exporter binary")
	flag.IntVar(&o.journeys, "journeys", 1000, "journeys configured for the CPU comparison")
	flag.IntVar(&o.rssJourneys, "rss-journeys", 10000, "journeys configured for the memory and lateness run")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "interval of every journey; the peers are driven at journeys/interval")
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "time before the CPU window so that every journey has run")
	flag.DurationVar(&o.window, "window", 60*time.Second, "length of the CPU window, the same for all contenders")
	flag.DurationVar(&o.rssWarmup, "rss-warmup", 15*time.Second, "time before the memory run's window")
	flag.DurationVar(&o.rssWindow, "rss-window", 60*time.Second, "length of the memory run's window")
	flag.DurationVar(&o.scrapeEvery, "scrape-every", 15*time.Second, "scrape authprobe's /metrics this often during windows, as Prometheus would; 0 scrapes only at the window's ends")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs)")
	o.overload.flags()
	o.soak.flags()
	flag.Parse()

	var err error
	switch *role {
	case "target":
		err = serveTarget(*failEvery)
	case "bare":
		err = runBare(*bareURL, *bareEvery, 5*time.Second)
	case "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, o)
		stop()
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authprobe-bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// reading is what a contender had done at one moment.
type reading struct {
	countAt   time.Time // when the counts were asked for
	at        time.Time // when the CPU time was read
	cpu       float64   // seconds
	total, ok float64   // probes finished, and those that succeeded
}

// contender is one of the processes compared.
type contender struct {
	name   string
	proc   *child
	counts func(ctx context.Context) (total, ok float64, err error)
}

// read takes the counts first, then the CPU time, at both ends of a
// window: for authprobe the scrape at the start is outside the CPU window
// and the one at the end inside it, so the window holds exactly one
// scrape per -scrape-every.
func (c *contender) read(ctx context.Context) (reading, error) {
	countAt := time.Now()
	total, ok, err := c.counts(ctx)
	if err != nil {
		return reading{}, fmt.Errorf("%s: %w", c.name, err)
	}
	cpu, err := cpuSeconds(c.proc.pid())
	if err != nil {
		return reading{}, fmt.Errorf("%s: %w", c.name, err)
	}
	return reading{countAt: countAt, at: time.Now(), cpu: cpu, total: total, ok: ok}, nil
}

// result is a contender's work over a window.
type result struct {
	name              string
	seconds           float64 // wall time of the CPU window
	cpu               float64 // CPU seconds used in it
	probes, succeeded float64 // probes finished in the counting window
	countSeconds      float64 // wall time of the counting window
}

// rate is probes per second.
func (r result) rate() float64 { return r.probes / r.countSeconds }

// perThousand is CPU seconds per 1,000 probes. The counting window and the
// CPU window are nearly the same, but a scrape of a large /metrics page
// can take a second between the two readings, so the rate is what is
// carried over.
func (r result) perThousand() float64 { return r.cpu / (r.rate() * r.seconds) * 1000 }

func diff(name string, a, b reading) result {
	return result{name: name, seconds: b.at.Sub(a.at).Seconds(), cpu: b.cpu - a.cpu,
		probes: b.total - a.total, succeeded: b.ok - a.ok, countSeconds: b.countAt.Sub(a.countAt).Seconds()}
}

// authprobe is a running authprobe and its last scrape.
type authprobe struct {
	proc    *child
	addr    string
	client  *http.Client
	last    metrics
	scrapes int
}

func (a *authprobe) scrape(ctx context.Context) (metrics, error) {
	m, err := scrape(ctx, a.client, "http://"+a.addr+"/metrics")
	if err != nil {
		return nil, err
	}
	a.last = m
	a.scrapes++
	return m, nil
}

func (a *authprobe) counts(ctx context.Context) (total, ok float64, err error) {
	m, err := a.scrape(ctx)
	if err != nil {
		return 0, 0, err
	}
	return m.sum("authprobe_journey_runs_total", nil),
		m.sum("authprobe_journey_runs_total", map[string]string{"outcome": "success"}), nil
}

func (a *authprobe) lateness() []bucket {
	return a.last.histogram("authprobe_scheduler_start_lateness_seconds")
}

// bench holds the state of one harness run.
type bench struct {
	o        options
	dir      string
	kids     *children
	self     string
	target   string // URL of the loopback target
	targetPC *child
	report   report
}

func run(ctx context.Context, o options) (err error) {
	switch o.mode {
	case "compare":
		if o.journeys < 1 || o.rssJourneys < 1 || o.interval <= 0 || o.window <= 0 {
			return errors.New("-journeys, -rss-journeys, -interval and -window must be positive")
		}
	case "overload":
		if err := o.overload.check(); err != nil {
			return err
		}
	case "soak":
		if err := o.soak.check(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -mode %q: use compare, overload or soak", o.mode)
	}
	dir, err := os.MkdirTemp("", "authprobe-bench-")
	if err != nil {
		return err
	}
	b := &bench{o: o, dir: dir, kids: &children{dir: dir}}
	defer func() {
		b.kids.stopAll()
		if o.keep || (err != nil && !errors.Is(err, context.Canceled)) {
			logf("work directory kept: %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if o.authprobe == "" {
		b.o.authprobe = filepath.Join(dir, "authprobe")
		logf("building authprobe")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.o.authprobe, "github.com/authprobe/authprobe/cmd/authprobe")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building authprobe (run from inside the module, or pass -authprobe): %w", err)
		}
	}
	b.report.machine = describeMachine(b.o)
	b.report.o = b.o

	switch o.mode {
	case "overload":
		return b.runOverload(ctx)
	case "soak":
		return b.runSoak(ctx)
	}
	if err := b.startTarget(ctx); err != nil {
		return err
	}
	if err := b.compare(ctx); err != nil {
		return err
	}
	if err := b.manyJourneys(ctx); err != nil {
		return err
	}
	b.report.print(os.Stdout)
	return nil
}

// startTarget starts the loopback target as a child process, so that its
// CPU is nobody's, on a listener the harness opened (no port race); args
// go to it (-fail-every).
func (b *bench) startTarget(ctx context.Context, args ...string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return err
	}
	defer f.Close()
	b.targetPC, err = b.kids.start("target", nil, nil, []*os.File{f}, append([]string{b.self, "-role=target"}, args...)...)
	if err != nil {
		return err
	}
	b.target = "http://" + ln.Addr().String() + "/"
	return waitReady(ctx, b.targetPC, b.target, 10*time.Second)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeConfig writes an authprobe config of n single-GET journeys.
func (b *bench) writeConfig(n int) (string, error) {
	return b.writeJourneys(fmt.Sprintf("authprobe-%d.yaml", n), n, b.o.interval, 1000)
}

// writeJourneys writes an authprobe config of n single-GET journeys named
// by journeyName, every interval, with max_concurrency.
func (b *bench) writeJourneys(file string, n int, interval time.Duration, maxConcurrency int) (string, error) {
	path := filepath.Join(b.dir, file)
	var s strings.Builder
	fmt.Fprintf(&s, "global: { interval: %s, timeout: 5s, location: bench, max_concurrency: %d }\njourneys:\n", interval, maxConcurrency)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "  - name: %s\n    steps:\n      - name: get\n        http: { url: %q }\n        expect: { status: 200 }\n", journeyName(i), b.target)
	}
	return path, os.WriteFile(path, []byte(s.String()), 0o644)
}

// journeyName is the name of the i-th generated journey.
func journeyName(i int) string { return fmt.Sprintf("j%05d", i) }

// startAuthprobe runs authprobe with n journeys and waits until it is ready.
func (b *bench) startAuthprobe(ctx context.Context, n int) (*authprobe, error) {
	cfg, err := b.writeConfig(n)
	if err != nil {
		return nil, err
	}
	return b.startAuthprobeConfig(ctx, fmt.Sprintf("authprobe-%d", n), cfg)
}

// startAuthprobeConfig runs authprobe on a config file and waits until it
// is ready.
func (b *bench) startAuthprobeConfig(ctx context.Context, name, cfg string, args ...string) (*authprobe, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c, err := b.kids.start(name, nil, nil, nil, append([]string{b.o.authprobe, "run",
		"--config", cfg, "--web.listen-address", addr, "--log.level", "warn", "--config.watch=false"}, args...)...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, c, "http://"+addr+"/-/ready", 2*time.Minute); err != nil {
		return nil, err
	}
	return &authprobe{proc: c, addr: addr, client: &http.Client{Timeout: time.Minute}}, nil
}

// compare runs authprobe, blackbox_exporter and the bare loop side by side
// against the same target at the same rate, and measures them over the
// same window. An authprobe with one journey runs alongside for the
// memory baseline.
func (b *bench) compare(ctx context.Context) error {
	n := b.o.journeys
	period := b.o.interval / time.Duration(n)
	logf("side by side: %d journeys every %s = one probe every %s each, warm-up %s, window %s", n, b.o.interval, period, b.o.warmup, b.o.window)

	ap, err := b.startAuthprobe(ctx, n)
	if err != nil {
		return err
	}
	base, err := b.startAuthprobe(ctx, 1)
	if err != nil {
		return err
	}

	bbConfig := filepath.Join(b.dir, "blackbox.yml")
	if err := os.WriteFile(bbConfig, []byte("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n"), 0o644); err != nil {
		return err
	}
	bbAddr, err := freeAddr()
	if err != nil {
		return err
	}
	bb, err := b.kids.start("blackbox", nil, nil, nil, b.o.blackbox,
		"--config.file="+bbConfig, "--web.listen-address="+bbAddr, "--log.level=warn")
	if err != nil {
		return err
	}
	if err := waitReady(ctx, bb, "http://"+bbAddr+"/-/healthy", 30*time.Second); err != nil {
		return err
	}
	driver := &blackboxDriver{
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}, Timeout: 15 * time.Second},
		url:    "http://" + bbAddr + "/probe?module=http_2xx&target=" + url.QueryEscape(b.target),
	}

	// The bare loop's stdin and stdout are pipes the harness asks its
	// counts through.
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer inW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		return err
	}
	defer outR.Close()
	bare, err := b.kids.start("bare", outW, inR, nil, b.self, "-role=bare", "-url="+b.target, "-every="+period.String())
	inR.Close()
	outW.Close()
	if err != nil {
		return err
	}
	bc := &bareClient{in: inW, out: bufio.NewReader(outR)}

	driveCtx, stopDriving := context.WithCancel(ctx)
	driving := make(chan struct{})
	go func() {
		defer close(driving)
		pace(driveCtx, period, driver.probe)
	}()
	stopDriver := sync.OnceFunc(func() {
		stopDriving()
		<-driving
	})
	defer stopDriver()

	contenders := []*contender{
		{name: "authprobe", proc: ap.proc, counts: ap.counts},
		{name: "blackbox_exporter", proc: bb, counts: func(context.Context) (float64, float64, error) {
			return float64(driver.counts.total.Load()), float64(driver.counts.ok.Load()), nil
		}},
		{name: "bare Go loop", proc: bare, counts: func(context.Context) (float64, float64, error) { return bc.counts() }},
	}
	bystanders := []*contender{{name: "loopback target", proc: b.targetPC}, {name: "authprobe with 1 journey", proc: base.proc}}

	if err := sleep(ctx, b.o.warmup); err != nil {
		return err
	}
	logf("window starts")
	start := make([]reading, len(contenders))
	for i, c := range contenders {
		if start[i], err = c.read(ctx); err != nil {
			return err
		}
	}
	late0 := ap.lateness()
	scrapes0 := ap.scrapes
	others0 := cpuOf(bystanders)
	self0, _ := cpuSeconds(os.Getpid())
	m0, _ := readMachineCPU()

	if err := b.windowScrapes(ctx, ap, b.o.window, slices.Concat(contenders[1:], bystanders)); err != nil {
		return err
	}

	end := make([]reading, len(contenders))
	for i, c := range contenders {
		if end[i], err = c.read(ctx); err != nil {
			return err
		}
	}
	m1, _ := readMachineCPU()
	self1, _ := cpuSeconds(os.Getpid())
	others1 := cpuOf(bystanders)
	logf("window ends")

	r := &b.report
	for i, c := range contenders {
		r.side = append(r.side, diff(c.name, start[i], end[i]))
	}
	r.windowScrapes = ap.scrapes - scrapes0
	r.lateness1k = histogramDelta(late0, ap.lateness())
	r.skipped1k = ap.last.sum("authprobe_runs_skipped_total", nil)
	seconds := r.side[0].seconds
	for i, c := range bystanders {
		r.bystanders = append(r.bystanders, result{name: c.name, seconds: seconds, cpu: others1[i] - others0[i]})
	}
	r.bystanders = append(r.bystanders, result{name: "harness (driver, scrapes)", seconds: seconds, cpu: self1 - self0})
	if total := (m1.busy + m1.idle + m1.steal) - (m0.busy + m0.idle + m0.steal); total > 0 {
		r.machineBusy = (m1.busy - m0.busy) / total
		r.machineSteal = (m1.steal - m0.steal) / total
	}

	// What one scrape of /metrics costs authprobe, so the figure can be
	// given without the scrapes too: ten back to back, less what the
	// probes cost over the same time.
	rate := r.side[0].cpu / seconds
	c0, _ := cpuSeconds(ap.proc.pid())
	t0 := time.Now()
	const scrapes = 10
	for range scrapes {
		if _, err := ap.scrape(ctx); err != nil {
			return err
		}
	}
	c1, _ := cpuSeconds(ap.proc.pid())
	r.scrapeCost = max(0, (c1-c0-rate*time.Since(t0).Seconds())/scrapes)
	r.metricsSeries1k = len(ap.last)

	// Memory of the 1,000- and 1-journey processes, for the baseline.
	for _, x := range []struct {
		a    *authprobe
		into *memory
		n    int
	}{{ap, &r.mem1k, n}, {base, &r.mem1, 1}} {
		m, err := x.a.scrape(ctx)
		if err != nil {
			return err
		}
		*x.into = readMemory(x.a.proc.pid(), m, x.n)
	}
	bbRSS, _, _ := memStatus(bb.pid())
	r.blackboxRSS = bbRSS
	stopDriver()
	for _, c := range []*child{ap.proc, base.proc, bb, bare} {
		c.stop()
	}
	return nil
}

// windowScrapes waits out a window, scraping authprobe's /metrics every
// -scrape-every (the last scrape is the caller's end-of-window reading),
// and fails early if a contender dies.
func (b *bench) windowScrapes(ctx context.Context, ap *authprobe, window time.Duration, watch []*contender) error {
	deadline := time.Now().Add(window)
	next := time.Now().Add(b.o.scrapeEvery)
	for {
		wake := deadline
		if b.o.scrapeEvery > 0 && next.Before(deadline) {
			wake = next
		}
		if err := sleep(ctx, time.Until(wake)); err != nil {
			return err
		}
		for _, c := range append([]*contender{{name: "authprobe", proc: ap.proc}}, watch...) {
			if c.proc.exited() {
				return fmt.Errorf("%s exited during the window: %s", c.name, c.proc.tail())
			}
		}
		if !wake.Before(deadline) {
			return nil
		}
		if _, err := ap.scrape(ctx); err != nil {
			return err
		}
		next = next.Add(b.o.scrapeEvery)
	}
}

// manyJourneys runs authprobe alone with -rss-journeys journeys and
// measures its memory and how late its runs start.
func (b *bench) manyJourneys(ctx context.Context) error {
	n := b.o.rssJourneys
	logf("memory and lateness: %d journeys every %s, warm-up %s, window %s", n, b.o.interval, b.o.rssWarmup, b.o.rssWindow)
	ap, err := b.startAuthprobe(ctx, n)
	if err != nil {
		return err
	}
	if err := sleep(ctx, b.o.rssWarmup); err != nil {
		return err
	}
	r := &b.report
	r.rssUnscraped, _, _ = memStatus(ap.proc.pid())
	c := &contender{name: "authprobe", proc: ap.proc, counts: ap.counts}
	start, err := c.read(ctx)
	if err != nil {
		return err
	}
	late0 := ap.lateness()
	if err := b.windowScrapes(ctx, ap, b.o.rssWindow, nil); err != nil {
		return err
	}
	end, err := c.read(ctx)
	if err != nil {
		return err
	}
	r.many = diff("authprobe", start, end)
	r.lateness10k = histogramDelta(late0, ap.lateness())
	r.skipped10k = ap.last.sum("authprobe_runs_skipped_total", nil)
	r.mem10k = readMemory(ap.proc.pid(), ap.last, n)
	ap.proc.stop()
	return nil
}

// memory is a process's memory figures.
type memory struct {
	journeys   int
	rss, hwm   float64 // VmRSS, VmHWM
	promRSS    float64 // process_resident_memory_bytes
	heapInuse  float64 // go_memstats_heap_inuse_bytes
	goroutines float64
}

func readMemory(pid int, m metrics, n int) memory {
	rss, hwm, _ := memStatus(pid)
	return memory{journeys: n, rss: rss, hwm: hwm,
		promRSS:    m.sum("process_resident_memory_bytes", nil),
		heapInuse:  m.sum("go_memstats_heap_inuse_bytes", nil),
		goroutines: m.sum("go_goroutines", nil)}
}

func cpuOf(cs []*contender) []float64 {
	out := make([]float64, len(cs))
	for i, c := range cs {
		out[i], _ = cpuSeconds(c.proc.pid())
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// machine describes where the benchmark ran.
type machine struct {
	cpus       string
	model      string
	kernel     string
	memory     string
	goVersion  string
	blackbox   string
	authprobe  string
	clockTicks float64
	date       string
}

func describeMachine(o options) machine {
	m := machine{cpus: fmt.Sprint(runtime.NumCPU()), goVersion: runtime.Version(), clockTicks: clockTicks,
		date: time.Now().UTC().Format("2006-01-02 15:04 MST")}
	if out, err := exec.Command("nproc").Output(); err == nil {
		m.cpus = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		var kb float64
		if _, err := fmt.Sscanf(line, "MemTotal: %g kB", &kb); err == nil {
			m.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	if out, err := exec.Command(o.blackbox, "--version").CombinedOutput(); err == nil {
		m.blackbox, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	if out, err := exec.Command(o.authprobe, "version").CombinedOutput(); err == nil {
		m.authprobe, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return m
}

// report is everything measured, printed as Markdown.
type report struct {
	o       options
	machine machine

	side            []result // authprobe, blackbox_exporter, bare Go loop
	bystanders      []result
	machineBusy     float64
	machineSteal    float64
	windowScrapes   int
	scrapeCost      float64
	metricsSeries1k int
	lateness1k      []bucket
	skipped1k       float64
	mem1, mem1k     memory
	blackboxRSS     float64

	many         result
	mem10k       memory
	rssUnscraped float64
	lateness10k  []bucket
	skipped10k   float64
}

func (r *report) print(w io.Writer) {
	o, m := r.o, r.machine
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("### Machine\n")
	p("- CPUs (nproc): %s — %s", m.cpus, m.model)
	p("- Memory: %s; kernel: %s; clock ticks: %g/s", m.memory, m.kernel, m.clockTicks)
	p("- Go: %s; %s; authprobe: %s", m.goVersion, m.blackbox, m.authprobe)
	p("- Date: %s", m.date)
	p("")

	ap, bb, bare := r.side[0], r.side[1], r.side[2]
	rate := float64(o.journeys) / o.interval.Seconds()
	p("### CPU per 1,000 probes — side by side, one window\n")
	p("%d journeys (one GET each) every %s = %.0f probes/s per contender, all three at once against one loopback target; warm-up %s, window %.1f s. authprobe's /metrics scraped every %s in the window (%d scrapes counted).\n",
		o.journeys, o.interval, rate, o.warmup, ap.seconds, o.scrapeEvery, r.windowScrapes)
	exScrape := ap
	exScrape.name = "authprobe without its scrapes (estimate)"
	exScrape.cpu -= float64(r.windowScrapes) * r.scrapeCost
	p("| contender | probes in window (ok) | probes/s | CPU s in window | **CPU s / 1,000 probes** | ÷ blackbox_exporter | ÷ bare Go loop |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	for _, x := range r.side {
		p("| %s | %.0f (%.0f) | %.1f | %.2f | **%.3f** | %.2f× | %.2f× |", x.name, x.probes, x.succeeded, x.rate(), x.cpu, x.perThousand(), x.perThousand()/bb.perThousand(), x.perThousand()/bare.perThousand())
	}
	p("| %s | | | %.2f | %.3f | %.2f× | %.2f× |", exScrape.name, exScrape.cpu, exScrape.perThousand(), exScrape.perThousand()/bb.perThousand(), exScrape.perThousand()/bare.perThousand())
	p("")
	p("- Ratios: authprobe ÷ blackbox_exporter = **%.2f**; authprobe ÷ bare Go loop = **%.2f**; blackbox_exporter ÷ bare = %.2f.",
		ap.perThousand()/bb.perThousand(), ap.perThousand()/bare.perThousand(), bb.perThousand()/bare.perThousand())
	p("- One scrape of authprobe's /metrics (%d series with %d journeys) costs about %.0f ms CPU.", r.metricsSeries1k, o.journeys, r.scrapeCost*1000)
	var by []string
	for _, x := range r.bystanders {
		by = append(by, fmt.Sprintf("%s %.2f s", x.name, x.cpu))
	}
	p("- Not counted, CPU in the same window: %s. Machine busy %.0f%% of %s CPUs, steal %.1f%%.", strings.Join(by, ", "), r.machineBusy*100, m.cpus, r.machineSteal*100)
	p("- authprobe runs skipped since start (overlap or concurrency): %.0f.", r.skipped1k)
	p("")

	p("### Memory\n")
	p("| authprobe with | VmRSS | VmHWM (peak) | process_resident_memory_bytes | Go heap in use | goroutines | RSS ÷ journeys | (RSS − 1-journey RSS) ÷ (journeys − 1) |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range []memory{r.mem1, r.mem1k, r.mem10k} {
		marginal := "—"
		if x.journeys > 1 {
			marginal = fmt.Sprintf("%.1f KiB", (x.rss-r.mem1.rss)/float64(x.journeys-1)/1024)
		}
		p("| %s | %s | %s | %s | %s | %.0f | %.1f KiB | %s |", plural(x.journeys, "journey"), mib(x.rss), mib(x.hwm), mib(x.promRSS), mib(x.heapInuse), x.goroutines, x.rss/float64(x.journeys)/1024, marginal)
	}
	p("")
	p("- %d journeys: VmRSS after the warm-up, before its /metrics was first scraped: %s; the row above is at the end of its window, after scrapes every %s.", o.rssJourneys, mib(r.rssUnscraped), o.scrapeEvery)
	p("- blackbox_exporter's VmRSS in the side-by-side run, for scale: %s.", mib(r.blackboxRSS))
	p("- The %d-journey run does %.0f probes/s (%.0f ok in %.1f s); its CPU: %.3f s per 1,000 probes; runs skipped since start: %.0f.",
		o.rssJourneys, r.many.rate(), r.many.succeeded, r.many.countSeconds, r.many.perThousand(), r.skipped10k)
	p("")

	p("### Start lateness (authprobe_scheduler_start_lateness_seconds, over each window)\n")
	p("Buckets: %s. Quantiles interpolate linearly inside a bucket as histogram_quantile does, so they are only as fine as the bucket they fall in; the share ≤ 50 ms is exact because 50 ms is a bucket bound.\n", bounds(r.lateness1k))
	p("| run | starts | p50 | p90 | p99 | share ≤ 50 ms |")
	p("|---|---:|---:|---:|---:|---:|")
	for _, x := range []struct {
		name string
		h    []bucket
	}{{fmt.Sprintf("%d journeys", o.journeys), r.lateness1k}, {fmt.Sprintf("%d journeys", o.rssJourneys), r.lateness10k}} {
		count := 0.0
		if len(x.h) > 0 {
			count = x.h[len(x.h)-1].count
		}
		p("| %s | %.0f | %s | %s | %s | %.2f%% |", x.name, count, ms(quantile(.5, x.h)), ms(quantile(.9, x.h)), ms(quantile(.99, x.h)), fractionAtMost(.05, x.h)*100)
	}
	p("")

	p("### Goals\n")
	p("| goal | measured | met |")
	p("|---|---|---|")
	p("| CPU per probe ≤ blackbox_exporter's | %.3f vs %.3f CPU s / 1,000 probes (%.2f×) | %s |", ap.perThousand(), bb.perThousand(), ap.perThousand()/bb.perThousand(), yesNo(ap.perThousand() <= bb.perThousand()))
	perJ := r.mem10k.rss / float64(r.mem10k.journeys) / 1024
	p("| ≤ 50 KiB RSS per configured journey (%d journeys) | %.1f KiB (%.1f KiB marginal) | %s |", o.rssJourneys, perJ, (r.mem10k.rss-r.mem1.rss)/float64(r.mem10k.journeys-1)/1024, yesNo(perJ <= 50))
	p99a, p99b := quantile(.99, r.lateness1k), quantile(.99, r.lateness10k)
	p("| p99 start lateness ≤ 50 ms | %s with %d, %s with %d journeys | %s |", ms(p99a), o.journeys, ms(p99b), o.rssJourneys, yesNo(p99a <= .05 && p99b <= .05))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func ms(s float64) string {
	if math.IsNaN(s) {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
