package exporter_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/probes"
)

// busyRecorder has series of every shape: fan-out targets and variants,
// steps with TLS, token and key-set gauges, browser actions, failures by
// reason, skips, a backoff, exemplars, and label values to escape.
func busyRecorder(t *testing.T) *exporter.Recorder {
	t.Helper()
	login, spa := journeys(t)[0], spaJourney(t)
	r := exporter.NewRecorder("test")
	r.SetLocation(`eu "west"\1`)
	now := time.Unix(1_790_000_000, 0)
	for i, key := range []probes.SeriesKey{
		{Journey: "login", Target: "10.0.0.7:443"},
		{Journey: "login", Target: `[::1]:443`, Variant: "wrong\npassword"},
		{Journey: "login"},
	} {
		r.Series(login, key, true)
		if i == 2 {
			continue // never ran: counters at 0, no gauges
		}
		failure := probes.Result{Journey: key.Journey, Target: key.Target, Variant: key.Variant, Start: now.Add(time.Second),
			Duration: 3 * time.Second, Outcome: probes.OutcomeFailure, Reason: probes.ReasonNotRejected, FailedStep: "submit"}
		start := now
		if i == 1 {
			r.Result(login, failure)
			start = now.Add(2 * time.Second) // the success is its last run
		}
		r.Result(login, probes.Result{Journey: key.Journey, Target: key.Target, Variant: key.Variant, Start: start, Scheduled: start,
			Duration: 120 * time.Millisecond, Outcome: probes.OutcomeSuccess, TraceID: "0af7651916cd43dd8448eb211c80319c",
			Steps: []probes.StepResult{{Name: "page", Duration: 80 * time.Millisecond}, {Name: "submit", Duration: 40 * time.Millisecond}},
			Gauges: []probes.StepGauge{
				{Step: "page", Name: probes.GaugeTLSCertExpiry, Value: 1.9e9},
				{Step: "submit", Name: probes.GaugeTokenExpiry, Value: 1.8e9},
				{Step: "submit", Name: probes.GaugeJWKSKeys, Value: 2},
				{Step: "submit", Name: probes.GaugeJWKSFingerprint, Value: 1, Label: "abc123"},
			}})
		if i == 0 {
			r.Result(login, failure)
		}
		r.Skip(login, key, probes.SkipConcurrency)
		r.Backoff(login, key, probes.Backoff{Until: now.Add(time.Hour), Interval: time.Minute, Failures: 3})
	}
	key := probes.SeriesKey{Journey: "spa"}
	r.Series(spa, key, true)
	r.Result(spa, probes.Result{Journey: "spa", Start: now, Duration: 2 * time.Second, Outcome: probes.OutcomeFailure,
		Reason: probes.ReasonElementNotFound, FailedStep: "login", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Steps: []probes.StepResult{{Name: "login", Outcome: probes.OutcomeFailure, Actions: []probes.ActionResult{
			{Name: "1:navigate", Duration: 300 * time.Millisecond, TTFB: 0.05, DOMContentLoaded: 0.2, Load: 0.25},
			{Name: "2:click", Duration: time.Second, Failed: true}}}}})
	r.Reloaded(nil)
	return r
}

// The text formats' page is written by authprobe itself; it must say what
// client_golang would say from the registry, line for line, but for the
// empty labels it leaves out (Prometheus treats them as absent).
func TestTextPagesMatchTheRegistry(t *testing.T) {
	r := busyRecorder(t)
	for name, format := range textFormats {
		t.Run(name, func(t *testing.T) {
			page := samePage(t, r, format)
			if !strings.Contains(string(page), `target="[::1]:443",variant="wrong\npassword"`) || !strings.Contains(string(page), `location="eu \"west\"\\1"`) {
				t.Error("label values are not escaped")
			}
			if format.FormatType() == expfmt.TypeOpenMetrics {
				if !strings.HasSuffix(string(page), "\n# EOF\n") || strings.Count(string(page), "# EOF") != 1 {
					t.Error("the OpenMetrics page does not end with one # EOF")
				}
				if !strings.Contains(string(page), ` # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 2.0 `) {
					t.Error("no exemplar on the journey duration buckets")
				}
				return
			}
			// Every family is one block, as the text format requires;
			// the parser would also refuse a second HELP or TYPE line.
			parser := expfmt.NewTextParser(model.UTF8Validation)
			if _, err := parser.TextToMetricFamilies(bytes.NewReader(page)); err != nil {
				t.Errorf("the text page does not parse: %v", err)
			}
			seen, last := map[string]bool{}, ""
			for line := range strings.Lines(string(page)) {
				if strings.HasPrefix(line, "#") {
					continue
				}
				name := strings.TrimRight(strings.SplitN(strings.SplitN(line, "{", 2)[0], " ", 2)[0], "\n")
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					name = strings.TrimSuffix(name, s)
				}
				if name != last && seen[name] {
					t.Errorf("%s comes back after other families", name)
				}
				seen[name], last = true, name
			}
		})
	}
}

