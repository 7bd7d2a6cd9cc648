//go:build linux

package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Like main does: orphans of killed browsers come back to us, so the
	// hygiene test also checks that Reap collects them.
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// needChromium skips the test when Chromium is missing, and fails it in CI,
// where a missing browser means a broken image and not a lighter set-up.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(defaultExecPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (CI=true): %v", defaultExecPath, err)
		}
		t.Skipf("%s is missing (apt-get install chromium): %v", defaultExecPath, err)
	}
}

// newPool returns a pool that is closed at the end of the test, after which
// no goroutine of it may be left.
func newPool(t *testing.T, o Options) *Pool {
	t.Helper()
	needChromium(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p := New(o)
	t.Cleanup(p.Close)
	return p
}

// site serves the pages the tests visit. /set?v=X sets a cookie and a
// localStorage key to X; /page is plain; /echo shows the Cookie header the
// server got.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("v")
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: v, Path: "/"})
		fmt.Fprintf(w, `<html><body><h1>set</h1><script>localStorage.setItem("k", %q)</script></body></html>`, v)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<html><head><title>page</title></head><body><h1>page</h1></body></html>`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><pre id="c">%s</pre></body></html>`, r.Header.Get("Cookie"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func acquire(t *testing.T, p *Pool) *Tab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tab, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return tab
}

