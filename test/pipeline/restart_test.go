package pipeline

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An ongoing outage's page survives a crash of authprobe: kill -9 and a
// restart during the outage (once while only the hard-down alert fires,
// once after the burn-rate alert has joined it) must neither resolve the
// PagerDuty incident nor open another one. Prometheus and Alertmanager are
// the real programs with the time-scaled shipped rules and routing, as in
// TestAlertPipeline.
func TestRestartDuringOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("the restart pipeline takes about two minutes")
	}
	dir := t.TempDir()
	bin := buildAuthprobe(t, dir)

	var down atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Slow enough that a kill lands while runs are in flight.
		time.Sleep(100 * time.Millisecond)
		if r.URL.Path == "/login" && down.Load() {
			http.Error(w, "login backend unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(target.Close)
	st := newStack(t, dir)
	pd, apAddr, promURL := st.pd, st.apAddr, st.promURL
	cfgFile := writeFile(t, dir, "authprobe.yaml", []byte(fmt.Sprintf(`
global: { interval: 1s, timeout: 1s, location: e2e }
journeys:
  - { name: login, steps: [{ name: submit, http: { url: %[1]q }, expect: { status: 200 } }] }
  - { name: steady, steps: [{ name: home, http: { url: %[2]q }, expect: { status: 200 } }] }
`, target.URL+"/login", target.URL+"/steady")))

	startAuthprobe := func() (*proc, time.Duration) {
		began := time.Now()
		p := start(t, "authprobe", nil, bin, "run", "--config", cfgFile, "--web.listen-address", apAddr)
		waitHTTPEvery(t, p, "http://"+apAddr+"/-/ready", 30*time.Second, 5*time.Millisecond)
		return p, time.Since(began)
	}
	ap, _ := startAuthprobe()
	st.start(t)

	watch := watchAlerts(t, promURL, "login")
	firing := func(alert string) bool {
		v, err := query(promURL, fmt.Sprintf(`ALERTS{alertname=%q, journey="login", alertstate="firing"}`, alert))
		return err == nil && len(v) > 0
	}
	waitFor(t, "healthy journeys and recorded SLIs", 60*time.Second, func() bool {
		v, err := query(promURL, `min(sum by (journey) (authprobe_journey_runs_total{outcome="success"})) >= 10`)
		r, err2 := query(promURL, `journey:authprobe_sli_error:ratio_rate5m{journey="login"}`)
		return err == nil && err2 == nil && len(v) > 0 && len(r) > 0
	})

	// The outage: the login backend fails. The hard-down page arrives.
	outage := time.Now()
	down.Store(true)
	var page pdEvent
	waitFor(t, "the hard-down page", 60*time.Second, func() bool {
		var ok bool
		page, ok = pd.find(func(e pdEvent) bool { return e.EventAction == "trigger" && e.Payload.Component == "login" })
		return ok
	})
	t.Logf("outage → page: %v (%s)", page.at.Sub(outage).Round(100*time.Millisecond), page.Payload.Class)

	// Observing a restart covers the scaled timers it could trip: the
	// prober-down `for` (4 s), Alertmanager's group interval (2 s), the
	// burn-rate `for` (4 s) and keep_firing_for (20 s).
	const observe = 25 * time.Second
	crash := func(when string) {
		t.Helper()
		ap.kill()
		killed := time.Now()
		var ready time.Duration
		ap, ready = startAuthprobe()
		t.Logf("%s: kill -9, restarted: ready %v after the exec, %v after the kill", when, ready.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		time.Sleep(observe)
		t.Logf("%s: AuthJourneyDown %s", when, watch.summary("AuthJourneyDown", killed))
		t.Logf("%s: AuthJourneyErrorBudgetBurn %s", when, watch.summary("AuthJourneyErrorBudgetBurn", killed))
	}

	// 1. Only the hard-down alert holds the page.
	if firing("AuthJourneyErrorBudgetBurn") {
		t.Log("the burn-rate alert already fires: the first restart does not test the hard-down alert alone")
	}
	crash("restart 1 (hard-down alert only)")

	// 2. The burn-rate alert has joined it.
	waitFor(t, "the fast burn-rate alert", 60*time.Second, func() bool { return firing("AuthJourneyErrorBudgetBurn") })
	crash("restart 2 (hard-down and burn-rate alerts)")

	for _, e := range pd.all() {
		t.Logf("PagerDuty: %s %s %s dedup_key %s… %q", e.at.Format("15:04:05.000"), e.EventAction, e.Payload.Class, e.DedupKey[:min(8, len(e.DedupKey))], e.Payload.Summary)
		switch {
		case e.DedupKey != page.DedupKey && e.EventAction == "trigger":
			t.Errorf("a second page during one outage (a new dedup_key): %s %q", e.Payload.Class, e.Payload.Summary)
		case e.DedupKey == page.DedupKey && e.EventAction == "resolve":
			t.Errorf("the outage's incident was resolved at %s while the outage went on: the next trigger opens a new incident",
				e.at.Format("15:04:05.000"))
		}
	}
}

// buildAuthprobe builds the binary under test into dir.
func buildAuthprobe(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "authprobe")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/authprobe/authprobe/cmd/authprobe").CombinedOutput(); err != nil {
		t.Fatalf("building authprobe: %v\n%s", err, out)
	}
	return bin
}

