package exporter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/probes"
)

// A journey whose password the identity provider keeps refusing backs off:
// its skipped runs are counted with cause backoff, the status page and the
// API say until when and why, the exported interval is the pause (so the
// journey does not look stalled), and a success puts it all back.
func TestBackoffIsShown(t *testing.T) {
	const interval = 250 * time.Millisecond
	var accept atomic.Bool
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if accept.Load() {
			fmt.Fprint(w, `{"access_token":"tok","token_type":"Bearer"}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"wrong username or password"}`)
	}))
	defer idp.Close()
	_, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: login
    steps:
      - name: token
        oauth2: { token_url: "%s/token", grant: password, client_id: c, username: probe, password: wrong }`, idp.URL))
	js[0].Interval, js[0].Timeout = interval, interval*4/5

	r := exporter.NewRecorder("test")
	s := probes.NewScheduler(nil)
	s.OnResult, s.OnSkip, s.OnSeries, s.OnBackoff = r.Result, r.Skip, r.Series, r.Backoff
	s.SetLockoutProtection(config.LockoutProtection{After: 2, MaxBackoff: config.Duration(8 * interval)})
	s.Apply(js, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := exporter.Handler(exporter.Options{Recorder: r})

	const labels = `journey="login",location="",target="",variant=""}`
	skipped := series(`authprobe_runs_skipped_total{cause="backoff",` + labels)
	intervalKey := `authprobe_journey_interval_seconds{journey="login",location=""}`
	got, _ := scrape(t, h)
	has(t, got, map[string]float64{skipped: 0, intervalKey: interval.Seconds()})

	// Refused twice, then 2, 4 and 8 intervals apart: after the fourth
	// refusal the series waits 8 intervals, 3+1 skips later.
	deadline := time.Now().Add(10 * time.Second)
	var status struct {
		Series []exporter.SeriesStatus `json:"series"`
	}
	for {
		status.Series = nil
		json.Unmarshal(get(h, "/api/v1/journeys").Body.Bytes(), &status)
		if b := status.Series[0].Backoff; b != nil && b.Failures == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backoff after 4 refused runs: %+v", status.Series[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := status.Series[0].Backoff
	last := status.Series[0].Last
	if b.Reason != probes.ReasonInvalidCredentials || b.Interval != (8*interval).Seconds() ||
		!b.Until.Equal(last.Scheduled.Add(8*interval)) || status.Series[0].State != "failing" {
		t.Errorf("backoff %+v after the run scheduled at %s; want 8 intervals after it, for invalid_credentials", b, last.Scheduled)
	}
	got, _ = scrape(t, h)
	if got[skipped] < 1+3 {
		t.Errorf("%s = %v; want the 4 runs skipped before the fourth", skipped, got[skipped])
	}
	has(t, got, map[string]float64{intervalKey: (8 * interval).Seconds()})
	page := get(h, "/").Body.String()
	for _, want := range []string{"1 backing off", "backing off until " + b.Until.UTC().Format("2006-01-02 15:04:05 UTC"),
		`after 4 runs failed with <span class="reason">invalid_credentials</span>: every 2.00s instead of 250ms`} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page does not say %q:\n%s", want, page)
		}
	}

	// The password is fixed: the next run, 8 intervals on, succeeds.
	accept.Store(true)
	deadline = time.Now().Add(5 * time.Second)
	for {
		status.Series = nil
		json.Unmarshal(get(h, "/api/v1/journeys").Body.Bytes(), &status)
		if status.Series[0].State == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no success after the fix: %+v", status.Series[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status.Series[0].Backoff != nil {
		t.Errorf("backoff %+v after a success", status.Series[0].Backoff)
	}
	got, _ = scrape(t, h)
	has(t, got, map[string]float64{intervalKey: interval.Seconds()})
	if page := get(h, "/").Body.String(); strings.Contains(page, "backing off") {
		t.Error("the status page still says backing off after a success")
	}
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}
