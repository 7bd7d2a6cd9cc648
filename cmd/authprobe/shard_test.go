package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every way to get the shard wrong, with the message the user sees.
func TestShardErrors(t *testing.T) {
	const syntax = `is not a shard; write I/N, this process's index I (from 0) of N shards, like 0/3`
	for _, tt := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"check", "--shard=3/3"}, `--shard "3/3" is out of range; with 3 shards the index runs from 0 to 2`},
		{nil, []string{"check", "--shard=0/0"}, `--shard "0/0" has 0 shards; N, the number of shards, must be 1 or more`},
		{nil, []string{"check", "--shard=a/b"}, `--shard "a/b" ` + syntax},
		{nil, []string{"check", "--shard=-1/2"}, `--shard "-1/2" is out of range; with 2 shards the index runs from 0 to 1`},
		{nil, []string{"once", "--shard=2"}, `--shard "2" ` + syntax},
		{nil, []string{"run", "--shard=2/2", "--web.listen-address=127.0.0.1:0"}, `--shard "2/2" is out of range; with 2 shards the index runs from 0 to 1`},
		{[]string{"AUTHPROBE_SHARD=a/b"}, []string{"check"}, `AUTHPROBE_SHARD "a/b" ` + syntax},
	} {
		t.Run(strings.Join(append(tt.env, tt.args...), " "), func(t *testing.T) {
			r := runCLI(t, tt.env, append(tt.args, "--config", "../../examples/form-login.yaml")...)
			if r.code != 2 || r.stderr != tt.want+"\n" {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and:\n%s", r.code, r.stderr, tt.want)
			}
		})
	}

	// In the file, the strict decoder's message; the flag does not make
	// a wrong file right.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authprobe.yaml")
	writeConfig(t, cfg, "global:\n  shard: 2/2\njourneys:\n  - name: j\n    steps: [{ name: s, http: { url: \"https://x.example/\" } }]\n")
	want := cfg + `:2: global.shard: "2/2" is out of range; with 2 shards the index runs from 0 to 1`
	for _, args := range [][]string{{"check"}, {"check", "--shard=0/2"}} {
		r := runCLI(t, nil, append(args, "--config", cfg)...)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 1 and:\n%s", args, r.code, r.stderr, want)
		}
	}
}

// apiSeries is one series of /api/v1/journeys.
type apiSeries struct {
	Journey string `json:"journey"`
	Variant string `json:"variant"`
	Target  string `json:"target"`
	Runs    int    `json:"runs"`
}

func (s apiSeries) key() string { return s.Journey + "/" + s.Variant + "@" + s.Target }

// pairs returns the process's series by journey/variant@target.
func (p *process) pairs(t *testing.T) (map[string]apiSeries, string) {
	t.Helper()
	_, body := p.get("/api/v1/journeys")
	var doc struct {
		Shard  string      `json:"shard"`
		Series []apiSeries `json:"series"`
	}
	json.Unmarshal([]byte(body), &doc)
	out := map[string]apiSeries{}
	for _, s := range doc.Series {
		out[s.key()] = s
	}
	return out, doc.Shard
}

// journeySeries returns the names and label sets of the process's journey
// series in /metrics: those of one journey × variant × target, and those
// of a journey (objective, interval).
func (p *process) journeySeries(t *testing.T) (pairs, journeys map[string]bool) {
	t.Helper()
	_, body := p.get("/metrics")
	pairs, journeys = map[string]bool{}, map[string]bool{}
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, "authprobe_journey_") && !strings.HasPrefix(line, "authprobe_step_") && !strings.HasPrefix(line, "authprobe_runs_skipped_total") {
			continue
		}
		series := line[:strings.LastIndexByte(line, ' ')]
		if strings.Contains(series, `variant="`) {
			pairs[series] = true
		} else {
			journeys[series] = true
		}
	}
	return pairs, journeys
}

