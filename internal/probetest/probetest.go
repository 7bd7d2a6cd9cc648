// Package probetest loads configs for tests the way authprobe run does:
// strict decoding, then compiling every journey, with every step kind
// linked in.
package probetest

import (
	"path/filepath"
	"testing"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
	_ "github.com/authprobe/authprobe/probes/kinds" // every step kind
)

// Compile loads a config held in a string, failing the test with the
// config's errors if it is invalid. Relative ${file:} paths resolve in a
// temporary directory.
func Compile(t testing.TB, yaml string) (*config.Config, []*probes.Journey) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), filepath.Join(t.TempDir(), "authprobe.yaml"))
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		t.Fatalf("compile:\n%v", err)
	}
	return cfg, journeys
}

// Errors loads and compiles a config that should be invalid and returns
// its errors as text, "" if it is valid.
func Errors(t testing.TB, yaml string) string {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), filepath.Join(t.TempDir(), "authprobe.yaml"))
	if err == nil {
		_, err = probes.Compile(cfg)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
