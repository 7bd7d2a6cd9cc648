// Package browser keeps a small pool of long-lived Chromium browsers and hands
// out tabs that are isolated from each other like incognito windows.
//
// Starting Chromium costs about half a second and a few hundred MiB, so a
// journey borrows a tab in a browser that already runs. Each tab lives in a
// browser context of its own (fresh cookies, storage and cache), which is
// disposed of when the tab is released. Chromium leaks a little with every
// context, so a browser is replaced after a number of runs or when its memory
// passes a limit, and at once when it crashes or stops answering.
//
// Chromium starts in a process group of its own. Stopping a browser kills the
// whole group, and the processes that left it (crash handlers), and reaps the
// zombies, so that nothing outlives the pool.
package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// Options configure a Pool; zero values take the defaults in brackets.
//
// MaxRSS is checked when a Release leaves its browser idle. The RSS of a busy
// browser is mostly its tabs' renderers, which go with the tabs: one idle
// Chromium 148 sums to about 630 MiB RSS and the same browser with four
// simple tabs to 1.2 GiB, so a check with tabs open would recycle a healthy
// browser under load. A browser that is never idle is still replaced after
// RecycleAfter runs.
type Options struct {
	ExecPath     string       // [/usr/bin/chromium]
	Browsers     int          // long-lived browsers in the pool [1]
	MaxTabs      int          // tabs in use at once across the pool; Acquire waits beyond it [4]
	RecycleAfter int          // runs a browser serves before it is replaced [100]
	MaxRSS       int64        // bytes; a browser whose process tree's RSS exceeds it is replaced after the run [1 GiB]
	Flags        []string     // extra Chromium flags ("--lang=en")
	Logger       *slog.Logger // [discard]
}

// Defaults of Options, as documented on its fields.
const (
	defaultExecPath     = "/usr/bin/chromium"
	defaultBrowsers     = 1
	defaultMaxTabs      = 4
	defaultRecycleAfter = 100
	defaultMaxRSS       = 1 << 30
)

// Causes of a browser restart, the keys of Stats.Restarts.
const (
	causeCrash = "crash"
	causeRuns  = "recycle_runs"
	causeRSS   = "recycle_rss"
)

const (
	// defaultStartTimeout bounds one browser start. Chromium needs well under a
	// second; a start that takes this long is stuck, and a retry is better.
	defaultStartTimeout = 30 * time.Second
	// defaultHangTimeout bounds the calls on the browser's own session. They
	// are cheap, so no answer within it means the browser hangs.
	defaultHangTimeout = 10 * time.Second
	// attempts is how often Acquire tries to open a tab; a second browser is
	// started when the first dies or hangs under it.
	attempts = 2
)

// disabledFeatures are chromedp's default --disable-features and ours;
// a --disable-features in Options.Flags adds to them.
//
// SpareRendererForSitePerProcess: after a navigation Chromium starts a spare
// renderer for the next one in the same browser context. Each run's context
// is disposed after one journey, so every spare was started for nothing:
// without it a pooled journey costs 22 % less CPU (bench/README.md).
var disabledFeatures = []string{"Translate", "BlinkGenPropertyTrees", "SpareRendererForSitePerProcess"}

// reservedFlags are set by the pool itself: another value would break the
// clean-up (user-data-dir) or the pipe that chromedp talks over.
var reservedFlags = []string{"user-data-dir", "remote-debugging-port", "remote-debugging-address", "remote-debugging-pipe"}

var errClosed = errors.New("browser: pool is closed")

