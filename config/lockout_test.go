package config_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
)

// Lockout protection is on by default; a file sets part of it, the rest
// keeps its default, and after: 0 turns it off.
func TestLockoutProtection(t *testing.T) {
	const journeys = "\njourneys:\n  - name: login\n    steps: [{ name: home, http: { url: \"https://app.example.com/\" } }]\n"
	for _, tt := range []struct {
		yaml string
		want config.LockoutProtection
	}{
		{"", config.LockoutProtection{After: 3, MaxBackoff: config.Duration(time.Hour)}},
		{"global: { lockout_protection: { after: 5 } }", config.LockoutProtection{After: 5, MaxBackoff: config.Duration(time.Hour)}},
		{"global: { lockout_protection: { max_backoff: 10m } }", config.LockoutProtection{After: 3, MaxBackoff: config.Duration(10 * time.Minute)}},
		{"global: { lockout_protection: { after: 0, max_backoff: 0s } }", config.LockoutProtection{}},
	} {
		cfg, err := config.Parse([]byte(tt.yaml+journeys), filepath.Join(t.TempDir(), "c.yaml"))
		if err != nil {
			t.Errorf("%q: %v", tt.yaml, err)
			continue
		}
		if got := cfg.Global.LockoutProtection; got != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.yaml, got, tt.want)
		}
	}

	_, err := config.Parse([]byte("global: { lockout_protection: { max_backoff: 500ms } }"+journeys), "c.yaml")
	want := `c.yaml:1: global.lockout_protection.max_backoff: 500ms is too short; the minimum is 1s (set after: 0 to turn the protection off)`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}
