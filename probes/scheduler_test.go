package probes_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/testdns"
	"github.com/authprobe/authprobe/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func compile(t *testing.T, yaml string, args ...any) []*probes.Journey {
	t.Helper()
	_, js := probetest.Compile(t, fmt.Sprintf(yaml, args...))
	return js
}

// events collects what a scheduler reports.
type events struct {
	mu      sync.Mutex
	results []probes.Result
	skips   map[string]int
	series  map[probes.SeriesKey]bool
	removed []probes.SeriesKey
}

func watch(s *probes.Scheduler) *events {
	e := &events{skips: map[string]int{}, series: map[probes.SeriesKey]bool{}}
	s.OnResult = func(_ *probes.Journey, r probes.Result) { e.mu.Lock(); e.results = append(e.results, r); e.mu.Unlock() }
	s.OnSkip = func(_ *probes.Journey, k probes.SeriesKey, cause string) {
		e.mu.Lock()
		e.skips[k.Journey+"/"+cause]++
		e.mu.Unlock()
	}
	s.OnSeries = func(_ *probes.Journey, k probes.SeriesKey, added bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if added {
			e.series[k] = true
		} else {
			delete(e.series, k)
			e.removed = append(e.removed, k)
		}
	}
	return e
}

func (e *events) snapshot() ([]probes.Result, map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	skips := map[string]int{}
	for k, v := range e.skips {
		skips[k] = v
	}
	return append([]probes.Result(nil), e.results...), skips
}

// start runs a scheduler until the test ends.
func start(t *testing.T, s *probes.Scheduler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestOffsetsAreStableAndSpread(t *testing.T) {
	const interval = 10 * time.Second
	buckets := make([]int, 10)
	for i := range 1000 {
		id := fmt.Sprintf("journey-%d\x00\x00", i)
		o := probes.Offset(id, interval)
		if o != probes.Offset(id, interval) {
			t.Fatal("offset is not deterministic")
		}
		if o < 0 || o >= interval {
			t.Fatalf("offset %s outside the interval", o)
		}
		buckets[o*10/interval]++
	}
	for i, n := range buckets {
		if n < 60 || n > 140 {
			t.Errorf("tenth %d of the interval holds %d of 1000 starts; want about 100", i, n)
		}
	}
}

func TestScheduleFollowsOffsets(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	js := compile(t, `
journeys:
  - name: a
    interval: 1s
    steps: [{ name: get, http: { url: "%[1]s" } }]
  - name: b
    interval: 1s
    steps: [{ name: get, http: { url: "%[1]s" } }]`, srv.URL)
	s := probes.NewScheduler(nil)
	e := watch(s)
	s.Apply(js, 10)
	start(t, s)
	time.Sleep(3500 * time.Millisecond)
	results, _ := e.snapshot()
	perJourney := map[string]int{}
	for _, r := range results {
		perJourney[r.Journey]++
		offset := probes.Offset(r.Journey+"\x00\x00", time.Second)
		if got := time.Duration(r.Scheduled.UnixNano() % int64(time.Second)); got != offset {
			t.Errorf("%s was scheduled at +%s in its second; its offset is %s", r.Journey, got, offset)
		}
		if late := r.Start.Sub(r.Scheduled); late < 0 || late > 250*time.Millisecond { // generous: a loaded CI machine; lateness is benchmarked
			t.Errorf("%s started %s after its scheduled time", r.Journey, late)
		}
		if r.Outcome != probes.OutcomeSuccess {
			t.Errorf("%s: %s %s", r.Journey, r.Reason, r.Message)
		}
	}
	for _, name := range []string{"a", "b"} {
		if n := perJourney[name]; n < 3 || n > 4 {
			t.Errorf("%s ran %d times in 3.5s at a 1s interval", name, n)
		}
	}
}

// A target slower than the interval: each run ends at its deadline and the
// next starts at once, on schedule, never alongside it.
func TestSlowTargetNeverOverlaps(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2500 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	js := compile(t, `
journeys:
  - name: slow
    interval: 1s
    timeout: 1s
    steps: [{ name: get, http: { url: "%s" } }]`, srv.URL)
	s := probes.NewScheduler(nil)
	e := watch(s)
	s.Apply(js, 10)
	start(t, s)
	time.Sleep(4500 * time.Millisecond)
	results, skips := e.snapshot()
	if len(skips) != 0 {
		t.Errorf("skips %v; a run that ends at its deadline hands over to the next", skips)
	}
	if len(results) < 3 {
		t.Errorf("%d runs in 4.5s at a 1s interval", len(results))
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Start.Before(results[j].Start) })
	for i, r := range results {
		if r.Reason != probes.ReasonTimeout {
			t.Errorf("reason %q, want timeout", r.Reason)
		}
		if late := r.Start.Sub(r.Scheduled); late > 250*time.Millisecond {
			t.Errorf("a run started %s late", late)
		}
		if i > 0 {
			prev := results[i-1]
			if end := prev.Start.Add(prev.Duration); r.Start.Before(end) {
				t.Errorf("a run started at %s while the previous one ran until %s", r.Start.Format(time.StampMicro), end.Format(time.StampMicro))
			}
		}
	}
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		// Answer within the timeout: a request the client gave up on
		// would still count here for a moment after its slot is free.
		time.Sleep(800 * time.Millisecond)
	}))
	defer srv.Close()
	yaml := "global: { max_concurrency: 2, interval: 1s, timeout: 5s }\njourneys:\n"
	for i := range 6 {
		yaml += fmt.Sprintf("  - { name: j%d, steps: [{ name: get, http: { url: %q } }] }\n", i, srv.URL)
	}
	s := probes.NewScheduler(nil)
	e := watch(s)
	s.Apply(compile(t, "%s", yaml), 2)
	start(t, s)
	time.Sleep(3 * time.Second)
	_, skips := e.snapshot()
	if most.Load() > 2 {
		t.Errorf("%d runs in flight; max_concurrency is 2", most.Load())
	}
	concurrency := 0
	for k, v := range skips {
		if strings.HasSuffix(k, "/"+probes.SkipConcurrency) {
			concurrency += v
		}
	}
	if concurrency == 0 {
		t.Error("no run was skipped although 6 journeys of 0.8s each share 2 slots every second")
	}
}

