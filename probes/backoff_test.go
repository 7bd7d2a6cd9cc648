package probes_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

// lockedIdP is a token endpoint that refuses the password (invalid_grant)
// until told to accept it, or answers 500 when down.
type lockedIdP struct {
	*httptest.Server
	accept, down atomic.Bool
	hits         atomic.Int64
}

func newLockedIdP(t *testing.T) *lockedIdP {
	t.Helper()
	idp := &lockedIdP{}
	idp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case idp.down.Load():
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":"server_error"}`)
		case idp.accept.Load():
			fmt.Fprint(w, `{"access_token":"tok","token_type":"Bearer","expires_in":60}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"wrong username or password"}`)
		}
	}))
	t.Cleanup(idp.Close)
	return idp
}

// passwordJourney is a password grant against idp, run every interval.
func passwordJourney(t *testing.T, idp *lockedIdP, interval time.Duration) []*probes.Journey {
	t.Helper()
	js := compile(t, `
journeys:
  - name: login
    steps:
      - name: token
        oauth2: { token_url: "%s/token", grant: password, client_id: c, username: probe, password: wrong }`, idp.URL)
	// Shorter than a config allows, so the test sees many intervals.
	js[0].Interval, js[0].Timeout = interval, interval*3/4
	return js
}

// backoffs records what OnBackoff reports.
type backoffs struct {
	mu   sync.Mutex
	list []probes.Backoff
}

func watchBackoff(s *probes.Scheduler) *backoffs {
	b := &backoffs{}
	s.OnBackoff = func(_ *probes.Journey, _ probes.SeriesKey, bo probes.Backoff) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.list = append(b.list, bo)
	}
	return b
}

func (b *backoffs) snapshot() []probes.Backoff {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]probes.Backoff(nil), b.list...)
}

func waitForBackoffTest(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
	}
}

func backoffResults(e *events) ([]probes.Result, map[string]int) {
	results, skips := e.snapshot()
	sort.Slice(results, func(i, j int) bool { return results[i].Scheduled.Before(results[j].Scheduled) })
	return results, skips
}

// invalidRuns returns the runs refused with invalid_credentials, in order:
// the k-th is the one after which a series has k refusals. Under load a
// run may time out instead; such runs neither count nor reset.
func invalidRuns(results []probes.Result) []probes.Result {
	var out []probes.Result
	for _, r := range results {
		if r.Reason == probes.ReasonInvalidCredentials {
			out = append(out, r)
		}
	}
	return out
}

// checkBackoffs checks each backoff event against the refused run that
// caused it: its pause is want(failures), it ends that long after the run
// was due, and no run was due in between.
func checkBackoffs(t *testing.T, results []probes.Result, events []probes.Backoff, want func(failures int) time.Duration) {
	t.Helper()
	refused := invalidRuns(results)
	for _, b := range events {
		if b.Until.IsZero() {
			continue
		}
		if b.Failures < 1 || b.Failures > len(refused) {
			t.Errorf("backoff %+v after %d refused runs", b, len(refused))
			continue
		}
		r := refused[b.Failures-1]
		if b.Interval != want(b.Failures) || !b.Until.Equal(r.Scheduled.Add(b.Interval)) {
			t.Errorf("after %d refusals the backoff is %s until %s; want %s after the run due at %s",
				b.Failures, b.Interval, b.Until.Format(time.StampMilli), want(b.Failures), r.Scheduled.Format(time.StampMilli))
		}
		for _, o := range results {
			if o.Scheduled.After(r.Scheduled) && o.Scheduled.Before(b.Until) {
				t.Errorf("a run was due at %s, during the backoff from %s to %s", o.Scheduled.Format(time.StampMilli),
					r.Scheduled.Format(time.StampMilli), b.Until.Format(time.StampMilli))
			}
		}
	}
}

// minGap is the shortest time between two runs' due times.
func minGap(results []probes.Result) time.Duration {
	gap := time.Duration(1 << 62)
	for i := 1; i < len(results); i++ {
		gap = min(gap, results[i].Scheduled.Sub(results[i-1].Scheduled))
	}
	return gap
}

