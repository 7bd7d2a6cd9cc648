package demo_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authprobe/authprobe/internal/demo"
	"github.com/authprobe/authprobe/internal/probetest"
)

// Each fault switch turns the built-in journeys red with the reason that
// names the incident it reproduces, and clearing it turns them green.
func TestFaultSwitchesFlipTheReasons(t *testing.T) {
	t.Setenv("AUTHPROBE_DEMO_PASSWORD", "pw-for-the-demo")
	t.Setenv("AUTHPROBE_DEMO_CLIENT_SECRET", "secret-for-the-demo")
	realm, err := demo.New("pw-for-the-demo", "secret-for-the-demo")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(realm.Handler())
	defer srv.Close()
	cfg, journeys := probetest.Compile(t, string(demo.Config(srv.URL)))
	runAll := func() map[string]string {
		var mu sync.Mutex
		got := map[string]string{}
		var wg sync.WaitGroup
		for _, j := range journeys {
			wg.Go(func() {
				res := j.Execute(context.Background(), nil, j.Variants[0], "")
				mu.Lock()
				got[j.Name] = string(res.Reason) + "@" + res.FailedStep
				mu.Unlock()
			})
		}
		wg.Wait()
		return got
	}
	green := map[string]string{"password-login": "@", "wrong-password-refused": "@", "api-token": "@"}
	tests := []struct {
		name   string
		faults demo.Faults
		want   map[string]string
	}{
		{"no fault", demo.Faults{}, green},
		{"signing key rotated on the API only", demo.Faults{KeyDrift: true},
			map[string]string{"password-login": "@", "wrong-password-refused": "@", "api-token": "token_rejected@use-token"}},
		{"login returns 500 (missing env var)", demo.Faults{Login500: true},
			map[string]string{"password-login": "http_status@login-page", "wrong-password-refused": "http_status@login-page", "api-token": "http_status@token"}},
		{"latency beyond the timeout", demo.Faults{Latency: 4 * time.Second},
			map[string]string{"password-login": "timeout@login-page", "wrong-password-refused": "timeout@login-page", "api-token": "timeout@token"}},
		{"cleared", demo.Faults{}, green},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			realm.SetFaults(tt.faults)
			start := time.Now()
			got := runAll()
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s: got %q, want %q", name, got[name], want)
				}
			}
			if took := time.Since(start); took > cfg.Global.Timeout.D()+500*time.Millisecond {
				t.Errorf("runs took %s; the demo's timeout is %s", took, cfg.Global.Timeout)
			}
		})
	}
}
