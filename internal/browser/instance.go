package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// instance is one Chromium process and what chromedp keeps of it. One
// goroutine (run) owns its life: it starts the process, watches it, and
// cleans up after it.
type instance struct {
	p    *Pool
	id   int
	slot int
	dir  string // user data directory, inside the pool's

	// kill cancels the allocator's context, which kills the main process at
	// once; allocCancel also waits until chromedp has let go of it.
	kill          context.CancelFunc
	allocCancel   context.CancelFunc
	browserCtx    context.Context
	browserCancel context.CancelFunc

	// Set by run before ready is closed; read only after it.
	ready    chan struct{}
	startErr error
	browser  *chromedp.Browser
	started  time.Duration
	cmd      *exec.Cmd // set by ModifyCmdFunc, on run's goroutine

	pid      atomic.Int64 // main process, also the process group; 0 until started
	stopping atomic.Bool  // a stop was asked for, so a lost browser is no crash

	// creating serializes the opening of tabs (a one-slot semaphore, so
	// that a waiter's deadline holds): parallel creation of browser contexts
	// can fail with "invalid context" (chromedp#1589).
	creating chan struct{}

	// Guarded by p.mu.
	inUse    int    // tabs reserved or handed out
	assigned int    // tabs ever reserved, for RecycleAfter
	retiring bool   // hands out no more tabs; stops when inUse is 0
	cause    string // why it retires
}

func newInstance(p *Pool, id, slot int) *instance {
	b := &instance{
		p:        p,
		id:       id,
		slot:     slot,
		dir:      filepath.Join(p.dir, strconv.Itoa(id)),
		ready:    make(chan struct{}),
		creating: make(chan struct{}, 1),
	}
	killCtx, kill := context.WithCancel(p.ctx)
	allocCtx, allocCancel := chromedp.NewExecAllocator(killCtx, p.allocatorOptions(b.dir, b.modifyCmd)...)
	logf := func(level slog.Level) func(string, ...any) {
		return func(format string, args ...any) {
			if p.log.Enabled(context.Background(), level) {
				p.log.Log(context.Background(), level, "chromedp: "+fmt.Sprintf(format, args...), "browser", id)
			}
		}
	}
	// chromedp's own messages are about protocol details (events it cannot
	// decode, closed sessions); they help debugging and are noise otherwise.
	b.browserCtx, b.browserCancel = chromedp.NewContext(allocCtx,
		chromedp.WithLogf(logf(slog.LevelDebug)), chromedp.WithErrorf(logf(slog.LevelDebug)))
	b.kill, b.allocCancel = kill, allocCancel
	return b
}

// modifyCmd replaces chromedp's default ModifyCmdFunc, so it must keep its
// Pdeathsig (see setProcAttr).
func (b *instance) modifyCmd(cmd *exec.Cmd) {
	setProcAttr(cmd)
	b.cmd = cmd
}

// run is the browser's goroutine: start, watch until it dies or is stopped,
// clean up.
func (b *instance) run() {
	defer b.p.wg.Done()
	b.start()
	if b.startErr == nil {
		b.p.log.Info("browser started", "pid", b.pid.Load(), "took", b.started)
		b.watch()
	} else {
		b.p.log.Warn("browser did not start", "err", b.startErr)
		b.p.retire(b, "")
	}
	b.shutdown()
	b.p.stopped(b)
}

