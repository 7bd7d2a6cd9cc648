package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// series is one line of the Prometheus text exposition format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics is one scrape.
type metrics []series

// scrape fetches and parses a /metrics page.
func scrape(ctx context.Context, client *http.Client, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the text exposition format. It knows only what the
// harness needs: names, labels and values; comments and timestamps are
// skipped.
func parseMetrics(r io.Reader) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLine(line string) (series, error) {
	s := series{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, ", ")
			if line == "" {
				return s, fmt.Errorf("unterminated labels")
			}
			if line[0] == '}' {
				line = line[1:]
				break
			}
			eq := strings.IndexByte(line, '=')
			if eq < 0 || len(line) < eq+2 || line[eq+1] != '"' {
				return s, fmt.Errorf("bad label in %q", line)
			}
			name := line[:eq]
			var val strings.Builder
			j := eq + 2
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
					if line[j] == 'n' {
						val.WriteByte('\n')
						continue
					}
				}
				val.WriteByte(line[j])
			}
			if j >= len(line) {
				return s, fmt.Errorf("unterminated label value")
			}
			s.labels[name] = val.String()
			line = line[j+1:]
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value for %s", s.name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value of %s: %w", s.name, err)
	}
	s.value = v
	return s, nil
}

// sum adds the values of every series called name whose labels include
// all of match.
func (m metrics) sum(name string, match map[string]string) float64 {
	var total float64
next:
	for _, s := range m {
		if s.name != name {
			continue
		}
		for k, v := range match {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// bucket is one cumulative bucket of a classic histogram.
type bucket struct {
	le    float64
	count float64
}

// histogram returns the cumulative buckets of a histogram without labels
// beyond le, sorted by upper bound.
func (m metrics) histogram(name string) []bucket {
	var out []bucket
	for _, s := range m {
		if s.name != name+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil {
			continue
		}
		out = append(out, bucket{le, s.value})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// histogramDelta is what was observed between two scrapes of the same
// histogram.
func histogramDelta(before, after []bucket) []bucket {
	out := slices.Clone(after)
	for i := range out {
		for _, b := range before {
			if b.le == out[i].le {
				out[i].count -= b.count
			}
		}
	}
	return out
}

// quantile estimates the q-quantile of cumulative buckets the way
// PromQL's histogram_quantile does: linear interpolation inside the bucket
// the rank falls in, with 0 as the lower bound of the first bucket, and the
// highest finite bound when the rank falls in the +Inf bucket. It returns
// NaN for an empty histogram.
func quantile(q float64, buckets []bucket) float64 {
	n := len(buckets)
	if n < 2 || !math.IsInf(buckets[n-1].le, 1) || buckets[n-1].count == 0 {
		return math.NaN()
	}
	rank := q * buckets[n-1].count
	b := 0
	for b < n-1 && buckets[b].count < rank {
		b++
	}
	if b == n-1 {
		return buckets[n-2].le
	}
	lower, below := 0.0, 0.0
	if b > 0 {
		lower, below = buckets[b-1].le, buckets[b-1].count
	}
	in := buckets[b].count - below
	if in == 0 {
		return buckets[b].le
	}
	return lower + (buckets[b].le-lower)*(rank-below)/in
}

// fractionAtMost is the share of observations at most le, exact when le is
// a bucket bound; NaN when le is not one or nothing was observed.
func fractionAtMost(le float64, buckets []bucket) float64 {
	n := len(buckets)
	if n == 0 || buckets[n-1].count == 0 {
		return math.NaN()
	}
	for _, b := range buckets {
		if b.le == le {
			return b.count / buckets[n-1].count
		}
	}
	return math.NaN()
}

// bounds lists the finite bucket bounds, for saying what resolution a
// quantile has.
func bounds(buckets []bucket) string {
	var parts []string
	for _, b := range buckets {
		if !math.IsInf(b.le, 1) {
			parts = append(parts, strconv.FormatFloat(b.le*1000, 'g', -1, 64))
		}
	}
	return strings.Join(parts, ", ") + " ms, +Inf"
}