// Two processes with --shard=0/2 and --shard=1/2 over one config export,
// together, exactly the series one unsharded process does, with the same
// label sets and no series twice; a reload that adds a journey starts each
// of its series on one of them.
func TestShardedProcesses(t *testing.T) {
	var targets []string
	for range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
		t.Cleanup(srv.Close)
		targets = append(targets, srv.Listener.Addr().String())
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authprobe.yaml")
	base := `
global: { interval: 1s, location: test }
journeys:
`
	for i := range 8 {
		base += fmt.Sprintf("  - { name: plain-%d, steps: [{ name: home, http: { url: \"http://%s/\" } }] }\n", i, targets[0])
	}
	base += fmt.Sprintf(`  - name: variants
    variants: [{ name: a }, { name: b }, { name: c }, { name: d }]
    steps: [{ name: home, http: { url: "http://%[1]s/" } }]
  - name: fanout
    targets: { host: "api.test:80", static: ["%[1]s", "%[2]s", "%[3]s"] }
    steps: [{ name: home, http: { url: "http://api.test/" } }, { name: again, http: { url: "http://api.test/again" } }]
  - name: both
    variants: [{ name: x }, { name: y }]
    targets: { host: "api.test:80", static: ["%[1]s", "%[2]s", "%[3]s"] }
    steps: [{ name: home, http: { url: "http://api.test/" } }]
`, targets[0], targets[1], targets[2])
	writeConfig(t, cfg, "%s", base)

	all := startProcess(t, nil, "run", "--config", cfg)
	shards := []*process{
		startProcess(t, nil, "run", "--config", cfg, "--shard=0/2"),
		// The environment, as a StatefulSet would set it.
		startProcess(t, []string{"AUTHPROBE_SHARD=1/2"}, "run", "--config", cfg),
	}
	compare := func(want int) {
		t.Helper()
		everyRun := func(p *process) bool {
			s, _ := p.pairs(t)
			for _, x := range s {
				if x.Runs == 0 {
					return false
				}
			}
			return true
		}
		all.waitFor(t, 10*time.Second, fmt.Sprintf("%d series, each run", want), func() bool {
			s, _ := all.pairs(t)
			a, _ := shards[0].pairs(t)
			b, _ := shards[1].pairs(t)
			return len(s) == want && len(a)+len(b) == want && everyRun(all) && everyRun(shards[0]) && everyRun(shards[1])
		})
		wantPairs, wantJourneys := all.journeySeries(t)
		gotPairs, gotJourneys := map[string]bool{}, map[string]bool{}
		for i, p := range shards {
			series, shard := p.pairs(t)
			if shard != fmt.Sprintf("%d/2", i) {
				t.Errorf("shard %d: the API names shard %q", i, shard)
			}
			if len(series) == 0 || len(series) == want {
				t.Errorf("shard %d runs %d of %d series", i, len(series), want)
			}
			if !metric(p, fmt.Sprintf(`authprobe_shard_info{index="%d",total="2"} 1`, i)) {
				t.Errorf("shard %d: no authprobe_shard_info", i)
			}
			owned := map[string]bool{}
			for _, s := range series {
				owned[s.Journey] = true
			}
			pairs, journeys := p.journeySeries(t)
			for s := range pairs {
				if gotPairs[s] {
					t.Errorf("both shards export %s", s)
				}
				gotPairs[s] = true
			}
			for s := range journeys {
				if j := between(s, `journey="`, `"`); !owned[j] {
					t.Errorf("shard %d exports %s but runs no series of %s", i, s, j)
				}
				gotJourneys[s] = true
			}
		}
		if !maps.Equal(gotPairs, wantPairs) || !maps.Equal(gotJourneys, wantJourneys) {
			for _, s := range slices.Sorted(maps.Keys(wantPairs)) {
				if !gotPairs[s] {
					t.Errorf("no shard exports %s", s)
				}
			}
			for s := range gotPairs {
				if !wantPairs[s] {
					t.Errorf("a shard exports %s, which one process does not", s)
				}
			}
			if !maps.Equal(gotJourneys, wantJourneys) {
				t.Errorf("the shards' journey series\n%v\none process's\n%v", slices.Sorted(maps.Keys(gotJourneys)), slices.Sorted(maps.Keys(wantJourneys)))
			}
		}
		if !metric(all, `authprobe_shard_info{index="0",total="1"} 1`) {
			t.Error("the unsharded process: no authprobe_shard_info 0 of 1")
		}
	}
	compare(21)
	before := [2]map[string]apiSeries{}
	for i, p := range shards {
		before[i], _ = p.pairs(t)
	}

	// check and once see the same split.
	r := runCLI(t, nil, "check", "--config", cfg, "--shard=0/2")
	if line := fmt.Sprintf("shard 0/2 runs %d of 21 series (journey × variant × target)\n", len(before[0])); r.code != 0 || !strings.Contains(r.stdout, line) {
		t.Errorf("check --shard=0/2: exit %d, want the line %q:\n%s%s", r.code, line, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "check", "--config", cfg); strings.Contains(r.stdout, "shard") {
		t.Errorf("check without --shard talks of shards:\n%s", r.stdout)
	}
	for i := range shards {
		r := runCLI(t, nil, "once", "--config", cfg, "--output", "json", fmt.Sprintf("--shard=%d/2", i))
		var results []apiSeries
		if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || r.code != 0 {
			t.Fatalf("once --shard=%d/2: exit %d, %v\n%s%s", i, r.code, err, r.stdout, r.stderr)
		}
		got := map[string]bool{}
		for _, res := range results {
			got[res.key()] = true
		}
		if !maps.Equal(got, boolSet(before[i])) {
			t.Errorf("once --shard=%d/2 ran %v; the shard's process runs %v", i, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(before[i])))
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("shard %d/2 runs only the series it owns", i)) {
			t.Errorf("once --shard=%d/2 does not say it ran a part:\n%s", i, r.stderr)
		}
	}

	// A reload that adds a journey: each of its series starts on one
	// shard, and nothing else moves or starts over.
	os.WriteFile(cfg, []byte(base+fmt.Sprintf(`  - name: added
    variants: [{ name: a }, { name: b }, { name: c }, { name: d }, { name: e }, { name: f }]
    steps: [{ name: home, http: { url: "http://%s/" } }]
`, targets[0])), 0o644)
	compare(27)
	for i, p := range shards {
		after, _ := p.pairs(t)
		for k, s := range before[i] {
			if after[k].Runs <= s.Runs {
				t.Errorf("shard %d: %s has %d runs after the reload, %d before", i, k, after[k].Runs, s.Runs)
			}
		}
		for k := range after {
			if _, ok := before[i][k]; !ok && !strings.HasPrefix(k, "added/") {
				t.Errorf("shard %d: %s moved here on the reload", i, k)
			}
		}
	}
}

func boolSet[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