// start starts Chromium and attaches to its first tab. It does not use a
// deadline on the context of the first Run, which would stop the browser when
// it ends; a timer kills the process instead.
func (b *instance) start() {
	defer close(b.ready)
	t0 := time.Now()
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		b.startErr = err
		return
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(b.p.startTimeout, func() {
		timedOut.Store(true)
		b.kill()
	})
	err := chromedp.Do(b.browserCtx)
	timer.Stop()
	b.started = time.Since(t0)
	if err == nil {
		b.browser = chromedp.FromContext(b.browserCtx).Browser
		if proc := b.browser.Process(); proc != nil {
			b.pid.Store(int64(proc.Pid))
		}
	} else if b.cmd != nil && b.cmd.Process != nil {
		// The process started but did not answer: its group must still be
		// cleaned up.
		b.pid.Store(int64(b.cmd.Process.Pid))
	}
	if pid := int(b.pid.Load()); pid > 0 {
		registerGroup(pid)
	}
	switch {
	case err == nil && b.pid.Load() == 0:
		err = fmt.Errorf("chromedp reports no browser process")
	case err != nil && timedOut.Load():
		err = fmt.Errorf("no answer within %v: %w", b.p.startTimeout, err)
	case err != nil && b.stopping.Load():
		err = fmt.Errorf("stopped while starting: %w", err)
	}
	b.startErr = err
}

// watch waits until the browser is gone. The connection drops first when the
// process dies (a pipe, held by the main process only); chromedp then cancels
// the browser's context, which ends every tab's context.
func (b *instance) watch() {
	select {
	case <-b.browser.LostConnection:
	case <-b.browserCtx.Done():
	}
	if !b.stopping.Load() {
		b.p.log.Warn("browser died", "pid", b.pid.Load())
		b.p.retire(b, causeCrash)
	}
}

// requestStop kills the browser's process group at once and lets run clean up.
// It does not block, so it may be called with p.mu held.
func (b *instance) requestStop() {
	if b.stopping.Swap(true) {
		return
	}
	if pid := int(b.pid.Load()); pid > 0 {
		killGroup(pid)
	}
	b.kill()
}

// shutdown kills what is left of the browser and waits until none of its
// processes runs or is our zombie, then removes its profile.
func (b *instance) shutdown() {
	b.stopping.Store(true)
	pid := int(b.pid.Load())
	if pid > 0 {
		// Kill the group before chromedp reaps the main process: while the
		// leader is alive or a zombie, its pid cannot name another group.
		killGroup(pid)
	}
	b.kill()
	b.browserCancel()
	b.allocCancel()
	if left := sweep(pid, b.dir); left > 0 {
		b.p.log.Warn("chromium processes survived the browser", "pid", pid, "count", left)
	}
	if pid > 0 {
		unregisterGroup(pid)
	}
	if err := os.RemoveAll(b.dir); err != nil {
		b.p.log.Warn("removing the browser profile", "dir", b.dir, "err", err)
	}
	b.p.log.Debug("browser stopped", "pid", pid)
}

// running reports whether the browser started and has not died or been
// stopped.
func (b *instance) running() bool {
	select {
	case <-b.ready:
	default:
		return false
	}
	return b.startErr == nil && !b.stopping.Load() && !b.lost()
}

// lost reports whether the connection to a started browser dropped. A browser
// still starting is not lost.
func (b *instance) lost() bool {
	select {
	case <-b.ready:
	default:
		return false
	}
	if b.browser == nil {
		return true
	}
	select {
	case <-b.browser.LostConnection:
		return true
	case <-b.browserCtx.Done():
		return true
	default:
		return false
	}
}

// deadCause reports whether a browser must be replaced before its watcher has
// noticed, and why.
func (b *instance) deadCause() (cause string, dead bool) {
	select {
	case <-b.ready:
	default:
		return "", false
	}
	if b.startErr != nil {
		return "", true
	}
	if b.lost() {
		return causeCrash, true
	}
	return "", false
}

// newTab opens a tab in a fresh browser context of b. A browser that does not
// answer within hangTimeout is killed as crashed.
func (p *Pool) newTab(ctx context.Context, b *instance) (*Tab, error) {
	select {
	case b.creating <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to open a tab: %w", ctx.Err())
	}
	defer func() { <-b.creating }()
	var hung atomic.Bool
	watchdog := time.AfterFunc(p.hangTimeout, func() {
		hung.Store(true)
		p.log.Warn("browser does not answer; killing it", "pid", b.pid.Load(), "after", p.hangTimeout)
		p.retire(b, causeCrash)
	})
	t, err := b.openTab(ctx)
	watchdog.Stop()
	switch {
	case err != nil && hung.Load():
		err = fmt.Errorf("browser did not answer within %v: %w", p.hangTimeout, err)
	case err != nil && ctx.Err() != nil:
		// A run's deadline can be shorter than hangTimeout; a hung browser
		// would then fail every run and never be caught. Check it on our
		// own clock.
		p.checkAnswers(b)
	}
	return t, err
}