func TestHungTargetDoesNotHoldTheRun(t *testing.T) {
	t.Parallel()
	hung, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hung.Close()
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			// Never answer; return when authprobe gives up and hangs up.
			go func() { defer conns.Done(); defer c.Close(); io.Copy(io.Discard, c) }()
		}
	}()
	js := compile(t, `
journeys:
  - name: hung
    interval: 1s
    timeout: 300ms
    steps: [{ name: get, http: { url: "http://%s/" } }]`, hung.Addr())
	s := probes.NewScheduler(nil)
	e := watch(s)
	s.Apply(js, 10)
	start(t, s)
	time.Sleep(2500 * time.Millisecond)
	results, skips := e.snapshot()
	if len(results) < 2 {
		t.Fatalf("%d results in 2.5s", len(results))
	}
	for _, r := range results {
		if r.Reason != probes.ReasonTimeout || r.Duration > 400*time.Millisecond {
			t.Errorf("run ended with %q after %s; want timeout within 300ms + 100ms", r.Reason, r.Duration)
		}
	}
	if len(skips) != 0 {
		t.Errorf("skips %v: a timed-out run must not hold the next start", skips)
	}
	hung.Close()
	conns.Wait()
}

func TestApplyKeepsUnchangedAndStopsRemoved(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	base := `
journeys:
  - name: keep
    interval: 1s
    steps: [{ name: get, http: { url: "%[1]s/keep" } }]
  - name: drop
    interval: 1s
    variants: [{ name: x }, { name: y }]
    steps: [{ name: get, http: { url: "%[1]s/drop" } }]`
	s := probes.NewScheduler(nil)
	e := watch(s)
	s.Apply(compile(t, base, srv.URL), 10)
	if len(e.series) != 3 {
		t.Fatalf("series %v; want keep, drop/x, drop/y", e.series)
	}
	start(t, s)
	time.Sleep(1500 * time.Millisecond)
	s.Apply(compile(t, `
journeys:
  - name: keep
    interval: 1s
    steps: [{ name: get, http: { url: "%[1]s/keep" } }]
  - name: new
    interval: 1s
    steps: [{ name: get, http: { url: "%[1]s/new" } }]`, srv.URL), 10)
	reloaded := time.Now()
	time.Sleep(2 * time.Second)
	results, _ := e.snapshot()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.removed) != 2 || e.series[probes.SeriesKey{Journey: "drop", Variant: "x"}] {
		t.Errorf("removed %v; want drop/x and drop/y", e.removed)
	}
	var keepTimes []time.Time
	for _, r := range results {
		if r.Journey == "drop" && r.Start.After(reloaded) {
			t.Errorf("a removed journey ran after the reload")
		}
		if r.Journey == "keep" {
			keepTimes = append(keepTimes, r.Scheduled)
		}
	}
	for i := 1; i < len(keepTimes); i++ {
		if d := keepTimes[i].Sub(keepTimes[i-1]); d != time.Second {
			t.Errorf("the unchanged journey's runs are %s apart across a reload; want exactly its interval", d)
		}
	}
}

// DNS fan-out follows the records: an address that disappears takes its
// series with it, so pods that come and go do not grow cardinality.
func TestDNSFanOutFollowsRecords(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns, err := testdns.Start(map[string][]net.IP{"pods.test.": {net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.3")}})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	s := probes.NewScheduler(&probes.Env{Resolver: dns.Resolver()})
	e := watch(s)
	s.Apply(compile(t, `
journeys:
  - name: pods
    interval: 1s
    timeout: 500ms
    targets: { host: "api.test:80", dns: "pods.test:%s" }
    steps: [{ name: get, http: { url: "http://api.test/" } }]`, port), 10)
	start(t, s)
	time.Sleep(1500 * time.Millisecond)
	dns.Set("pods.test.", []net.IP{net.ParseIP("127.0.0.1")})
	time.Sleep(1500 * time.Millisecond)
	e.mu.Lock()
	defer e.mu.Unlock()
	want := map[probes.SeriesKey]bool{{Journey: "pods", Target: "127.0.0.1:" + port}: true}
	if fmt.Sprint(e.series) != fmt.Sprint(want) {
		t.Errorf("series %v; want only %v", e.series, want)
	}
	if len(e.removed) != 1 || e.removed[0].Target != "127.0.0.3:"+port {
		t.Errorf("removed %v; want the vanished address", e.removed)
	}
}
