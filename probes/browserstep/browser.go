// Package browserstep is the browser step kind: a login done in real
// Chromium, action by action, in a tab of its own browser context (fresh
// cookies and storage) in a long-lived browser. Each action is timed; a
// failure names the element, the navigation or the assertion, and leaves a
// screenshot with password inputs masked, the console errors and the failed
// requests.
package browserstep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/authprobe/authprobe/internal/browser"
	"github.com/authprobe/authprobe/probes"
)

func init() {
	probes.Register(probes.Kind{
		Name:    "browser",
		Doc:     "A login in real Chromium: navigate, fill, click, wait, assert and extract, in an isolated browser context.",
		NewSpec: func() any { return new(Spec) },
		Build: func(spec any) (probes.Step, error) {
			s := spec.(*Spec)
			labels := make([]string, len(s.Actions))
			for i := range s.Actions {
				labels[i] = s.Actions[i].Label(i)
			}
			return step{s, labels}, nil
		},
		Reasons: []probes.Reason{probes.ReasonTimeout, probes.ReasonElementNotFound, probes.ReasonNavigation,
			probes.ReasonAssertion, probes.ReasonExtract},
	})
}

// The process shares one pool of browsers across all journeys.
var (
	poolMu   sync.Mutex
	poolOpts browser.Options
	pool     *browser.Pool
)

// Configure sets the options of the browser pool, replacing a running one.
// Browsers start with the first browser step, so a config without one
// never starts Chromium.
func Configure(o browser.Options) {
	poolMu.Lock()
	defer poolMu.Unlock()
	if pool != nil {
		pool.Close()
		pool = nil
	}
	poolOpts = o
}

// Shutdown stops the browsers, leaving no Chromium process behind.
func Shutdown() {
	poolMu.Lock()
	defer poolMu.Unlock()
	if pool != nil {
		pool.Close()
		pool = nil
	}
}

// Stats reports the pool for /metrics; ok is false before a browser step ran.
func Stats() (browser.Stats, bool) {
	poolMu.Lock()
	defer poolMu.Unlock()
	if pool == nil {
		return browser.Stats{}, false
	}
	return pool.Stats(), true
}

// PIDs returns the main process ids of the running browsers, for
// operators and tests.
func PIDs() []int {
	poolMu.Lock()
	defer poolMu.Unlock()
	if pool == nil {
		return nil
	}
	return pool.PIDs()
}

func thePool() *browser.Pool {
	poolMu.Lock()
	defer poolMu.Unlock()
	if pool == nil {
		pool = browser.New(poolOpts)
	}
	return pool
}

// artifactReserve is kept from the run's deadline for capturing the
// evidence of a failure, when the deadline leaves room for it.
const artifactReserve = 1500 * time.Millisecond

type step struct {
	*Spec
	labels []string
}

// ActionLabels names the step's actions for their series.
func (s step) ActionLabels() []string { return s.labels }

// Outputs are the variables the step's extract actions set.
func (s step) Outputs() []string {
	var out []string
	for _, a := range s.Actions {
		for name := range a.Extract {
			out = append(out, name)
		}
	}
	return out
}

// Do runs the actions in a fresh tab.
func (s step) Do(ctx context.Context, run *probes.Run) (*probes.Response, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	tab, err := thePool().Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// authprobe's own capacity, not the target: internal, so that it
			// does not count against the login's SLO.
			return nil, probes.Failf(probes.ReasonInternal, "no browser tab was free within the run's timeout (%v); raise --browser.max-tabs or spread the browser journeys", err)
		}
		return nil, probes.Failf(probes.ReasonInternal, "%v", err) // "browser: …" already
	}
	defer release(ctx, tab)
	tctx := tab.Context()
	ev := &events{}
	if err := chromedp.Listen(tctx, ev.handle); err != nil {
		return nil, s.crashed(tab, probes.Failf(probes.ReasonInternal, "browser: %v", err))
	}
	setup, cancel := context.WithDeadline(tctx, deadline)
	_, err = chromedp.Call(setup, network.Enable, network.EnableParams{})
	if err == nil {
		_, err = chromedp.Call(setup, runtime.Enable, cdp.Empty{})
	}
	cancel()
	if err != nil {
		return nil, s.crashed(tab, probes.Failf(probes.ReasonInternal, "browser: %v", err))
	}

	// Actions stop early enough to leave time for the evidence.
	actionsEnd := deadline
	if time.Until(deadline) > 3*artifactReserve {
		actionsEnd = deadline.Add(-artifactReserve)
	}
	resp := &probes.Response{}
	for i := range s.Actions {
		a := &s.Actions[i]
		start := time.Now()
		actx, cancel := context.WithDeadline(tctx, minTime(actionsEnd, start.Add(s.ActionTimeout.D())))
		stop := context.AfterFunc(ctx, cancel)
		ar := probes.ActionResult{Name: s.labels[i]}
		err := s.act(actx, run, a, &ar, ev)
		stop()
		cancel()
		ar.Duration = time.Since(start)
		if err != nil {
			ar.Failed = true
			resp.Actions = append(resp.Actions, ar)
			cut := !actionsEnd.Equal(deadline) && !time.Now().Before(actionsEnd)
			err = s.classify(ctx, tab, a, err, cut)
			if probes.Classify(err) != probes.ReasonInternal {
				resp.Artifact = s.evidence(ctx, tctx, run, ev, deadline)
			}
			return resp, err
		}
		resp.Actions = append(resp.Actions, ar)
	}
	resp.URL = ev.url()
	return resp, nil
}

