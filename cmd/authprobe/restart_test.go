package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authprobe/authprobe/probes"
)

// restartReadyLimit is how soon a restarted authprobe must be ready and
// serving /metrics. On a quiet machine it takes a few tens of
// milliseconds; the margin is for CI machines under load and -race.
const restartReadyLimit = 2 * time.Second

// A crash mid-run (kill -9 while runs are in flight) and a restart: the
// new process is ready and serving /metrics within restartReadyLimit, its
// journeys keep the phase within their interval that they had before (the
// offsets are a hash of the journey, not of the start time), and its
// counters start again from zero, with a new process start time, which is
// the counter reset Prometheus' rate() and increase() expect.
func TestCrashRestart(t *testing.T) {
	var inFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Slow enough that a kill lands while runs are in flight.
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	intervals := map[string]time.Duration{"every-1s": time.Second, "also-1s": time.Second, "every-2s": 2 * time.Second, "every-3s": 3 * time.Second}
	var cfg strings.Builder
	cfg.WriteString("global: { timeout: 1s, location: test }\njourneys:\n")
	for name, iv := range intervals {
		fmt.Fprintf(&cfg, "  - { name: %s, interval: %s, steps: [{ name: get, http: { url: %q } }] }\n", name, iv, srv.URL+"/"+name)
	}
	path := filepath.Join(t.TempDir(), "authprobe.yaml")
	writeConfig(t, path, "%s", cfg.String())
	addr := freePort(t)

	first, _ := startOn(t, addr, path)
	first.waitFor(t, 10*time.Second, "two runs of every journey", func() bool {
		s := first.scheduleState(t)
		for name := range intervals {
			if len(s[name].History) < 2 {
				return false
			}
		}
		return true
	})
	before := first.scheduleState(t)
	startBefore := first.metricValue(t, "process_start_time_seconds")
	runsBefore := first.metricSum(t, "authprobe_journey_runs_total")
	var running int64
	first.waitFor(t, 5*time.Second, "a run in flight", func() bool { running = inFlight.Load(); return running > 0 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	first.cmd.Wait()
	t.Logf("killed with %d runs in flight, about %.0f runs counted", running, runsBefore)

	second, ready := startOn(t, addr, path)
	t.Logf("restart: ready (/-/ready 200) %v after the exec, %v after the kill", ready.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if ready > restartReadyLimit {
		t.Errorf("the restarted authprobe was ready after %v; want under %v", ready, restartReadyLimit)
	}
	if code, _ := second.get("/metrics"); code != 200 {
		t.Errorf("/metrics right after ready: %d", code)
	}

	// Counters start from zero: every run count exists at 0 before the
	// first run ends, and the process start time is new.
	if sum := second.metricSum(t, "authprobe_journey_runs_total"); sum != 0 {
		t.Errorf("authprobe_journey_runs_total sums to %v right after the restart; want 0", sum)
	}
	if start := second.metricValue(t, "process_start_time_seconds"); start <= startBefore {
		t.Errorf("process_start_time_seconds %v after the restart, %v before; want later", start, startBefore)
	}

	second.waitFor(t, 10*time.Second, "two runs of every journey after the restart", func() bool {
		s := second.scheduleState(t)
		for name := range intervals {
			if len(s[name].History) < 2 {
				return false
			}
		}
		return true
	})
	after := second.scheduleState(t)
	for name, iv := range intervals {
		want := probes.Offset(name+"\x00\x00", iv)
		b, a := before[name], after[name]
		// Due times are exact: offset + k × interval since the epoch.
		for when, s := range map[string]scheduleSeries{"before": b, "after": a} {
			if got := phase(s.Last.Scheduled, iv); got != want {
				t.Errorf("%s %s the restart: due at phase %v of %v, want %v", name, when, got, iv, want)
			}
		}
		// Starts are at the due time plus the scheduler's lateness.
		var late []string
		for when, s := range map[string]scheduleSeries{"before": b, "after": a} {
			for _, h := range s.History {
				d := circular(phase(h.Start, iv)-want, iv)
				late = append(late, fmt.Sprintf("%s %v", when, d.Round(100*time.Microsecond)))
				if d < 0 || d > 500*time.Millisecond {
					t.Errorf("%s %s the restart: a run started %v from its phase %v", name, when, d, want)
				}
			}
		}
		t.Logf("%s (every %v): phase %v; starts after it: %s", name, iv, want.Round(time.Millisecond), strings.Join(late, ", "))
	}
	if sum := second.metricSum(t, "authprobe_journey_runs_total"); sum <= 0 || sum >= runsBefore+20 {
		t.Errorf("authprobe_journey_runs_total sums to %v after the restart (%v before the kill)", sum, runsBefore)
	}
}

// startOn starts authprobe on addr and returns it with how long it took,
// from the exec, to answer /-/ready with 200.
func startOn(t *testing.T, addr, config string) (*process, time.Duration) {
	t.Helper()
	p := &process{base: "http://" + addr}
	p.cmd = exec.Command(binary, "run", "--config", config, "--web.listen-address", addr)
	p.cmd.Env = os.Environ()
	p.cmd.Stderr, p.cmd.Stdout = p, p
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, time.Since(began)
			}
		}
		if time.Since(began) > 30*time.Second {
			t.Fatalf("authprobe not ready after 30s: %v\n%s", err, p.logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scheduleSeries is what the test reads of a series in /api/v1/journeys.
type scheduleSeries struct {
	Last struct {
		Scheduled time.Time `json:"scheduled"`
	} `json:"last"`
	History []struct {
		Start time.Time `json:"start"`
	} `json:"history"`
}

func (p *process) scheduleState(t *testing.T) map[string]scheduleSeries {
	t.Helper()
	_, body := p.get("/api/v1/journeys")
	var doc struct {
		Series []struct {
			Journey string `json:"journey"`
			scheduleSeries
		} `json:"series"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/api/v1/journeys: %v\n%s", err, body)
	}
	out := map[string]scheduleSeries{}
	for _, s := range doc.Series {
		out[s.Journey] = s.scheduleSeries
	}
	return out
}

// metricSum adds every sample of a metric on /metrics.
func (p *process) metricSum(t *testing.T, name string) float64 {
	t.Helper()
	code, body := p.get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	sum, found := 0.0, false
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		t.Fatalf("no %s on /metrics", name)
	}
	return sum
}

func (p *process) metricValue(t *testing.T, name string) float64 { return p.metricSum(t, name) }

// phase is where in its interval a moment falls, counted from the Unix
// epoch as the scheduler does.
func phase(at time.Time, interval time.Duration) time.Duration {
	return time.Duration(at.UnixNano() % int64(interval))
}

// circular maps a phase difference into [-interval/2, interval/2).
func circular(d, interval time.Duration) time.Duration {
	d %= interval
	if d >= interval/2 {
		d -= interval
	} else if d < -interval/2 {
		d += interval
	}
	return d
}
