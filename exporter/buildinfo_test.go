package exporter_test

import (
	"runtime"
	"testing"

	"github.com/authprobe/authprobe/exporter"
)

// authprobe_build_info carries the version and the commit that the build
// stamped (main.version, main.commit), as Prometheus' own build_info does.
func TestBuildInfo(t *testing.T) {
	r := exporter.NewRecorder("v1.2.3", exporter.WithRevision("0a1b2c3"))
	got, _ := scrape(t, exporter.Handler(exporter.Options{Recorder: r}))
	has(t, got, map[string]float64{
		`authprobe_build_info{goversion="` + runtime.Version() + `",revision="0a1b2c3",version="v1.2.3"}`: 1,
	})
}
