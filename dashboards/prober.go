package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (package dashboard) is deprecated in the SDK in favour of dashboardv2, which only Grafana 12 reads; classic JSON works with file provisioning on Grafana 10 and later.

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The prober's own metrics (config, scheduler, browser pool, build) carry no
// journey labels; onProbers narrows them to the instances that run the
// selected journeys. up is not narrowed: a prober that is down no longer
// reports which journeys it runs.

func proberHealth() *dashboard.DashboardBuilder {
	return newDashboard(UIDProber, "authprobe / Prober health",
		"Is authprobe itself working? Scrapes, run rate, skipped runs, its own errors, config reloads, scheduler and browser pool.", "now-6h").
		Annotation(configReloadsAnnotation()).
		Annotation(alertsAnnotation()).
		WithPanel(upStat().Span(6).Height(5)).
		WithPanel(buildTable().Span(10).Height(5)).
		WithPanel(reloadStat().Span(4).Height(5)).
		WithPanel(reloadAgeStat().Span(4).Height(5)).
		WithPanel(runRateTimeseries().Span(12).Height(8)).
		WithPanel(lastRunAgeTimeseries().Span(12).Height(8)).
		WithPanel(skippedTimeseries().Span(12).Height(8)).
		WithPanel(proberErrorsTimeseries().Span(12).Height(8)).
		WithPanel(latenessTimeseries().Span(8).Height(8)).
		WithPanel(browserRestartsTimeseries().Span(8).Height(8)).
		WithPanel(browserPoolTimeseries().Span(8).Height(8))
}

func upStat() *stat.PanelBuilder {
	return newStat("Scrape up",
		`up{job="authprobe"} per instance: 0 means Prometheus cannot scrape it (AuthProberDown).`).
		WithTarget(query("A", `up{job="authprobe"}`, "{{instance}}")).
		Mappings(valueText([2]string{"down", "red"}, [2]string{"up", "green"})).
		Thresholds(thresholds("red", at(1, "green"))).
		ColorMode(common.BigValueColorModeBackground).
		TextMode(common.BigValueTextModeValueAndName)
}

func buildTable() *table.PanelBuilder {
	return newTable("Build",
		"Version of each prober instance; two versions at once is a rollout in progress.").
		WithTarget(instant("A", "max by (instance, version, revision, goversion) (authprobe_build_info"+onProbers+")")).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "Value": true},
			"indexByName":   map[string]any{"instance": 0, "version": 1, "goversion": 2},
		}})
}

func reloadStat() *stat.PanelBuilder {
	return newStat("Last config load",
		"Whether each instance's last config load succeeded; a failed reload keeps the previous config running (AuthConfigReloadFailed).").
		WithTarget(query("A", "authprobe_config_last_reload_successful"+onProbers, "{{instance}}")).
		Mappings(valueText([2]string{"failed", "red"}, [2]string{"ok", "green"})).
		Thresholds(thresholds("red", at(1, "green"))).
		ColorMode(common.BigValueColorModeBackground)
}

func reloadAgeStat() *stat.PanelBuilder {
	return newStat("Config loaded",
		"Time since each instance last loaded a config successfully.").
		WithTarget(query("A", "time() - (authprobe_config_last_reload_success_timestamp_seconds"+onProbers+")", "{{instance}}")).
		Unit("s").
		Decimals(0).
		ColorMode(common.BigValueColorModeNone)
}

func runRateTimeseries() *timeseries.PanelBuilder {
	// Expected: 60 / interval runs a minute for each loop (journey ×
	// variant × target) of each instance; the loops are the label sets of
	// the runs counter, which all exist from start-up.
	loops := "count by (instance, journey, location) (count by (instance, journey, location, variant, target) (" + runs() + "))"
	return newTimeseries("Runs per minute vs expected",
		"Finished runs a minute per journey; dashed: what the configured interval asks for. Below it, runs are skipped or stuck.").
		WithTarget(query("A", "sum by (journey) (rate("+runs()+"[$__rate_interval])) * 60", "{{journey}}")).
		WithTarget(query("B", "sum by (journey) (60 / "+sel("authprobe_journey_interval_seconds")+
			" * on (instance, journey, location) "+loops+")", "{{journey}} expected")).
		Unit("none").
		Decimals(1).
		Min(0).
		OverrideByRegexp("/ expected$/", []dashboard.DynamicConfigValue{dashed()})
}

func lastRunAgeTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Last run age in intervals",
		"Time since the stalest loop of each journey last finished a run, in configured intervals. At 3 the prober counts as stalled (AuthProberStalled).").
		WithTarget(query("A", "max by (journey, location) ((time() - "+sel("authprobe_journey_last_run_timestamp_seconds")+
			") / on (instance, journey, location) group_left "+sel("authprobe_journey_interval_seconds")+")", "{{journey}} {{location}}")).
		Unit("none").
		Decimals(1).
		Min(0).
		Thresholds(thresholds("green", at(3, "red"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

func skippedTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Skipped runs by cause",
		"Due runs that did not start: overlap (the previous run still going: the interval is shorter than the run), concurrency (max_concurrency reached) or backoff (the test account's login was refused repeatedly; authprobe waits longer so as not to lock it).").
		WithTarget(query("A", increaseBy("journey, cause", sel("authprobe_runs_skipped_total")), "{{journey}} {{cause}}")).
		Unit("none").
		Decimals(0).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

func proberErrorsTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Prober errors (outcome=\"error\")",
		"Runs a minute that failed through authprobe's own fault (bad template, browser crash, internal), by journey and reason; kept out of the SLO (AuthProberErrors).").
		WithTarget(query("A", "sum by (journey, reason) (rate("+runs(`outcome="error"`)+"[$__rate_interval])) * 60", "{{journey}} {{reason}}")).
		Unit("none").
		Decimals(2).
		Min(0)
}

func latenessTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Scheduler start lateness p99",
		"How late runs start after their scheduled time; growth means the prober is short of CPU or concurrency.").
		WithTarget(query("A", "histogram_quantile(0.99, sum by (instance, le) (rate(authprobe_scheduler_start_lateness_seconds_bucket[$__rate_interval])"+onProbers+"))", "{{instance}}")).
		Unit("s").
		Min(0)
}

func browserRestartsTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Browser restarts by cause",
		"Chromium instances replaced: crash, or recycled after N runs (recycle_runs) or at the memory limit (recycle_rss). Crashes are the ones to chase.").
		WithTarget(query("A", "sum by (instance, cause) (increase(authprobe_browser_restarts_total[$__rate_interval])"+onProbers+")", "{{instance}} {{cause}}")).
		Unit("none").
		Decimals(0).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		OverrideByRegexp("/ crash$/", []dashboard.DynamicConfigValue{fixedColor("red")})
}

func browserPoolTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Browser pool",
		"Memory of the browsers (left axis) and browser steps running now (right axis).").
		WithTarget(query("A", "authprobe_browser_rss_bytes"+onProbers, "{{instance}} rss")).
		WithTarget(query("B", "authprobe_browser_tabs_in_use"+onProbers, "{{instance}} tabs")).
		Unit("bytes").
		Min(0).
		OverrideByQuery("B", []dashboard.DynamicConfigValue{
			unit("none"), decimals(0),
			prop("custom.axisPlacement", "right"),
			prop("custom.drawStyle", "bars"),
		})
}