var textFormats = map[string]expfmt.Format{"text": expfmt.NewFormat(expfmt.TypeTextPlain), "openmetrics": expfmt.NewFormat(expfmt.TypeOpenMetrics)}

// A page of many chunks (the writer lets go of the lock every 256 series),
// journeys that span chunks, series that never ran, the location set for
// the first time and a series removed: still what the registry says.
func TestTextPagesAcrossChunks(t *testing.T) {
	_, js := probetest.Compile(t, `
journeys:
  - { name: a, steps: [{ name: get, http: { url: "https://a.example.com/" } }] }
  - { name: b, interval: 5s, steps: [{ name: get, http: { url: "https://b.example.com/" } }, { name: post, http: { method: POST, url: "https://b.example.com/" } }] }
`)
	r := exporter.NewRecorder("test")
	now := time.Unix(1_790_000_000, 0)
	var keys []probes.SeriesKey
	for i := range 700 {
		j := js[i%2]
		key := probes.SeriesKey{Journey: j.Name, Target: fmt.Sprintf("10.0.%d.%d:443", i/256, i%256)}
		keys = append(keys, key)
		r.Series(j, key, true)
		if i%3 == 0 {
			continue
		}
		r.Result(j, probes.Result{Journey: j.Name, Target: key.Target, Start: now, Duration: time.Duration(i) * time.Millisecond,
			Outcome: probes.OutcomeSuccess, TraceID: fmt.Sprintf("%032x", i),
			Steps: []probes.StepResult{{Name: "get", Duration: time.Duration(i) * time.Millisecond}, {Name: "post", Duration: time.Millisecond}}})
	}
	for _, format := range textFormats {
		samePage(t, r, format)
	}
	r.SetLocation("eu-west-1")
	r.Series(js[0], keys[0], false)
	for _, format := range textFormats {
		page := string(samePage(t, r, format))
		if strings.Contains(page, keys[0].Target+`"`) {
			t.Errorf("the removed series %s is on the page", keys[0].Target)
		}
		if n := strings.Count(page, "authprobe_journey_slo_objective_ratio{"); n != 2 {
			t.Errorf("%d objective samples for 2 journeys", n)
		}
	}
}

// samePage scrapes the text format asked for, gzipped, and checks it says
// line for line what client_golang would say from the registry, but for
// the empty labels it leaves out (Prometheus treats them as absent). It
// returns the page.
func samePage(t *testing.T, r *exporter.Recorder, format expfmt.Format) []byte {
	t.Helper()
	h := exporter.Handler(exporter.Options{Recorder: r})
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", string(format))
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("/metrics: %d, Content-Encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	if got := expfmt.Format(rec.Header().Get("Content-Type")).FormatType(); got != format.FormatType() {
		t.Fatalf("Content-Type %q; asked for %s", rec.Header().Get("Content-Type"), format)
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}

	families, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := expfmt.NewEncoder(&want, format)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		c.Close()
	}

	got, wanted := authprobeLines(string(page)), authprobeLines(want.String())
	// The journey histogram's exemplars are kept twice, by
	// client_golang and by the recorder, each with its own
	// clock reading: their times are compared apart.
	stamps := map[string][]float64{}
	for _, lines := range [][]string{got, wanted} {
		for i := range lines {
			var at float64
			lines[i], at = withoutExemplarTime(withoutEmptyLabels(lines[i]))
			if at != 0 {
				stamps[lines[i]] = append(stamps[lines[i]], at)
			}
		}
	}
	for line, at := range stamps {
		if len(at) != 2 || math.Abs(at[0]-at[1]) > 1 {
			t.Errorf("exemplar times %v of %s; want one on each side, a second apart at most", at, line)
		}
	}
	slices.Sort(got)
	slices.Sort(wanted)
	if !slices.Equal(got, wanted) {
		for _, l := range wanted {
			if !slices.Contains(got, l) {
				t.Errorf("the page lacks %s", l)
			}
		}
		for _, l := range got {
			if !slices.Contains(wanted, l) {
				t.Errorf("the page has %s, which the registry does not", l)
			}
		}
	}
	if n := len(got); n < 200 {
		t.Errorf("only %d authprobe lines; the recorder has more", n)
	}
	return page
}

// The protobuf format (native histograms) is client_golang's, from the
// same registry.
func TestProtobufPage(t *testing.T) {
	r := busyRecorder(t)
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	rec := httptest.NewRecorder()
	exporter.Handler(exporter.Options{Recorder: r}).ServeHTTP(rec, req)
	if got := expfmt.Format(rec.Header().Get("Content-Type")).FormatType(); got != expfmt.TypeProtoDelim {
		t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(rec.Body, expfmt.NewFormat(expfmt.TypeProtoDelim))
	native := false
	names := map[string]bool{}
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names[f.GetName()] = true
		if f.GetName() == "authprobe_journey_duration_seconds" {
			for _, m := range f.GetMetric() {
				native = native || m.GetHistogram().GetSchema() != 0 || len(m.GetHistogram().GetPositiveSpan()) > 0
			}
		}
	}
	for _, n := range []string{"authprobe_journey_runs_total", "authprobe_jwks_info", "authprobe_journey_interval_seconds", "go_goroutines"} {
		if !names[n] {
			t.Errorf("the protobuf page lacks %s", n)
		}
	}
	if !native {
		t.Error("the protobuf page has no native histogram buckets")
	}
}

