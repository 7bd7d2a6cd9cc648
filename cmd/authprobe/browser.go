package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authprobe/authprobe/probes/browserstep"
)

// browserCollector exports the browser pool's health: restarts by cause
// (a crash is worth an alert), memory, tabs in use.
type browserCollector struct{}

var (
	browserRestarts = prometheus.NewDesc("authprobe_browser_restarts_total",
		"Browsers replaced, by cause: crash, recycle_runs, recycle_rss.", []string{"cause"}, nil)
	browserRSS = prometheus.NewDesc("authprobe_browser_rss_bytes",
		"Resident memory of the browsers' processes.", nil, nil)
	browserTabs = prometheus.NewDesc("authprobe_browser_tabs_in_use",
		"Browser steps running now.", nil, nil)
)

func (browserCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- browserRestarts
	ch <- browserRSS
	ch <- browserTabs
}

func (browserCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := browserstep.Stats()
	if !ok {
		return // no browser step has run: no browser to describe
	}
	for _, cause := range []string{"crash", "recycle_runs", "recycle_rss"} {
		ch <- prometheus.MustNewConstMetric(browserRestarts, prometheus.CounterValue, float64(st.Restarts[cause]), cause)
	}
	ch <- prometheus.MustNewConstMetric(browserRSS, prometheus.GaugeValue, float64(st.RSSBytes))
	ch <- prometheus.MustNewConstMetric(browserTabs, prometheus.GaugeValue, float64(st.TabsInUse))
}