// withDefaults returns o with every zero or invalid field set to its default.
func (o Options) withDefaults() Options {
	if o.ExecPath == "" {
		o.ExecPath = defaultExecPath
	}
	if o.Browsers <= 0 {
		o.Browsers = defaultBrowsers
	}
	if o.MaxTabs <= 0 {
		o.MaxTabs = defaultMaxTabs
	}
	if o.RecycleAfter <= 0 {
		o.RecycleAfter = defaultRecycleAfter
	}
	if o.MaxRSS <= 0 {
		o.MaxRSS = defaultMaxRSS
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Flags = slices.Clone(o.Flags)
	return o
}

// Pool hands out isolated tabs in long-lived browsers. Browsers start lazily on first Acquire.
type Pool struct {
	o   Options
	log *slog.Logger

	// Tests shorten these.
	startTimeout time.Duration
	hangTimeout  time.Duration

	tokens  chan struct{} // one per tab in use or being opened
	closing chan struct{} // closed by Close, so that waiting Acquires return
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // one per browser goroutine
	closeMu sync.Mutex     // makes a second Close wait for the first

	mu       sync.Mutex
	closed   bool
	dir      string                 // root of the user data directories; made on the first start
	slots    []*instance            // the browser that each of the Browsers slots opens tabs in
	all      map[*instance]struct{} // every browser not yet cleaned up, draining ones too
	tabs     int                    // tabs handed out and not released
	restarts map[string]uint64
	seq      int
}

// New returns a Pool. It starts no browser; the first Acquire does.
func New(o Options) *Pool {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		o:            o,
		log:          o.Logger,
		startTimeout: defaultStartTimeout,
		hangTimeout:  defaultHangTimeout,
		tokens:       make(chan struct{}, o.MaxTabs),
		closing:      make(chan struct{}),
		ctx:          ctx,
		cancel:       cancel,
		slots:        make([]*instance, o.Browsers),
		all:          make(map[*instance]struct{}),
		restarts:     map[string]uint64{causeCrash: 0, causeRuns: 0, causeRSS: 0},
	}
}

// Acquire waits (ctx-bounded) for a free tab slot, starts or restarts a browser if needed, and returns a tab
// in a fresh browser context. Its error, when ctx ends first, wraps ctx.Err().
func (p *Pool) Acquire(ctx context.Context) (*Tab, error) {
	if p == nil || p.tokens == nil {
		return nil, errors.New("browser: Acquire on a Pool not made by New")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("browser: acquiring a tab: %w", err)
	}
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("browser: waiting for one of %d tabs: %w", p.o.MaxTabs, ctx.Err())
	case <-p.closing:
		return nil, errClosed
	}
	t, err := p.open(ctx)
	if err != nil {
		<-p.tokens
		return nil, err
	}
	return t, nil
}

// open opens a tab once the caller holds a token. A browser that fails to
// start, dies or hangs under it is replaced once, so that a crash between two
// runs costs the next run a browser start and not a failure.
func (p *Pool) open(ctx context.Context) (*Tab, error) {
	for attempt := 1; ; attempt++ {
		b, err := p.reserve()
		if err != nil {
			return nil, err
		}
		select {
		case <-b.ready:
		case <-ctx.Done():
			p.unreserve(b)
			return nil, fmt.Errorf("browser: waiting for chromium to start: %w", ctx.Err())
		}
		if b.startErr != nil {
			p.unreserve(b)
			if attempt >= attempts || ctx.Err() != nil {
				return nil, fmt.Errorf("browser: starting %s: %w", p.o.ExecPath, b.startErr)
			}
			// Starts under heavy load fail now and then; a wrong path
			// fails twice, quickly.
			p.log.Warn("chromium did not start; retrying", "err", b.startErr)
			continue
		}
		t, err := p.newTab(ctx, b)
		if err == nil {
			return t, nil
		}
		p.unreserve(b)
		if ctx.Err() != nil {
			// The error of a call cut short says little; the caller wants to
			// know that its own deadline ended the wait.
			return nil, fmt.Errorf("browser: opening a tab: %w", ctx.Err())
		}
		if !b.lost() {
			// A browser that answers but cannot open a tab is of no use.
			p.retire(b, causeCrash)
		}
		if attempt >= attempts {
			return nil, fmt.Errorf("browser: opening a tab: %w", err)
		}
		p.log.Warn("opening a tab failed; retrying in a new browser", "pid", b.pid.Load(), "err", err)
	}
}

