package browser

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
)

// Tab is one isolated tab.
type Tab struct {
	p         *Pool
	b         *instance
	contextID cdp.BrowserContextID

	ctx      context.Context
	endCtx   context.CancelFunc // ends ctx without waiting
	closeTab context.CancelFunc // chromedp's: closes the tab and waits

	rendererCrashed  atomic.Bool
	released         atomic.Bool
	crashedAtRelease atomic.Bool
	once             sync.Once
}

// Context is the chromedp context of the tab; run chromedp actions on children of it (with deadlines) — never put a deadline on it directly.
func (t *Tab) Context() context.Context {
	if t == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return t.ctx
}

// Crashed reports whether the tab's browser died or was killed while the tab was in use (so the caller reports outcome=error, not a target failure).
// A renderer crash of the tab counts too. After Release it keeps the answer it
// had at the time of the Release.
func (t *Tab) Crashed() bool {
	if t == nil {
		return false
	}
	if t.released.Load() {
		return t.crashedAtRelease.Load()
	}
	return t.crashedNow()
}

func (t *Tab) crashedNow() bool {
	return t.rendererCrashed.Load() || t.b.lost()
}

// Release disposes the browser context, frees the slot, counts the run toward recycling, and replaces the browser if it crashed,
// served RecycleAfter runs, or its RSS is above MaxRSS. Idempotent.
func (t *Tab) Release() {
	if t == nil {
		return
	}
	t.once.Do(t.release)
}

func (t *Tab) release() {
	p, b := t.p, t.b
	t.crashedAtRelease.Store(t.crashedNow())
	t.released.Store(true)

	// Closing the tab and disposing of its context are calls on a browser
	// that may hang; one that does not answer in time is killed, which also
	// ends the calls.
	watchdog := time.AfterFunc(p.hangTimeout, func() {
		p.log.Warn("browser does not answer while closing a tab; killing it", "pid", b.pid.Load())
		p.retire(b, causeCrash)
	})
	t.endCtx()
	t.closeTab()
	err := b.dispose(t.contextID)
	watchdog.Stop()
	if err != nil && !b.lost() {
		p.log.Warn("disposing of a browser context", "pid", b.pid.Load(), "err", err)
	}

	// Memory is read only when this was the browser's last tab: the
	// renderers of other tabs in flight are theirs and go when they close,
	// while what stays is what recycling is for (see Options).
	var rss int64
	if p.lastTab(b) && !b.lost() {
		rss = groupRSS(readProcs(), int(b.pid.Load()))
	}
	p.release(b, rss)
}
