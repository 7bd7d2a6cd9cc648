package main

import (
	"math"
	"strings"
	"testing"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name    string
		q       float64
		buckets []bucket
		want    float64
	}{
		{"empty", .99, []bucket{{.01, 0}, {inf, 0}}, math.NaN()},
		{"first bucket from zero", .5, []bucket{{.01, 10}, {.1, 10}, {inf, 10}}, .005},
		{"interpolated", .99, []bucket{{.001, 50}, {.005, 90}, {.01, 100}, {inf, 100}}, .005 + .005*(99-90)/10},
		{"in +Inf: highest finite bound", .99, []bucket{{.001, 50}, {1, 90}, {inf, 100}}, 1},
		{"exact bound", .9, []bucket{{.001, 50}, {.005, 90}, {inf, 100}}, .005},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quantile(tt.q, tt.buckets)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-12) {
				t.Errorf("quantile(%g) = %g, want %g", tt.q, got, tt.want)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x help
# TYPE x counter
x_total{journey="a",outcome="success",reason=""} 3
x_total{journey="b\"q",outcome="failure",reason="connect"} 2 1700000000000
h_bucket{le="0.05"} 7
h_bucket{le="+Inf"} 8
h_bucket{le="0.001"} 1
process_resident_memory_bytes 1.5e+07
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.sum("x_total", nil); got != 5 {
		t.Errorf("sum = %g, want 5", got)
	}
	if got := m.sum("x_total", map[string]string{"outcome": "success"}); got != 3 {
		t.Errorf("sum of success = %g, want 3", got)
	}
	if got := m.sum("x_total", map[string]string{"journey": `b"q`}); got != 2 {
		t.Errorf("escaped label: sum = %g, want 2", got)
	}
	if got := m.sum("process_resident_memory_bytes", nil); got != 1.5e7 {
		t.Errorf("rss = %g", got)
	}
	h := m.histogram("h")
	if len(h) != 3 || h[0].le != .001 || !math.IsInf(h[2].le, 1) {
		t.Fatalf("histogram = %v, want sorted by le", h)
	}
	if got := fractionAtMost(.05, h); got != 7.0/8 {
		t.Errorf("fractionAtMost = %g", got)
	}
	d := histogramDelta([]bucket{{.001, 1}, {.05, 2}, {math.Inf(1), 2}}, h)
	if d[1].count != 5 || d[2].count != 6 {
		t.Errorf("delta = %v", d)
	}
}