// run runs actions on a child of the tab's context, with a deadline, as the
// browser step does.
func run(tab *Tab, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab.Context(), 10*time.Second)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func eval(t *testing.T, tab *Tab, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Context(), 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func navigate(t *testing.T, tab *Tab, url string) {
	t.Helper()
	if err := run(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigating to %s: %v", url, err)
	}
}

// state is what a page of the site sees of the session.
func state(t *testing.T, tab *Tab, srv *httptest.Server) (cookie, stored, serverSaw string) {
	t.Helper()
	navigate(t, tab, srv.URL+"/echo")
	return eval(t, tab, "document.cookie"),
		eval(t, tab, `localStorage.getItem("k") || ""`),
		eval(t, tab, `document.getElementById("c").textContent`)
}

func TestIsolation(t *testing.T) {
	p := newPool(t, Options{})
	srv := site(t)

	a, b := acquire(t, p), acquire(t, p)
	if n := len(p.PIDs()); n != 1 {
		t.Fatalf("got %d browsers, want both tabs in one", n)
	}
	navigate(t, a, srv.URL+"/set?v=A")
	if c, s, seen := state(t, a, srv); c != "sid=A" || s != "A" || seen != "sid=A" {
		t.Fatalf("tab A sees cookie %q, storage %q, server saw %q; want its own session", c, s, seen)
	}
	if c, s, seen := state(t, b, srv); c != "" || s != "" || seen != "" {
		t.Errorf("tab B sees cookie %q, storage %q, server saw %q; want nothing of tab A", c, s, seen)
	}
	a.Release()
	c := acquire(t, p)
	if cookie, s, seen := state(t, c, srv); cookie != "" || s != "" || seen != "" {
		t.Errorf("a tab after A's release sees cookie %q, storage %q, server saw %q; want nothing", cookie, s, seen)
	}
	b.Release()
	c.Release()
	if st := p.Stats(); st.TabsInUse != 0 {
		t.Errorf("TabsInUse = %d after every release, want 0", st.TabsInUse)
	}
}

// TestWithNewBrowserContext records whether chromedp's own option works on the
// installed Chromium (it did not with chromedp v0.16 and Chromium 156, see
// reference §3.2), so that we know when the work-around can go.
func TestWithNewBrowserContext(t *testing.T) {
	p := newPool(t, Options{})
	srv := site(t)
	tab := acquire(t, p)
	defer tab.Release()

	open := func() (context.Context, context.CancelFunc) {
		ctx, cancel := chromedp.NewContext(tab.Context(), chromedp.WithNewBrowserContext())
		if err := chromedp.Do(ctx); err != nil {
			cancel()
			t.Fatalf("chromedp.WithNewBrowserContext: %v", err)
		}
		return ctx, cancel
	}
	ctxA, cancelA := open()
	defer cancelA()
	ctxB, cancelB := open()
	defer cancelB()
	do := func(ctx context.Context, url string) string {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie + "|" + (localStorage.getItem("k") || "")`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := do(ctxA, srv.URL+"/set?v=A"); got != "sid=A|A" {
		t.Fatalf("context A sees %q", got)
	}
	if got := do(ctxB, srv.URL+"/page"); got != "|" {
		t.Errorf("context B sees %q of context A", got)
	}
	if a, b := chromedp.FromContext(ctxA).BrowserContextID, chromedp.FromContext(ctxB).BrowserContextID; a == "" || a == b {
		t.Errorf("browser context ids %q and %q, want two distinct ones", a, b)
	}
}

func TestMaxTabs(t *testing.T) {
	p := newPool(t, Options{MaxTabs: 2})
	a, b := acquire(t, p), acquire(t, p)

	type result struct {
		tab *Tab
		err error
	}
	third := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tab, err := p.Acquire(ctx)
		third <- result{tab, err}
	}()
	select {
	case r := <-third:
		r.tab.Release()
		t.Fatalf("a third Acquire returned (err %v) while MaxTabs=2 were in use", r.err)
	case <-time.After(500 * time.Millisecond):
	}

	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if tab, err := p.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		tab.Release()
		t.Errorf("Acquire with a short deadline: err = %v, want one wrapping context.DeadlineExceeded", err)
	} else if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("Acquire gave up after %v, before its deadline", d)
	}

	a.Release()
	select {
	case r := <-third:
		if r.err != nil {
			t.Fatalf("the waiting Acquire failed after a Release: %v", r.err)
		}
		r.tab.Release()
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting Acquire did not return after a Release")
	}
	b.Release()
	if st := p.Stats(); st.TabsInUse != 0 {
		t.Errorf("TabsInUse = %d, want 0", st.TabsInUse)
	}
}

func TestCrash(t *testing.T) {
	p := newPool(t, Options{})
	srv := site(t)
	tab := acquire(t, p)
	navigate(t, tab, srv.URL+"/page")
	pids := p.PIDs()
	if len(pids) != 1 {
		t.Fatalf("PIDs() = %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err := chromedp.Run(tab.Context(), chromedp.Evaluate[string]("document.title"))
	if err == nil {
		t.Fatal("an action on the tab of a killed browser succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the action failed after %v, want within 2s", d)
	}
	t.Logf("action error after %v: %v", time.Since(start), err)
	if !tab.Crashed() {
		t.Error("Crashed() = false after the browser was killed")
	}
	select {
	case <-tab.Context().Done():
	case <-time.After(2 * time.Second):
		t.Error("the tab's context did not end after the browser was killed")
	}
	tab.Release()
	if !tab.Crashed() {
		t.Error("Crashed() = false after Release")
	}

	next := acquire(t, p)
	defer next.Release()
	navigate(t, next, srv.URL+"/page")
	if next.Crashed() {
		t.Error("the new tab reports a crash")
	}
	if now := p.PIDs(); slices.Contains(now, pids[0]) || len(now) != 1 {
		t.Errorf("PIDs() = %v after the crash of %d, want one new browser", now, pids[0])
	}
	if got := p.Stats().Restarts; got[causeCrash] != 1 || got[causeRuns] != 0 {
		t.Errorf("Restarts = %v, want crash=1 only", got)
	}
	waitGone(t, pids[0])
}

func TestRendererCrash(t *testing.T) {
	p := newPool(t, Options{})
	srv := site(t)
	tab := acquire(t, p)
	navigate(t, tab, srv.URL+"/page")
	pid := p.PIDs()[0]

	crash := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.Crash, cdp.Empty{})
		return err
	})
	_ = run(tab, crash) // the renderer dies before it answers
	select {
	case <-tab.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the tab's context did not end after its renderer crashed")
	}
	if !tab.Crashed() {
		t.Error("Crashed() = false after the renderer crashed")
	}
	tab.Release()

	// The browser itself is fine and keeps serving.
	next := acquire(t, p)
	defer next.Release()
	navigate(t, next, srv.URL+"/page")
	if got := p.PIDs(); len(got) != 1 || got[0] != pid {
		t.Errorf("PIDs() = %v, want the same browser %d", got, pid)
	}
	if got := p.Stats().Restarts[causeCrash]; got != 0 {
		t.Errorf("Restarts[crash] = %d after a renderer crash, want 0", got)
	}
}

func TestHang(t *testing.T) {
	p := newPool(t, Options{})
	p.hangTimeout = time.Second
	srv := site(t)
	acquire(t, p).Release()
	pid := p.PIDs()[0]
	// A stopped browser answers nothing, like a hung one.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tab := acquire(t, p)
	defer tab.Release()
	t.Logf("Acquire on a hung browser took %v", time.Since(start))
	navigate(t, tab, srv.URL+"/page")
	if got := p.PIDs(); slices.Contains(got, pid) {
		t.Errorf("PIDs() = %v still holds the hung browser %d", got, pid)
	}
	if got := p.Stats().Restarts[causeCrash]; got != 1 {
		t.Errorf("Restarts[crash] = %d, want 1", got)
	}
	waitGone(t, pid)
}

// TestHangShortDeadline checks that a hung browser is caught even when every
// run gives up before the hang timeout.
func TestHangShortDeadline(t *testing.T) {
	p := newPool(t, Options{})
	p.hangTimeout = 2 * time.Second
	srv := site(t)
	acquire(t, p).Release()
	pid := p.PIDs()[0]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if tab, err := p.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		tab.Release()
		t.Fatalf("Acquire on a hung browser with a short deadline: err = %v, want DeadlineExceeded", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Restarts[causeCrash] != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the hung browser was not replaced")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tab := acquire(t, p)
	defer tab.Release()
	navigate(t, tab, srv.URL+"/page")
	waitGone(t, pid)
}

func TestRecycle(t *testing.T) {
	p := newPool(t, Options{RecycleAfter: 3})
	srv := site(t)
	var first int
	for i := range 3 {
		tab := acquire(t, p)
		if i == 0 {
			first = p.PIDs()[0]
		}
		navigate(t, tab, srv.URL+"/page")
		tab.Release()
	}
	tab := acquire(t, p)
	defer tab.Release()
	if got := p.PIDs(); len(got) != 1 || got[0] == first {
		t.Errorf("PIDs() = %v after 3 runs with RecycleAfter=3, want one browser other than %d", got, first)
	}
	if got := p.Stats().Restarts; got[causeRuns] != 1 || got[causeCrash] != 0 {
		t.Errorf("Restarts = %v, want recycle_runs=1 only", got)
	}
	waitGone(t, first)
}

func TestRecycleRSS(t *testing.T) {
	p := newPool(t, Options{MaxRSS: 1})
	tab := acquire(t, p)
	first := p.PIDs()[0]
	tab.Release()
	tab = acquire(t, p)
	defer tab.Release()
	if got := p.PIDs(); len(got) != 1 || got[0] == first {
		t.Errorf("PIDs() = %v, want a browser other than %d after one over MaxRSS", got, first)
	}
	if got := p.Stats().Restarts[causeRSS]; got != 1 {
		t.Errorf("Restarts[recycle_rss] = %d, want 1", got)
	}
}

func TestAcquireAfterClose(t *testing.T) {
	p := newPool(t, Options{})
	tab := acquire(t, p)
	p.Close()
	if !tab.Crashed() {
		t.Error("a tab in use when the pool closed does not report a crash")
	}
	tab.Release()
	if _, err := p.Acquire(context.Background()); err == nil {
		t.Error("Acquire after Close succeeded")
	}
	p.Close()
}

func TestStartFailure(t *testing.T) {
	p := newPool(t, Options{ExecPath: "/nonexistent/chromium"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Acquire(ctx); err == nil || !strings.Contains(err.Error(), "/nonexistent/chromium") {
		t.Errorf("Acquire with a missing browser: err = %v, want one naming the path", err)
	}
	if st := p.Stats(); st.TabsInUse != 0 || st.Browsers != 0 {
		t.Errorf("Stats = %+v after a failed start", st)
	}
}

// TestHygiene runs many journeys with recycling, then checks that Close leaves
// no process, no zombie and no goroutine. It also logs the costs that the
// design relies on.
func TestHygiene(t *testing.T) {
	const runs, recycle = 50, 10
	p := newPool(t, Options{RecycleAfter: recycle})
	srv := site(t)

	groups := map[int]bool{}
	var cycles []time.Duration
	var idleRSS, maxRSS int64
	for i := range runs {
		start := time.Now()
		tab := acquire(t, p)
		for _, pid := range p.PIDs() {
			groups[pid] = true
		}
		navigate(t, tab, srv.URL+"/page")
		tab.Release()
		if i%recycle != 0 { // the first run of a browser includes its start
			cycles = append(cycles, time.Since(start))
		}
		rss := p.Stats().RSSBytes
		maxRSS = max(maxRSS, rss)
		if i == 0 {
			idleRSS = rss
		}
	}
	if got := p.Stats().Restarts[causeRuns]; got != runs/recycle {
		t.Errorf("Restarts[recycle_runs] = %d, want %d", got, runs/recycle)
	}
	dir := p.dir
	p.Close()
	assertClean(t, dir, groups)

	slices.Sort(cycles)
	t.Logf("warm Acquire+Navigate+Release: median %v, p90 %v, max %v",
		cycles[len(cycles)/2], cycles[len(cycles)*9/10], cycles[len(cycles)-1])
	t.Logf("RSS of the browser after its first run %d MiB; highest over %d runs (recycled every %d) %d MiB",
		idleRSS>>20, runs, recycle, maxRSS>>20)
}

// TestMemory measures one browser without recycling: start time, idle memory,
// and growth over 50 runs.
func TestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement only")
	}
	p := newPool(t, Options{RecycleAfter: 1000})
	srv := site(t)

	start := time.Now()
	tab := acquire(t, p)
	cold := time.Since(start)
	tab.Release()
	var started time.Duration
	p.mu.Lock()
	for b := range p.all {
		started = b.started
	}
	p.mu.Unlock()
	pid := p.PIDs()[0]
	time.Sleep(500 * time.Millisecond)
	rss0, pss0 := p.Stats().RSSBytes, groupPSS(pid)
	t.Logf("browser start %v (cold Acquire %v); idle after one run: RSS %d MiB, PSS %d MiB", started, cold, rss0>>20, pss0>>20)

	for i := range 50 {
		tab := acquire(t, p)
		navigate(t, tab, srv.URL+"/set?v="+strconv.Itoa(i))
		tab.Release()
	}
	time.Sleep(500 * time.Millisecond)
	rss1, pss1 := p.Stats().RSSBytes, groupPSS(pid)
	t.Logf("after 50 more runs: RSS %d MiB (%+d), PSS %d MiB (%+d)", rss1>>20, (rss1-rss0)>>20, pss1>>20, (pss1-pss0)>>20)

	var tabs []*Tab
	for range 4 {
		tab := acquire(t, p)
		navigate(t, tab, srv.URL+"/page")
		tabs = append(tabs, tab)
	}
	t.Logf("with 4 tabs open: RSS %d MiB, PSS %d MiB", p.Stats().RSSBytes>>20, groupPSS(pid)>>20)
	for _, tab := range tabs {
		tab.Release()
	}
}

// groupPSS sums the proportional set size of group pgid, which counts shared
// pages once, unlike RSS.
func groupPSS(pgid int) int64 {
	var sum int64
	for _, pr := range readProcs() {
		if pr.pgrp != pgid {
			continue
		}
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pr.pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				sum += kb << 10
			}
		}
	}
	return sum
}

// assertClean fails unless no process uses dir, none is left in the groups
// of the browsers or is Chromium in our own group, and no child of ours is a
// zombie.
func assertClean(t *testing.T, dir string, groups map[int]bool) {
	t.Helper()
	self, ownGroup := os.Getpid(), syscall.Getpgrp()
	for _, pr := range readProcs() {
		if pr.pid == self {
			continue
		}
		switch {
		case pr.state == 'Z' && pr.ppid == self:
			t.Errorf("zombie child left: pid %d (%s), group %d", pr.pid, pr.comm, pr.pgrp)
		case pr.state != 'Z' && groups[pr.pgrp]:
			t.Errorf("process left in a browser's group: pid %d (%s), group %d", pr.pid, pr.comm, pr.pgrp)
		case pr.state != 'Z' && pr.pgrp == ownGroup && chromiumName(pr.comm):
			t.Errorf("chromium process left in our own group: pid %d (%s)", pr.pid, pr.comm)
		case pr.state != 'Z' && usesDir(pr.pid, dir):
			t.Errorf("process left that uses the pool's directory %s: pid %d (%s)", dir, pr.pid, pr.comm)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pool's directory %s is still there: %v", dir, err)
	}
}

// waitGone waits until nothing of the browser group pgid runs any more; its
// clean-up runs in the background after a crash or a recycle.
func waitGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, pr := range readProcs() {
			if pr.pgrp == pgid && pr.state != 'Z' {
				left = append(left, fmt.Sprintf("%d(%s)", pr.pid, pr.comm))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of browser %d still run: %v", pgid, left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{Browsers: -1, MaxTabs: 0, RecycleAfter: -5, MaxRSS: -1}.withDefaults()
	if got.ExecPath != defaultExecPath || got.Browsers != 1 || got.MaxTabs != 4 || got.RecycleAfter != 100 || got.MaxRSS != 1<<30 || got.Logger == nil {
		t.Errorf("withDefaults() = %+v", got)
	}
}

func TestParseFlag(t *testing.T) {
	for _, tc := range []struct {
		in    string
		name  string
		value any
		ok    bool
	}{
		{"--lang=en", "lang", "en", true},
		{"--mute-audio", "mute-audio", true, true},
		{"window-size=800,600", "window-size", "800,600", true},
		{"--disable-features=A,B", "disable-features", "A,B", true},
		{"--x=", "x", "", true},
		{"", "", nil, false},
		{"--", "", nil, false},
		{"--=v", "", nil, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			name, value, ok := parseFlag(tc.in)
			if name != tc.name || value != tc.value || ok != tc.ok {
				t.Errorf("parseFlag(%q) = %q, %v, %v; want %q, %v, %v", tc.in, name, value, ok, tc.name, tc.value, tc.ok)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	line := []byte("1234 (chrome (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 10 0 12345 1000000 2500 18446744073709551615")
	pr, ok := parseStat(1234, line, 4096)
	if !ok || pr.comm != "chrome (x) y" || pr.state != 'S' || pr.ppid != 1 || pr.pgrp != 1234 || pr.rss != 2500*4096 {
		t.Errorf("parseStat = %+v, %v", pr, ok)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1", "1 (x) SS 1 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"} {
		if _, ok := parseStat(1, []byte(bad), 4096); ok {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}