// reserve picks the browser that opens the next tab, the one with the fewest
// tabs, and counts the tab in it. It replaces a browser that died or is
// retiring, so the caller may get one that is still starting.
func (p *Pool) reserve() (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	var best *instance
	for i, b := range p.slots {
		if b != nil && !b.retiring {
			if cause, dead := b.deadCause(); dead {
				p.retireLocked(b, cause)
			}
		}
		if b == nil || b.retiring {
			nb, err := p.launchLocked(i)
			if err != nil {
				return nil, err
			}
			b = nb
		}
		if best == nil || b.inUse < best.inUse {
			best = b
		}
	}
	best.inUse++
	p.tabs++
	best.assigned++
	if best.assigned >= p.o.RecycleAfter {
		// Stop handing out tabs of this browser now, so that it serves
		// exactly RecycleAfter runs even when several are in flight.
		p.retireLocked(best, causeRuns)
	}
	return best, nil
}

// lastTab reports whether b has no tab in use but the caller's.
func (p *Pool) lastTab(b *instance) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return b.inUse == 1
}

// unreserve undoes reserve for a tab that was never handed out.
func (p *Pool) unreserve(b *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.inUse--
	p.tabs--
	if b.retiring && b.inUse == 0 {
		b.requestStop()
	}
}

// release books a released tab. rss is the memory of b's processes after the
// run, or 0 when it was not read.
func (p *Pool) release(b *instance, rss int64) {
	p.mu.Lock()
	b.inUse--
	p.tabs--
	if !b.retiring && rss > p.o.MaxRSS {
		p.log.Info("browser uses too much memory", "pid", b.pid.Load(), "rss_bytes", rss, "max_rss_bytes", p.o.MaxRSS)
		p.retireLocked(b, causeRSS)
	}
	if b.retiring && b.inUse == 0 {
		b.requestStop()
	}
	p.mu.Unlock()
	<-p.tokens
}

// retire stops handing out tabs of b and stops it once its tabs are released;
// see retireLocked.
func (p *Pool) retire(b *instance, cause string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retireLocked(b, cause)
}

// retireLocked marks b for replacement and counts the restart under cause (no
// count for ""). Only the first call counts: a browser is replaced once. A
// crashed or hung browser is killed at once, whatever its tabs do, because they
// cannot work any more and must fail fast.
func (p *Pool) retireLocked(b *instance, cause string) {
	if b.retiring {
		return
	}
	b.retiring = true
	b.cause = cause
	if cause != "" {
		p.restarts[cause]++
		p.log.Info("replacing browser", "pid", b.pid.Load(), "cause", cause, "runs", b.assigned)
	}
	if b.inUse == 0 || cause == causeCrash {
		b.requestStop()
	}
}

// launchLocked makes a browser for slot and starts it in the background.
func (p *Pool) launchLocked(slot int) (*instance, error) {
	if p.dir == "" {
		dir, err := os.MkdirTemp("", "authprobe-chromium-")
		if err != nil {
			return nil, fmt.Errorf("browser: making the profile directory: %w", err)
		}
		p.dir = dir
	}
	p.seq++
	b := newInstance(p, p.seq, slot)
	p.slots[slot] = b
	p.all[b] = struct{}{}
	p.wg.Add(1)
	go b.run()
	return b, nil
}

// stopped forgets b after its processes are gone. A browser that was recycled
// is replaced at once, so that the next run finds a warm one; a crashed one is
// replaced by the next Acquire, so that a browser that dies at start does not
// restart in a loop.
func (p *Pool) stopped(b *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.all, b)
	if p.slots[b.slot] != b {
		return
	}
	p.slots[b.slot] = nil
	if p.closed || b.startErr != nil || (b.cause != causeRuns && b.cause != causeRSS) {
		return
	}
	if _, err := p.launchLocked(b.slot); err != nil {
		p.log.Warn("starting a replacement browser", "err", err)
	}
}

