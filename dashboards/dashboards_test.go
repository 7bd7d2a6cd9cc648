package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

var update = flag.Bool("update", false, "write the generated files instead of comparing them")

// root is the repository root, relative to this package.
const root = ".."

func TestCommittedFilesAreCurrent(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		want := files[path]
		full := filepath.Join(root, filepath.FromSlash(path))
		if *update {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil {
			t.Errorf("%s: %v (run make generate)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what package dashboards generates; run make generate", path)
		}
	}
}

func TestFilesAreDeterministic(t *testing.T) {
	a, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for path := range a {
		if !bytes.Equal(a[path], b[path]) {
			t.Errorf("%s differs between two runs", path)
		}
	}
}

// macros are what Grafana substitutes before a query reaches Prometheus.
var macros = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "15s",
	"$__range", "1h",
	"${datasource}", "prometheus",
	"$location", "eu-west-1",
	"$journey", "password-login",
)

func TestDashboards(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for path, content := range files {
		if !strings.HasSuffix(path, ".json") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			var d struct {
				UID   string   `json:"uid"`
				Tags  []string `json:"tags"`
				Links []struct {
					Type string   `json:"type"`
					Tags []string `json:"tags"`
				} `json:"links"`
				Templating struct {
					List []struct {
						Name       string          `json:"name"`
						Type       string          `json:"type"`
						Query      json.RawMessage `json:"query"`
						Multi      bool            `json:"multi"`
						IncludeAll bool            `json:"includeAll"`
					} `json:"list"`
				} `json:"templating"`
				Panels []struct {
					Type    string `json:"type"`
					Title   string `json:"title"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
			}
			if err := json.Unmarshal(content, &d); err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(filepath.Base(path), ".json"); d.UID != want {
				t.Errorf("uid %q, want %q (the file name)", d.UID, want)
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = path
			if !slices.Contains(d.Tags, tag) {
				t.Errorf("tags %v lack %q", d.Tags, tag)
			}
			if len(d.Links) != 1 || d.Links[0].Type != "dashboards" || !slices.Equal(d.Links[0].Tags, []string{tag}) {
				t.Errorf("links %+v, want one link to the dashboards tagged %q", d.Links, tag)
			}

			vars := map[string]string{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v.Type
				if v.Type == "query" {
					if !v.Multi || !v.IncludeAll || !bytes.Contains(v.Query, []byte("authprobe_journey_slo_objective_ratio")) {
						t.Errorf("variable %s: want a multi-value query over authprobe_journey_slo_objective_ratio with All", v.Name)
					}
				}
			}
			if want := map[string]string{"datasource": "datasource", "location": "query", "journey": "query"}; !maps.Equal(vars, want) {
				t.Errorf("variables %v, want %v", vars, want)
			}

			if len(d.Panels) == 0 {
				t.Fatal("no panels")
			}
			for _, p := range d.Panels {
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, q := range p.Targets {
					if strings.TrimSpace(q.Expr) == "" {
						t.Errorf("panel %q has a query without expr", p.Title)
					}
				}
			}

			var doc any
			if err := json.Unmarshal(content, &doc); err != nil {
				t.Fatal(err)
			}
			exprs := 0
			walk(doc, "", func(where string, key string, value any) {
				switch key {
				case "datasource":
					ref, _ := value.(map[string]any)
					if ref == nil || ref["uid"] != "${datasource}" {
						t.Errorf("%s: datasource %v, want uid ${datasource}", where, value)
					}
				case "expr":
					s, _ := value.(string)
					exprs++
					q := macros.Replace(s)
					if strings.Contains(q, "$") {
						t.Errorf("%s: %q has a variable the test does not substitute", where, s)
					}
					if _, err := parser.NewParser(parser.Options{}).ParseExpr(q); err != nil {
						t.Errorf("%s: %q: %v", where, s, err)
					}
				}
			})
			if exprs == 0 {
				t.Error("no expr found")
			}
		})
	}
	if len(uids) != 3 {
		t.Errorf("dashboards %v, want 3", uids)
	}
	for _, uid := range []string{UIDSLOOverview, UIDJourney, UIDProber} {
		if _, ok := uids[uid]; !ok {
			t.Errorf("no dashboard with uid %q", uid)
		}
	}
}

// TestJourneyVariable pins what alert dashboard_urls rely on:
// /d/authprobe-journey/?var-journey=<journey>.
func TestJourneyVariable(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	content := files["deploy/grafana/dashboards/"+UIDJourney+".json"]
	if !bytes.Contains(content, []byte(`"name": "journey"`)) {
		t.Errorf("the journey dashboard has no variable named journey")
	}
}

func TestProvisioning(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"deploy/grafana/provisioning/dashboards/authprobe.yaml": {
			"type: file", "allowUiUpdates: false", "path: /var/lib/grafana/dashboards/authprobe",
		},
		"deploy/grafana/provisioning/datasources/prometheus.yaml": {
			"type: prometheus", "uid: prometheus", "url: http://prometheus:9090", "timeInterval: 15s",
			"exemplarTraceIdDestinations:", "- name: trace_id", "datasourceUid: tempo",
		},
	} {
		content, ok := files[path]
		if !ok {
			t.Errorf("%s missing", path)
			continue
		}
		for _, w := range want {
			if !bytes.Contains(content, []byte(w)) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
}

// walk calls f for every key of every object in v, with a path for messages.
func walk(v any, where string, f func(where, key string, value any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			f(where, k, x)
			walk(x, where+"."+k, f)
		}
	case []any:
		for i, x := range v {
			walk(x, where+"["+strconv.Itoa(i)+"]", f)
		}
	}
}
