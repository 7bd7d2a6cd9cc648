package probes

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
)

// stubborn is a step kind that ignores cancellation, as a wedged browser
// might: the case overlap protection exists for.
type stubborn struct{ busy *atomic.Int64 }

func (s stubborn) Do(ctx context.Context, _ *Run) (*Response, error) {
	s.busy.Add(1)
	defer s.busy.Add(-1)
	time.Sleep(2500 * time.Millisecond)
	return nil, nil
}

var stubbornBusy atomic.Int64

func init() {
	Register(Kind{Name: "test-stubborn", NewSpec: func() any { return new(struct{}) },
		Build: func(any) (Step, error) { return stubborn{&stubbornBusy}, nil }})
}

func TestOverlapIsSkippedAndCounted(t *testing.T) {
	cfg, err := config.Parse([]byte("journeys: [{ name: wedged, interval: 1s, steps: [{ name: s, test-stubborn: {} }] }]"),
		filepath.Join(t.TempDir(), "c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScheduler(nil)
	var mu sync.Mutex
	var overlaps, most int64
	s.OnSkip = func(_ *Journey, _ SeriesKey, cause string) {
		mu.Lock()
		defer mu.Unlock()
		if cause == SkipOverlap {
			overlaps++
		}
	}
	s.OnResult = func(*Journey, Result) {}
	s.Apply(js, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		most = max(most, stubbornBusy.Load())
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		t.Errorf("%d runs in flight at once; a run still going must never be overlapped", most)
	}
	if overlaps < 2 {
		t.Errorf("%d overlap skips in 4.5s of 2.5s runs at a 1s interval; want at least 2", overlaps)
	}
}
