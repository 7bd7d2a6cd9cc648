// Package hostile runs journeys against targets that misbehave on purpose
// — slow, huge, looping, lying about certificates, answering with bombs
// and forged tokens — and checks that every run ends with the reason it is
// designed to end with, within its timeout plus 100ms, with bounded memory,
// and without leaving a goroutine behind. docs/security.md tabulates the
// cases.
package hostile

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/testdns"
	"github.com/authprobe/authprobe/probes"
)

func TestMain(m *testing.M) {
	var err error
	dns, err = testdns.Start(map[string][]net.IP{
		"app.test.":       {net.ParseIP("127.0.0.1")},
		"elsewhere.test.": {net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		printTable()
	}
	dns.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// slack is how far past its timeout a run may end: the engine promises a
// run never outlives its deadline by more than this.
const slack = 100 * time.Millisecond

// defaultHeapBound bounds how much the heap may grow during one run.
const defaultHeapBound = 64 << 20

// hostileCase is one hostile target and the reason a run against it is
// designed to end with.
type hostileCase struct {
	name   string
	reason probes.Reason // "" for success
	// yaml is a config with one journey; its timeout is the run's.
	yaml string
	// heap bounds the heap's growth during the run; 0 means
	// defaultHeapBound. alloc, when set, bounds everything allocated.
	heap, alloc uint64
	// msg, when set, must appear in the run's message.
	msg string
	// check makes further assertions after the run (what a server saw).
	check func(t *testing.T, res probes.Result)
	// raceSlack is added to slack under the race detector, for cases
	// that move many MiB: the detector slows copying several times, and
	// io.ReadAll then stops up to 150ms past the deadline.
	raceSlack time.Duration
}

// measurement is what one run cost.
type measurement struct {
	took      time.Duration
	peakHeap  uint64 // peak growth of heap objects over the baseline
	allocated uint64 // bytes allocated during the run
}

var (
	tableMu sync.Mutex
	table   = map[string]string{}
)

// runCases runs each case as a subtest, with no goroutine left behind.
func runCases(t *testing.T, env *probes.Env, cases []hostileCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			noLeaks(t)
			c.run(t, env)
		})
	}
}

// run executes the case's journey once with env, measuring it, and checks
// its reason, time and memory. Goroutines are checked by noLeaks.
func (c hostileCase) run(t *testing.T, env *probes.Env) {
	t.Helper()
	_, js := probetest.Compile(t, c.yaml)
	if len(js) != 1 {
		t.Fatalf("the case's config has %d journeys, want 1", len(js))
	}
	j := js[0]
	res, m := measure(func() probes.Result {
		return j.Execute(context.Background(), env, j.Variants[0], "")
	})
	t.Logf("%s: %s %q at %q in %s, heap +%s (allocated %s): %s", c.name, res.Outcome, res.Reason, res.FailedStep,
		m.took.Round(time.Millisecond), mib(m.peakHeap), mib(m.allocated), res.Message)
	tableMu.Lock()
	table[c.name] = fmt.Sprintf("| %s | `%s` | `%s` | %s | %s | %s |", c.name, reasonText(c.reason), reasonText(res.Reason),
		m.took.Round(time.Millisecond), mib(m.peakHeap), mib(m.allocated))
	tableMu.Unlock()

	if res.Reason != c.reason {
		t.Errorf("reason %q (%s: %s); designed %q", res.Reason, res.Outcome, res.Message, c.reason)
	}
	if c.reason == "" && res.Outcome != probes.OutcomeSuccess {
		t.Errorf("outcome %s; want success", res.Outcome)
	}
	if c.msg != "" && !strings.Contains(res.Message, c.msg) {
		t.Errorf("message %q should contain %q", res.Message, c.msg)
	}
	allowed := slack
	if raceEnabled {
		allowed += c.raceSlack
	}
	if m.took > j.Timeout+allowed {
		t.Errorf("the run took %s; its timeout %s must end it within %s", m.took.Round(time.Millisecond), j.Timeout, allowed)
	}
	bound := c.heap
	if bound == 0 {
		bound = defaultHeapBound
	}
	if m.peakHeap > bound {
		t.Errorf("the heap grew by %s during the run; the bound is %s", mib(m.peakHeap), mib(bound))
	}
	if c.alloc > 0 && m.allocated > c.alloc {
		t.Errorf("the run allocated %s; the bound is %s", mib(m.allocated), mib(c.alloc))
	}
	if c.check != nil {
		c.check(t, res)
	}
}

func reasonText(r probes.Reason) string {
	if r == "" {
		return "success"
	}
	return string(r)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// measure runs f, timing it and sampling the heap while it runs.
func measure(f func() probes.Result) (probes.Result, measurement) {
	runtime.GC()
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	baseHeap, baseAlloc := samples[0].Value.Uint64(), samples[1].Value.Uint64()

	var peak uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	res := f()
	took := time.Since(start)
	close(stop)
	<-stopped
	metrics.Read(samples)
	peak = max(peak, samples[0].Value.Uint64())
	m := measurement{took: took, allocated: samples[1].Value.Uint64() - baseAlloc}
	if peak > baseHeap {
		m.peakHeap = peak - baseHeap
	}
	return res, m
}

// printTable prints the measured table, for docs/security.md, when
// AUTHPROBE_HOSTILE_TABLE is set.
func printTable() {
	if os.Getenv("AUTHPROBE_HOSTILE_TABLE") == "" {
		return
	}
	rows := make([]string, 0, len(table))
	for _, r := range table {
		rows = append(rows, r)
	}
	sort.Strings(rows)
	fmt.Println("| case | designed | got | time | heap growth | allocated |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// noLeaks fails the test if goroutines started during it outlive it. Call
// it first in a test, before starting servers, so that its check runs
// after their cleanups.
func noLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// dns is a DNS server for the cases that need names: app.test and
// elsewhere.test are 127.0.0.1, nope.test does not exist, and names under
// servfail fail.
var dns *testdns.Server

// testEnv is an environment that resolves names with dns.
func testEnv() *probes.Env { return &probes.Env{Resolver: dns.Resolver()} }

// rawServer is a TCP listener whose connections a handler serves byte by
// byte, for misbehaviour net/http will not produce.
type rawServer struct {
	ln       net.Listener
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

// startRaw serves every connection with handle until the test ends;
// handle must return when done is closed or the connection fails.
func startRaw(t *testing.T, handle func(c net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.accepted++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c, s.done)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *rawServer) Addr() string { return s.ln.Addr().String() }

// Port is the server's port.
func (s *rawServer) Port() string { _, p, _ := net.SplitHostPort(s.Addr()); return p }

// Accepted is how many connections the server accepted.
func (s *rawServer) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Close stops the server and waits for its handlers.
func (s *rawServer) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest reads a request's head, up to the blank line.
func readRequest(c net.Conn) error {
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), "\r\n\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		got = append(got, buf[:n]...)
	}
	return nil
}

// sleep waits d or until done is closed; it reports whether d passed.
func sleep(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

// drain reads a connection until it fails.
func drain(c net.Conn) { io.Copy(io.Discard, c) }