// authprobeLines are the lines of authprobe's own families.
func authprobeLines(page string) []string {
	var out []string
	for line := range strings.Lines(page) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "authprobe_") || strings.HasPrefix(line, "# HELP authprobe_") || strings.HasPrefix(line, "# TYPE authprobe_") {
			out = append(out, line)
		}
	}
	return out
}

// withoutEmptyLabels removes label="" pairs from a sample line's label set
// (never from its exemplar's).
func withoutEmptyLabels(line string) string {
	if strings.HasPrefix(line, "#") {
		return line
	}
	name, rest, ok := strings.Cut(line, "{")
	if !ok {
		return line
	}
	set, tail, _ := strings.Cut(rest, "} ")
	var keep []string
	for pair := range strings.SplitSeq(set, ",") {
		if !strings.HasSuffix(pair, `=""`) {
			keep = append(keep, pair)
		}
	}
	if len(keep) == 0 {
		return name + " " + tail
	}
	return name + "{" + strings.Join(keep, ",") + "} " + tail
}

// withoutExemplarTime removes an OpenMetrics exemplar's timestamp from a
// sample line, and returns it.
func withoutExemplarTime(line string) (string, float64) {
	i := strings.Index(line, " # {")
	if i < 0 {
		return line, 0
	}
	j := strings.LastIndex(line, " ")
	at, err := strconv.ParseFloat(line[j+1:], 64)
	if err != nil || j <= strings.LastIndex(line, "} ")+1 {
		return line, 0
	}
	return line[:j], at
}

// gzip when the scraper allows it, by name or by *, and not when q=0 says
// no; Vary names what the page depends on.
func TestMetricsCompression(t *testing.T) {
	h := exporter.Handler(exporter.Options{Recorder: busyRecorder(t)})
	for header, want := range map[string]bool{
		"gzip":                       true,
		"GZIP;Q=0.5":                 true,
		"deflate, gzip;q=1.0, *;q=0": true,
		"*":                          true,
		"":                           false,
		"identity":                   false,
		"gzip;q=0":                   false,
		"GZIP;Q=0":                   false,
		"gzip; level=1; q=0":         false,
		"gzip;q=0, *":                false,
		"*;q=0":                      false,
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
		if !want && !strings.Contains(rec.Body.String(), "authprobe_journey_runs_total{") {
			t.Errorf("Accept-Encoding %q: the page is not plain text", header)
		}
		if v := rec.Header().Values("Vary"); !slices.Contains(v, "Accept") || !slices.Contains(v, "Accept-Encoding") {
			t.Errorf("Vary %q", v)
		}
	}
}

// Scrapes while runs are recorded, series come and go and the location
// changes: every page parses, and the race detector (make test) sees the
// page writer's reads under the lock.
func TestScrapeWhileRecording(t *testing.T) {
	_, js := probetest.Compile(t, `
journeys:
  - { name: a, steps: [{ name: get, http: { url: "https://a.example.com/" } }, { name: post, http: { method: POST, url: "https://a.example.com/" } }] }
`)
	j := js[0]
	r := exporter.NewRecorder("test")
	h := exporter.Handler(exporter.Options{Recorder: r})
	key := func(i int) probes.SeriesKey {
		return probes.SeriesKey{Journey: "a", Target: fmt.Sprintf("10.0.%d.%d:443", i/256, i%256)}
	}
	for i := range 300 {
		r.Series(j, key(i), true)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := key(i % 300)
			r.Result(j, probes.Result{Journey: "a", Target: k.Target, Start: time.Now(), Duration: time.Millisecond, Outcome: probes.OutcomeSuccess,
				TraceID: "0af7651916cd43dd8448eb211c80319c", Steps: []probes.StepResult{{Name: "get", Duration: time.Millisecond}, {Name: "post"}}})
			switch i % 97 {
			case 0:
				r.Series(j, key(300+i%50), i%2 == 0)
			case 1:
				r.SetLocation(fmt.Sprint("loc", i%3))
			}
		}
	})
	for range 4 {
		for _, format := range textFormats {
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.Header.Set("Accept", string(format))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			page := rec.Body.String()
			if rec.Code != 200 || !strings.Contains(page, "authprobe_step_duration_seconds_bucket{") {
				t.Fatalf("/metrics: %d, %d bytes", rec.Code, len(page))
			}
			if format.FormatType() == expfmt.TypeTextPlain {
				parser := expfmt.NewTextParser(model.UTF8Validation)
				if _, err := parser.TextToMetricFamilies(strings.NewReader(page)); err != nil {
					t.Fatalf("a page written during changes does not parse: %v", err)
				}
			} else if !strings.HasSuffix(page, "# EOF\n") {
				t.Fatal("an OpenMetrics page written during changes does not end with # EOF")
			}
		}
	}
	close(stop)
	wg.Wait()
}
