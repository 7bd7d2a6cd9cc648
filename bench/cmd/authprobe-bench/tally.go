package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// tally is what the overload and soak modes read from one scrape. A
// /metrics page of 100,000 journeys holds millions of series, too many to
// keep as parsed maps, so the page is read as a stream, as Prometheus
// does, and only these figures are kept.
type tally struct {
	series     int     // sample lines
	wireBytes  int64   // as transferred (gzip)
	textBytes  int64   // after decompression
	runs       float64 // authprobe_journey_runs_total, every outcome
	byOutcome  map[string]float64
	byReason   map[string]float64 // runs that did not succeed
	skipped    map[string]float64 // authprobe_runs_skipped_total by cause
	goroutines float64
	promRSS    float64 // process_resident_memory_bytes
	heapInuse  float64 // go_memstats_heap_inuse_bytes
	heapSys    float64 // go_memstats_heap_sys_bytes: heap memory obtained from the OS
	released   float64 // go_memstats_heap_released_bytes: of it, returned to the OS
	lateness   []bucket
}

// skips is every counted skip, whatever the cause.
func (t tally) skips() float64 {
	var n float64
	for _, v := range t.skipped {
		n += v
	}
	return n
}

// scrapeTiming is when a scrape was asked for, when its first byte came
// (promhttp gathers every metric before it writes the first) and when its
// last byte was read.
type scrapeTiming struct {
	start, firstByte, end time.Time
}

func (s scrapeTiming) duration() time.Duration { return s.end.Sub(s.start) }

// scrapeTally scrapes url the way Prometheus does (gzip) and tallies the
// page while it streams in.
func scrapeTally(ctx context.Context, client *http.Client, url string) (tally, scrapeTiming, error) {
	var tm scrapeTiming
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return tally{}, tm, err
	}
	// Set explicitly, so that the transport neither decompresses nor
	// hides the size on the wire.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	tm.start = time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return tally{}, tm, err
	}
	defer resp.Body.Close()
	tm.firstByte = time.Now()
	if resp.StatusCode != http.StatusOK {
		return tally{}, tm, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	wire := &countingReader{r: resp.Body}
	var body io.Reader = wire
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(wire)
		if err != nil {
			return tally{}, tm, err
		}
		body = zr
	}
	text := &countingReader{r: body}
	t, err := tallyPage(text)
	tm.end = time.Now()
	t.wireBytes, t.textBytes = wire.n, text.n
	return t, tm, err
}

// tallyPage reads the text exposition format.
func tallyPage(r io.Reader) (tally, error) {
	t := tally{byOutcome: map[string]float64{}, byReason: map[string]float64{}, skipped: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		t.series++
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			continue
		}
		name := line[:i]
		switch name {
		case "authprobe_journey_runs_total", "authprobe_runs_skipped_total", "go_goroutines",
			"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_sys_bytes", "go_memstats_heap_released_bytes",
			"authprobe_scheduler_start_lateness_seconds_bucket":
		default:
			continue
		}
		// No timestamps or exemplars in the text format: the value is
		// the last field.
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return t, fmt.Errorf("value of %q: %w", line, err)
		}
		switch name {
		case "authprobe_journey_runs_total":
			t.runs += v
			outcome := labelValue(line, "outcome")
			t.byOutcome[outcome] += v
			if outcome != "success" {
				t.byReason[outcome+"/"+labelValue(line, "reason")] += v
			}
		case "authprobe_runs_skipped_total":
			t.skipped[labelValue(line, "cause")] += v
		case "go_goroutines":
			t.goroutines = v
		case "process_resident_memory_bytes":
			t.promRSS = v
		case "go_memstats_heap_inuse_bytes":
			t.heapInuse = v
		case "go_memstats_heap_sys_bytes":
			t.heapSys = v
		case "go_memstats_heap_released_bytes":
			t.released = v
		default:
			le, err := strconv.ParseFloat(labelValue(line, "le"), 64)
			if err == nil {
				t.lateness = append(t.lateness, bucket{le, v})
			}
		}
	}
	return t, sc.Err()
}

// labelValue returns the value of a label in a sample line; the labels the
// tally reads hold no escaped quotes.
func labelValue(line, name string) string {
	i := strings.Index(line, name+`="`)
	for i > 0 && line[i-1] != '{' && line[i-1] != ',' {
		j := strings.Index(line[i+1:], name+`="`)
		if j < 0 {
			return ""
		}
		i += 1 + j
	}
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return rest[:end]
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