// release gives the tab back, waiting at most until the run's deadline:
// closing a tab of a hung browser can take the pool's hang timeout, and
// the run's deadline is hard. The release goes on in the background.
func release(ctx context.Context, tab *browser.Tab) {
	done := make(chan struct{})
	go func() {
		tab.Release()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// crashed turns err into an internal failure when the browser died: the
// target did not fail the user, authprobe lost its browser.
func (s step) crashed(tab *browser.Tab, err error) error {
	if tab.Crashed() {
		return probes.Failf(probes.ReasonInternal, "the browser crashed or was killed during the run; it is being restarted")
	}
	return err
}

// classify names why an action failed. cut is true when the action ran
// into the time kept for the evidence, which is the run's deadline too.
func (s step) classify(ctx context.Context, tab *browser.Tab, a *Action, err error, cut bool) error {
	if tab.Crashed() {
		return s.crashed(tab, err)
	}
	if ctx.Err() != nil || cut {
		return probes.Failf(probes.ReasonTimeout, "the run's deadline passed during %s: %v", a.set()[0], shortErr(err))
	}
	var pe *probes.Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return probes.Failf(probes.ReasonTimeout, "%s did not finish within action_timeout %s", a.set()[0], s.ActionTimeout)
	}
	return probes.Failf(probes.ReasonInternal, "browser: %s: %v", a.set()[0], shortErr(err))
}

func shortErr(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// act performs one action.
func (s step) act(ctx context.Context, run *probes.Run, a *Action, ar *probes.ActionResult, ev *events) error {
	switch {
	case a.Navigate != nil:
		return s.navigate(ctx, run, a, ar, ev)
	case a.Fill != nil:
		v, err := run.Render(a.Fill.Value)
		if err != nil {
			return err
		}
		secret := run.Redact(v) != v
		if secret {
			// A secret typed into any input is masked in the screenshot.
			ev.maskFilled(a.Fill.Selector)
		}
		if err := s.waitFor(ctx, a.Fill.Selector); err != nil {
			return err
		}
		sel := chromedp.CSS(a.Fill.Selector)
		if secret {
			// A secret goes in in one piece, as a password manager or a
			// paste puts it there: typed key by key, every prefix of it
			// would pass through the page's input events, where a page
			// can log it to the console, which the evidence keeps.
			return chromedp.Do(ctx, chromedp.Clear(sel), chromedp.Focus(sel),
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: v})
					return err
				}))
		}
		return chromedp.Do(ctx, chromedp.Clear(sel), chromedp.SendKeys(sel, v))
	case a.Click != "":
		if err := s.waitFor(ctx, a.Click); err != nil {
			return err
		}
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(a.Click)))
	case a.Press != nil:
		if err := s.waitFor(ctx, a.Press.Selector); err != nil {
			return err
		}
		return chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(a.Press.Selector)), chromedp.SendKeys(chromedp.CSS(a.Press.Selector), keys[a.Press.Key]))
	case a.Select != nil:
		v, err := run.Render(a.Select.Value)
		if err != nil {
			return err
		}
		if err := s.waitFor(ctx, a.Select.Selector); err != nil {
			return err
		}
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.querySelector(%s);
			if (!el || ![...el.options].some(o => o.value === %s)) return false;
			el.value = %[2]s; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`,
			jsString(a.Select.Selector), jsString(v))))
		if err == nil && !ok {
			return probes.Failf(probes.ReasonElementNotFound, "%s has no option with the value given", a.Select.Selector)
		}
		return err
	case a.Submit != "":
		if err := s.waitReady(ctx, a.Submit); err != nil {
			return err
		}
		return chromedp.Do(ctx, chromedp.Submit(chromedp.CSS(a.Submit)))
	case a.WaitVisible != "":
		return s.waitFor(ctx, a.WaitVisible)
	case a.WaitURL != nil:
		return s.poll(ctx, func() (bool, error) {
			u := ev.url()
			if u == "" {
				loc, err := chromedp.Run(ctx, chromedp.Location())
				if err != nil {
					return false, err
				}
				u = loc
			}
			if a.WaitURL.ok(u) {
				return true, nil
			}
			return false, probes.Failf(probes.ReasonAssertion, "the URL is %s; want it to %s", probes.ShortURL(run.Redact(u)), a.WaitURL)
		})
	case a.WaitText != nil:
		return s.poll(ctx, func() (bool, error) { return s.textContains(ctx, run, a.WaitText) })
	case a.AssertText != nil:
		if err := s.waitFor(ctx, a.AssertText.Selector); err != nil {
			return err
		}
		ok, err := s.textContains(ctx, run, a.AssertText)
		if ok || err == nil {
			return nil
		}
		return err
	case a.AssertURL != nil:
		u := ev.url()
		if u == "" {
			loc, err := chromedp.Run(ctx, chromedp.Location())
			if err != nil {
				return err
			}
			u = loc
		}
		if !a.AssertURL.ok(u) {
			return probes.Failf(probes.ReasonAssertion, "the URL is %s; want it to %s", probes.ShortURL(run.Redact(u)), a.AssertURL)
		}
		return nil
	case a.AssertTitle != nil:
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			return err
		}
		if !a.AssertTitle.ok(title) {
			return probes.Failf(probes.ReasonAssertion, "the title is %q; want it to %s", run.Clip(title), a.AssertTitle)
		}
		return nil
	case a.Extract != nil:
		return s.extract(ctx, run, a.Extract, ev)
	}
	return probes.Failf(probes.ReasonInternal, "an action with nothing to do")
}

// navigate opens a URL, checks the document's status, and records the
// page's navigation timing.
func (s step) navigate(ctx context.Context, run *probes.Run, a *Action, ar *probes.ActionResult, ev *events) error {
	u, err := run.Render(*a.Navigate)
	if err != nil {
		return err
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		if ctx.Err() != nil {
			return probes.Failf(probes.ReasonTimeout, "%s did not load in time (action_timeout %s, or the run's deadline)", probes.ShortURL(run.Redact(u)), s.ActionTimeout)
		}
		if strings.Contains(err.Error(), "net::ERR_") {
			return probes.Failf(probes.ReasonNavigation, "loading %s failed: %s", probes.ShortURL(run.Redact(u)), netError(err))
		}
		return err
	}
	if resp != nil && resp.Status >= 400 {
		return probes.Failf(probes.ReasonNavigation, "%s answered status %d", probes.ShortURL(run.Redact(u)), resp.Status)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`(() => { const n = performance.getEntriesByType('navigation')[0];
		return n ? {ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd} : {}; })()`))
	if err == nil {
		var t struct{ TTFB, DCL, Load float64 }
		if json.Unmarshal(raw, &t) == nil {
			ar.TTFB, ar.DOMContentLoaded, ar.Load = t.TTFB/1000, t.DCL/1000, t.Load/1000
		}
	}
	return nil
}

// netError extracts Chromium's net::ERR_ code from an error.
func netError(err error) string {
	msg := err.Error()
	i := strings.Index(msg, "net::ERR_")
	end := strings.IndexAny(msg[i:], " )\"")
	if end < 0 {
		return msg[i:]
	}
	return msg[i : i+end]
}

// waitFor waits until the element is visible; element_not_found when it
// never is within the action's time.
func (s step) waitFor(ctx context.Context, sel string) error {
	return s.wait(ctx, sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (s step) waitReady(ctx context.Context, sel string) error {
	return s.wait(ctx, sel, chromedp.WaitReady(chromedp.CSS(sel)))
}

func (s step) wait(ctx context.Context, sel string, a chromedp.Action[chromedp.Void]) error {
	start := time.Now()
	if err := chromedp.Do(ctx, a); err != nil {
		if ctx.Err() != nil {
			return probes.Failf(probes.ReasonElementNotFound, "%s did not appear within %s", sel, time.Since(start).Round(100*time.Millisecond))
		}
		return err
	}
	return nil
}

// poll checks cond every 100ms until it holds; when the action's time is
// up, the last failure cond reported is the answer. Other errors are
// retried too: a page that is navigating answers "Execution context was
// destroyed" for a moment. A tab that is gone ends the poll at once.
func (s step) poll(ctx context.Context, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		var pe *probes.Error
		if err != nil && !errors.As(err, &pe) && last != nil && errors.As(last, &pe) {
			// Keep the last answer that says what the page showed.
			err = last
		}
		last = err
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return last
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// textContains checks an element's text; the error says whether the
// element is missing or its text differs.
func (s step) textContains(ctx context.Context, run *probes.Run, m *TextMatch) (bool, error) {
	text, err := chromedp.Run(ctx, chromedp.Evaluate[*string](fmt.Sprintf(`(() => { const el = document.querySelector(%s); return el ? el.innerText : null; })()`, jsString(m.Selector))))
	switch {
	case err != nil:
		return false, err
	case text == nil:
		return false, probes.Failf(probes.ReasonElementNotFound, "%s is not in the page", m.Selector)
	case strings.Contains(*text, m.Contains):
		return true, nil
	}
	return false, probes.Failf(probes.ReasonAssertion, "%s says %q; want it to contain %q", m.Selector, run.Clip(strings.Join(strings.Fields(*text), " ")), m.Contains)
}

// extract sets run variables from the page.
func (s step) extract(ctx context.Context, run *probes.Run, srcs map[string]Source, ev *events) error {
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		src := srcs[name]
		v, err := s.value(ctx, src, ev)
		if err != nil {
			var pe *probes.Error
			if errors.As(err, &pe) {
				return err
			}
			return probes.Failf(probes.ReasonExtract, "extract %s: %v", name, shortErr(err))
		}
		run.SetVar(name, v, src.Secret)
	}
	return nil
}

func (s step) value(ctx context.Context, src Source, ev *events) (string, error) {
	switch {
	case src.Cookie != "":
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			return "", err
		}
		for _, c := range res.Cookies {
			if c.Name == src.Cookie {
				return c.Value, nil
			}
		}
		return "", probes.Failf(probes.ReasonExtract, "no cookie %s for the current page", src.Cookie)
	case src.LocalStorage != "" || src.SessionStorage != "":
		store, key := "localStorage", src.LocalStorage
		if src.SessionStorage != "" {
			store, key = "sessionStorage", src.SessionStorage
		}
		v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](fmt.Sprintf("%s.getItem(%s)", store, jsString(key))))
		if err != nil {
			return "", err
		}
		if v == nil {
			return "", probes.Failf(probes.ReasonExtract, "%s has no key %q", store, key)
		}
		return *v, nil
	case src.URLParam != "":
		u, err := url.Parse(ev.url())
		if err != nil || !u.Query().Has(src.URLParam) {
			return "", probes.Failf(probes.ReasonExtract, "the URL has no parameter %s", src.URLParam)
		}
		return u.Query().Get(src.URLParam), nil
	}
	if err := s.waitFor(ctx, src.Selector); err != nil {
		return "", err
	}
	if src.Attr != "" {
		r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(src.Selector), src.Attr))
		if err != nil {
			return "", err
		}
		if !r.Exists {
			return "", probes.Failf(probes.ReasonExtract, "%s has no attribute %s", src.Selector, src.Attr)
		}
		return r.Value, nil
	}
	t, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(src.Selector)))
	return strings.TrimSpace(t), err
}

// maskScript blacks out password inputs and the configured selectors with
// overlays above everything, so the screenshot shows no typed secret.
const maskScript = `((sels) => { let n = 0;
  for (const sel of sels) { let els; try { els = document.querySelectorAll(sel); } catch (e) { continue; }
    for (const el of els) { const r = el.getBoundingClientRect(); if (!r.width && !r.height) continue;
      const d = document.createElement('div'); d.setAttribute('data-authprobe-mask', '');
      d.style.cssText = 'position:fixed;left:' + r.left + 'px;top:' + r.top + 'px;width:' + r.width + 'px;height:' + r.height + 'px;background:#000;z-index:2147483647;pointer-events:none';
      document.documentElement.appendChild(d); n++; } }
  return n; })(%s)`

// evidence captures what a failure left on the page: URL, title, console
// and network errors, and a screenshot with secrets masked — within the
// run's deadline, and no longer than the run (a reload or shutdown ends
// it).
func (s step) evidence(runCtx, tctx context.Context, run *probes.Run, ev *events, deadline time.Time) *probes.Artifact {
	ctx, cancel := context.WithDeadline(tctx, deadline)
	defer cancel()
	defer context.AfterFunc(runCtx, cancel)()
	a := &probes.Artifact{URL: probes.ShortURL(run.Redact(ev.url()))}
	a.Console, a.Network = ev.lists(run)
	if title, err := chromedp.Run(ctx, chromedp.Title()); err == nil {
		a.Title = run.Clip(title)
	}
	sels, _ := json.Marshal(slices.Concat([]string{"input[type=password]"}, s.Mask, ev.filled()))
	navs := ev.navigations()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(maskScript, sels))); err != nil {
		// Without the mask no screenshot: it could show a secret.
		return a
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil && ev.navigations() == navs {
		// A page that navigated after the mask went on shows unmasked
		// inputs: no screenshot then.
		a.Screenshot = png
	}
	return a
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// maxEvents bounds the console and network entries kept per run.
const maxEvents = 20

// events collects what the tab reports while the actions run. The listener
// runs on the tab's read loop, so it only records.
type events struct {
	mu        sync.Mutex
	mainFrame cdp.FrameID
	mainURL   string
	navs      int      // main-frame navigations
	masked    []string // selectors filled with a secret
	console   []string
	network   []string
	requests  map[network.RequestID]string // in flight
}

// maxRequests bounds the requests in flight that a run remembers.
const maxRequests = 1000

func (e *events) maskFilled(sel string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Contains(e.masked, sel) {
		e.masked = append(e.masked, sel)
	}
}

func (e *events) filled() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.masked)
}

func (e *events) navigations() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.navs
}

func (e *events) handle(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" {
			e.mainFrame = ev.Frame.ID
			e.navs++
			e.mainURL = ev.Frame.URL
			if ev.Frame.UnreachableURL != "" {
				// An error page (the redirect URI nobody serves): the URL
				// the user is at is the one that did not load.
				e.mainURL = ev.Frame.UnreachableURL
			}
		}
	case *page.EventNavigatedWithinDocument:
		// An iframe's history.replaceState is not the page's URL.
		if ev.FrameID == e.mainFrame {
			e.mainURL = ev.URL
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					var str string
					if json.Unmarshal(a.Value, &str) == nil {
						parts = append(parts, str)
					} else {
						parts = append(parts, string(a.Value))
					}
				} else if a.Description != "" {
					parts = append(parts, a.Description)
				}
			}
			e.add(&e.console, bounded("console."+string(ev.Type)+": ", strings.Join(parts, " ")))
		}
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text = d.Exception.Description
			}
			e.add(&e.console, bounded("exception: ", firstLine(text)))
		}
	case *network.EventRequestWillBeSent:
		if e.requests == nil {
			e.requests = map[network.RequestID]string{}
		}
		if _, known := e.requests[ev.RequestID]; known || len(e.requests) < maxRequests {
			e.requests[ev.RequestID] = bounded(ev.Request.Method+" ", requestURL(ev.Request.URL))
		}
	case *network.EventLoadingFinished:
		delete(e.requests, ev.RequestID)
	case *network.EventLoadingFailed:
		if !ev.Canceled {
			e.add(&e.network, e.request(ev.RequestID)+" failed: "+bounded("", ev.ErrorText))
		}
		delete(e.requests, ev.RequestID)
	case *network.EventResponseReceived:
		if ev.Response != nil && ev.Response.Status >= 400 {
			e.add(&e.network, fmt.Sprintf("%s answered %d", e.request(ev.RequestID), ev.Response.Status))
		}
	}
}

// request names a request in flight, or says it is not known (more than
// maxRequests were in flight).
func (e *events) request(id network.RequestID) string {
	if r, ok := e.requests[id]; ok {
		return r
	}
	return "a request"
}

// requestURL shortens a request's URL for the evidence; data: and blob:
// URLs carry their content, so only the scheme is kept.
func requestURL(u string) string {
	for _, scheme := range []string{"data:", "blob:"} {
		if strings.HasPrefix(u, scheme) {
			return scheme + "…"
		}
	}
	return probes.ShortURL(u)
}

// maxEventLen bounds the text of one console or network entry as it is
// recorded. Longer text is dropped whole, not cut: the entries are redacted
// when they are read, with the secrets known by then, and a secret cut in
// two would not be found.
const maxEventLen = 8 << 10

func bounded(prefix, text string) string {
	if len(text) > maxEventLen {
		return fmt.Sprintf("%s(%d bytes, too long to keep)", prefix, len(text))
	}
	return prefix + text
}

func (e *events) add(list *[]string, s string) {
	if len(*list) == maxEvents {
		*list = (*list)[1:]
	}
	*list = append(*list, s)
}

func (e *events) url() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mainURL
}

// lists returns copies of the console and network entries, redacted.
func (e *events) lists(run *probes.Run) (console, net []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.console {
		console = append(console, run.Clip(c))
	}
	for _, n := range e.network {
		net = append(net, run.Clip(n))
	}
	return console, net
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