// alertWatch polls Prometheus' active alerts of one journey, so that a
// test can say whether an alert stayed active across an event or ended
// and began again (a new activeAt).
type alertWatch struct {
	mu   sync.Mutex
	seen []alertSeen
}

type alertSeen struct {
	at    time.Time
	state map[string]alertState // by alertname; absent when inactive
}

type alertState struct {
	State    string    `json:"state"`
	ActiveAt time.Time `json:"activeAt"`
}

func watchAlerts(t *testing.T, promURL, journey string) *alertWatch {
	w := &alertWatch{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			resp, err := http.Get(promURL + "/api/v1/alerts")
			if err != nil {
				continue
			}
			var body struct {
				Data struct {
					Alerts []struct {
						Labels map[string]string `json:"labels"`
						alertState
					} `json:"alerts"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				continue
			}
			s := alertSeen{at: time.Now(), state: map[string]alertState{}}
			for _, a := range body.Data.Alerts {
				if a.Labels["journey"] == journey || a.Labels["alertname"] == "AuthProberDown" {
					s.state[a.Labels["alertname"]] = a.alertState
				}
			}
			w.mu.Lock()
			w.seen = append(w.seen, s)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return w
}

// summary says what an alert did from since on: whether it stayed active
// with one activeAt, and for how long it was inactive.
func (w *alertWatch) summary(alert string, since time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var actives []time.Time
	var gaps []string
	var gapStart time.Time
	polls := 0
	for _, s := range w.seen {
		if s.at.Before(since) {
			continue
		}
		polls++
		st, ok := s.state[alert]
		switch {
		case !ok && gapStart.IsZero():
			gapStart = s.at
		case ok && !gapStart.IsZero():
			gaps = append(gaps, fmt.Sprintf("inactive %.1f–%.1f s after the kill", gapStart.Sub(since).Seconds(), s.at.Sub(since).Seconds()))
			gapStart = time.Time{}
		}
		if ok && !slices.Contains(actives, st.ActiveAt) {
			actives = append(actives, st.ActiveAt)
		}
	}
	if !gapStart.IsZero() {
		gaps = append(gaps, fmt.Sprintf("inactive from %.1f s after the kill to the end", gapStart.Sub(since).Seconds()))
	}
	if len(gaps) == 0 {
		return fmt.Sprintf("stayed active (%d polls, activeAt %v)", polls, actives)
	}
	return fmt.Sprintf("%s; activeAt values: %d (%d polls)", strings.Join(gaps, ", "), len(actives), polls)
}
