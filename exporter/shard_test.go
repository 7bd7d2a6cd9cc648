package exporter_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/exporter"
	"github.com/authprobe/authprobe/probes"
)

// The shard shows in one gauge, the API and the status page; journey
// series carry no trace of it.
func TestShardInfo(t *testing.T) {
	j := journeys(t)[0]
	r := exporter.NewRecorder("test")
	r.Series(j, probes.SeriesKey{Journey: "login"}, true)
	h := exporter.Handler(exporter.Options{Recorder: r})
	get := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Body.String()
	}

	got, _ := scrape(t, h)
	has(t, got, map[string]float64{`authprobe_shard_info{index="0",total="1"}`: 1})
	if api := get("/api/v1/journeys"); strings.Contains(api, `"shard"`) {
		t.Errorf("an unsharded process names a shard:\n%s", api)
	}
	if strings.Contains(get("/"), "shard") {
		t.Error("an unsharded status page names a shard")
	}

	r.SetShard(config.Shard{Index: 2, Total: 3})
	got, _ = scrape(t, h)
	has(t, got, map[string]float64{`authprobe_shard_info{index="2",total="3"}`: 1})
	lacks(t, got, `authprobe_shard_info{index="0"`)
	for k := range got {
		if strings.HasPrefix(k, "authprobe_journey_") && (strings.Contains(k, "index=") || strings.Contains(k, "shard")) {
			t.Errorf("a journey series names the shard: %s", k)
		}
	}
	var doc struct {
		Shard string `json:"shard"`
	}
	if err := json.Unmarshal([]byte(get("/api/v1/journeys")), &doc); err != nil || doc.Shard != "2/3" {
		t.Errorf("/api/v1/journeys: shard %q (%v); want 2/3", doc.Shard, err)
	}
	if page := get("/"); !strings.Contains(page, "shard <b>2/3</b>") {
		t.Errorf("the status page does not name the shard:\n%s", page)
	}
}
