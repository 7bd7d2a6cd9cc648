package demo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authprobe/authprobe/internal/demo"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/probes"
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
	realm.SetIssuer(srv.URL)
	var apis []string
	for i := 1; i <= demo.Replicas; i++ {
		api := httptest.NewServer(realm.APIHandler(i))
		defer api.Close()
		apis = append(apis, api.Listener.Addr().String())
	}
	cfg, journeys := probetest.Compile(t, string(demo.Config(srv.URL, apis, false)))
	// runAll runs every journey once for every target, as the scheduler
	// would, keyed by journey and target (replica).
	runAll := func() map[string]string {
		got := map[string]string{}
		for _, r := range probes.RunOnce(context.Background(), nil, journeys, 16) {
			key := r.Journey
			for i, a := range apis {
				if r.Target == a {
					key += fmt.Sprintf("@replica%d", i+1)
				}
			}
			got[key] = string(r.Reason) + "@" + r.FailedStep
		}
		return got
	}
	green := map[string]string{"password-login": "@", "wrong-password-refused": "@", "api-token@replica1": "@", "api-token@replica2": "@"}
	tests := []struct {
		name   string
		faults demo.Faults
		want   map[string]string
	}{
		{"no fault", demo.Faults{}, green},
		{"signing key rotated on one API replica", demo.Faults{KeyDrift: true},
			map[string]string{"password-login": "@", "wrong-password-refused": "@", "api-token@replica1": "@", "api-token@replica2": "token_rejected@use-token"}},
		{"login returns 500 (missing env var)", demo.Faults{Login500: true},
			map[string]string{"password-login": "http_status@login-page", "wrong-password-refused": "http_status@login-page",
				"api-token@replica1": "idp_error@token", "api-token@replica2": "idp_error@token"}},
		{"latency beyond the timeout", demo.Faults{Latency: 4 * time.Second},
			map[string]string{"password-login": "timeout@login-page", "wrong-password-refused": "timeout@login-page",
				"api-token@replica1": "timeout@token", "api-token@replica2": "timeout@token"}},
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