// After two refused runs the series waits 2, then 4 intervals, capped at
// max_backoff (4 intervals here); the due runs in between are skipped with
// cause backoff, and the first success resumes the schedule.
func TestBackoffAfterRefusedCredentials(t *testing.T) {
	const interval = 250 * time.Millisecond
	idp := newLockedIdP(t)
	s := probes.NewScheduler(nil)
	e := watch(s)
	bo := watchBackoff(s)
	s.SetLockoutProtection(config.LockoutProtection{After: 2, MaxBackoff: config.Duration(4 * interval)})
	s.Apply(passwordJourney(t, idp, interval), 10)
	start(t, s)

	waitForBackoffTest(t, 10*time.Second, "5 refused runs", func() bool { r, _ := e.snapshot(); return len(invalidRuns(r)) >= 5 })
	results, skips := backoffResults(e)
	events := bo.snapshot()
	failures := map[int]bool{}
	for _, b := range events {
		failures[b.Failures] = true
	}
	if !failures[2] || !failures[3] || !failures[4] || failures[1] {
		t.Errorf("backoff events %+v; want one after the 2nd, 3rd and 4th refusal, none after the 1st", events)
	}
	checkBackoffs(t, results, events, func(n int) time.Duration { return min(time.Duration(1<<(n-1)), 4) * interval })
	// The slots skipped: 1 in the pause after the 2nd refusal, 3 after the 3rd.
	if n := skips["login/backoff"]; n < 4 {
		t.Errorf("%d runs skipped with cause backoff by the fifth refusal, want at least 4", n)
	}

	// The password is fixed: the next run, still backed off, succeeds and
	// the series runs every interval again.
	idp.accept.Store(true)
	waitForBackoffTest(t, 5*time.Second, "three runs after a success", func() bool {
		r, _ := backoffResults(e)
		for i, x := range r {
			if x.Outcome == probes.OutcomeSuccess {
				return len(r)-i >= 4
			}
		}
		return false
	})
	results, _ = backoffResults(e)
	for i, x := range results {
		if x.Outcome == probes.OutcomeSuccess {
			results = results[i:]
			break
		}
	}
	if gap := minGap(results); gap != interval {
		t.Errorf("after a success runs are at least %s apart, want %s", gap, interval)
	}
	if got := bo.snapshot(); got[len(got)-1] != (probes.Backoff{}) {
		t.Errorf("the last backoff event is %+v; a success must end the backoff", got[len(got)-1])
	}
}

// A reload that changes the journey ends its backoff: the new settings may
// carry the fixed password. A reload that leaves it alone keeps it.
func TestBackoffEndsWhenTheJourneyChanges(t *testing.T) {
	const interval = 250 * time.Millisecond
	idp := newLockedIdP(t)
	s := probes.NewScheduler(nil)
	e := watch(s)
	bo := watchBackoff(s)
	s.SetLockoutProtection(config.LockoutProtection{After: 1, MaxBackoff: config.Duration(time.Minute)})
	js := passwordJourney(t, idp, interval)
	s.Apply(js, 10)
	start(t, s)
	// 2, 4, then 8 intervals after the third refusal.
	waitForBackoffTest(t, 10*time.Second, "a backoff of 8 intervals", func() bool {
		got := bo.snapshot()
		return len(got) > 0 && got[len(got)-1].Interval == 8*interval
	})
	results, _ := backoffResults(e)
	got := bo.snapshot()
	until := got[len(got)-1].Until
	checkBackoffs(t, results, got, func(n int) time.Duration { return time.Duration(1<<n) * interval })
	s.Apply(js, 10)
	time.Sleep(3 * interval)
	if r, _ := e.snapshot(); len(r) != len(results) {
		t.Errorf("%d runs, then %d; an unchanged journey must stay backed off", len(results), len(r))
	}

	changed := *js[0]
	changed.Fingerprint += "-changed"
	applied := time.Now()
	s.Apply([]*probes.Journey{&changed}, 10)
	waitForBackoffTest(t, 2*time.Second, "a run after the reload", func() bool { r, _ := e.snapshot(); return len(r) > len(results) })
	after, _ := backoffResults(e)
	next := after[len(results)].Scheduled
	if !next.Before(until) || next.Sub(applied) > 2*interval {
		t.Errorf("the changed journey was due %s after the reload, its backoff ran until %s after it; want it on its schedule",
			next.Sub(applied), until.Sub(applied))
	}
	got = bo.snapshot()
	if i := len(got) - 1; got[i] != (probes.Backoff{}) && (i == 0 || got[i-1] != (probes.Backoff{})) {
		t.Errorf("backoff events %+v; the reload must end the backoff", got)
	}
}

// Only refused credentials back off: a journey failing for another reason
// keeps its schedule, and so does every journey with the protection off.
func TestNoBackoffForOtherFailuresOrWhenOff(t *testing.T) {
	const interval = 250 * time.Millisecond
	for _, tt := range []struct {
		name    string
		lockout config.LockoutProtection
		down    bool
	}{
		{"identity provider down", config.LockoutProtection{After: 1, MaxBackoff: config.Duration(time.Minute)}, true},
		{"protection off", config.LockoutProtection{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			idp := newLockedIdP(t)
			idp.down.Store(tt.down)
			s := probes.NewScheduler(nil)
			e := watch(s)
			bo := watchBackoff(s)
			s.SetLockoutProtection(tt.lockout)
			s.Apply(passwordJourney(t, idp, interval), 10)
			start(t, s)
			waitForBackoffTest(t, 5*time.Second, "5 runs", func() bool { r, _ := e.snapshot(); return len(r) >= 5 })
			results, skips := backoffResults(e)
			if gap := minGap(results); gap != interval {
				t.Errorf("runs at least %s apart, want %s", gap, interval)
			}
			if skips["login/backoff"] != 0 || len(bo.snapshot()) != 0 {
				t.Errorf("skips %v, backoff %+v", skips, bo.snapshot())
			}
		})
	}
}