// checkAnswers asks b for its version in the background, and replaces it as
// crashed when it does not answer within hangTimeout.
func (p *Pool) checkAnswers(b *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || b.retiring {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, p.hangTimeout)
		defer cancel()
		_, err := cdp.Call(ctx, b.browser, cdpbrowser.GetVersion, cdp.Empty{})
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !b.lost() {
			p.log.Warn("browser does not answer; killing it", "pid", b.pid.Load(), "after", p.hangTimeout)
			p.retire(b, causeCrash)
		}
	}()
}

// openTab is the work-around of reference §3.2: it creates the browser
// context and a tab in a new window on the browser's own session, and attaches
// to the tab. chromedp's WithNewBrowserContext, which once opened no window
// in headless Chromium, works with chromedp v0.23 and Chromium 148
// (TestWithNewBrowserContext); doing it by hand still keeps the context id in
// our hands for Release and every call under the hang watchdog.
func (b *instance) openTab(ctx context.Context) (*Tab, error) {
	created, err := cdp.Call(ctx, b.browser, target.CreateBrowserContext, target.CreateBrowserContextParams{DisposeOnDetach: ptr(true)})
	if err != nil {
		return nil, fmt.Errorf("creating a browser context: %w", err)
	}
	id := created.BrowserContextID
	tg, err := cdp.Call(ctx, b.browser, target.CreateTarget, target.CreateTargetParams{
		URL:              "about:blank",
		BrowserContextID: id,
		NewWindow:        ptr(true),
	})
	if err != nil {
		b.disposeLater(id)
		return nil, fmt.Errorf("creating a tab: %w", err)
	}
	t := &Tab{p: b.p, b: b, contextID: id}
	parent, parentCancel := context.WithCancel(b.browserCtx)
	onEvent := func(ev any) {
		// A renderer that crashed (out of memory, say) never answers again;
		// end the tab's context so that the caller's actions fail now.
		if _, ok := ev.(*inspector.EventTargetCrashed); ok {
			t.rendererCrashed.Store(true)
			parentCancel()
		}
	}
	tabCtx, tabCancel := chromedp.NewContext(parent, chromedp.WithTargetID(tg.TargetID), chromedp.WithListener(onEvent))
	t.ctx, t.endCtx, t.closeTab = tabCtx, parentCancel, tabCancel
	// The first Run binds the tab's event loop to its context, so it cannot
	// take ctx's deadline; ending the parent aborts it instead.
	stop := context.AfterFunc(ctx, parentCancel)
	err = chromedp.Do(tabCtx)
	stop()
	if err != nil {
		parentCancel()
		tabCancel()
		b.disposeLater(id)
		return nil, fmt.Errorf("attaching to the tab: %w", err)
	}
	return t, nil
}

// dispose drops a browser context with its tabs, cookies and storage.
func (b *instance) dispose(id cdp.BrowserContextID) error {
	if b.lost() {
		return nil
	}
	ctx, cancel := context.WithTimeout(b.p.ctx, b.p.hangTimeout)
	defer cancel()
	_, err := cdp.Call(ctx, b.browser, target.DisposeBrowserContext, target.DisposeBrowserContextParams{BrowserContextID: id})
	return err
}

// disposeLater disposes of a context in the background, so that a failed
// open returns within the caller's deadline even when the browser is slow
// to answer. A closed pool kills the browser, contexts and all.
func (b *instance) disposeLater(id cdp.BrowserContextID) {
	p := b.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.wg.Go(func() { _ = b.dispose(id) })
}

func ptr[T any](v T) *T { return &v }