// Close stops every browser and waits until no Chromium process of the pool is left (none running, none zombie).
func (p *Pool) Close() {
	if p == nil || p.tokens == nil {
		return
	}
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
		for b := range p.all {
			p.retireLocked(b, "")
			b.requestStop()
		}
	}
	dir := p.dir
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	if dir != "" {
		if left := sweep(0, dir); left > 0 {
			p.log.Warn("chromium processes left after close", "count", left)
		}
		if err := os.RemoveAll(dir); err != nil {
			p.log.Warn("removing the profile directory", "dir", dir, "err", err)
		}
	}
	Reap()
}

// Stats is for /metrics and tests.
type Stats struct {
	Browsers  int               // running
	TabsInUse int               // being opened by Acquire or handed out, and not released
	Restarts  map[string]uint64 // by cause: "crash", "recycle_runs", "recycle_rss"
	RSSBytes  int64             // summed over the browsers' process trees, read from /proc
}

// Stats returns the pool's current numbers. It reads /proc, so it costs a few
// milliseconds.
func (p *Pool) Stats() Stats {
	s := Stats{Restarts: map[string]uint64{causeCrash: 0, causeRuns: 0, causeRSS: 0}}
	if p == nil || p.tokens == nil {
		return s
	}
	p.mu.Lock()
	maps.Copy(s.Restarts, p.restarts)
	s.TabsInUse = p.tabs
	pids := p.pidsLocked()
	p.mu.Unlock()
	s.Browsers = len(pids)
	procs := readProcs()
	for _, pid := range pids {
		s.RSSBytes += groupRSS(procs, pid)
	}
	return s
}

// PIDs returns the main process id of each running browser (tests kill them).
func (p *Pool) PIDs() []int {
	if p == nil || p.tokens == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pidsLocked()
}

// pidsLocked returns the main pids of the running browsers, oldest first.
func (p *Pool) pidsLocked() []int {
	var running []*instance
	for b := range p.all {
		if b.running() {
			running = append(running, b)
		}
	}
	slices.SortFunc(running, func(a, b *instance) int { return a.id - b.id })
	pids := make([]int, 0, len(running))
	for _, b := range running {
		pids = append(pids, int(b.pid.Load()))
	}
	return pids
}

// allocatorOptions are the chromedp options of the browser that keeps its
// profile in dir.
func (p *Pool) allocatorOptions(dir string, modify func(*exec.Cmd)) []chromedp.ExecAllocatorOption {
	opts := slices.Clone(chromedp.DefaultExecAllocatorOptions[:])
	opts = append(opts,
		chromedp.ExecPath(p.o.ExecPath),
		// Chromium refuses to start as root with its sandbox on, and we run
		// as root in containers.
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
	)
	disabled := slices.Clone(disabledFeatures)
	for _, f := range p.o.Flags {
		name, value, ok := parseFlag(f)
		if !ok {
			continue
		}
		if slices.Contains(reservedFlags, name) {
			p.log.Warn("ignoring a chromium flag that the pool sets itself", "flag", name)
			continue
		}
		if v, isString := value.(string); isString && name == "disable-features" {
			disabled = append(disabled, strings.Split(v, ",")...)
			continue
		}
		opts = append(opts, chromedp.Flag(name, value))
	}
	opts = append(opts, chromedp.Flag("disable-features", strings.Join(disabled, ",")))
	return append(opts,
		chromedp.UserDataDir(dir),
		// The crash handlers double-fork and call setsid, so they leave the
		// process group. With their database under dir their command line
		// names dir, and the clean-up finds them.
		chromedp.Env("XDG_CONFIG_HOME="+dir+"/xdg"),
		chromedp.ModifyCmdFunc(modify),
	)
}

// parseFlag splits "--name=value" or "--name" into a chromedp flag. ok is
// false for an empty flag.
func parseFlag(f string) (name string, value any, ok bool) {
	f = strings.TrimLeft(strings.TrimSpace(f), "-")
	name, v, hasValue := strings.Cut(f, "=")
	if name == "" {
		return "", nil, false
	}
	if !hasValue {
		return name, true, true
	}
	return name, v, true
}
