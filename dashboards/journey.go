package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (package dashboard) is deprecated in the SDK in favour of dashboardv2, which only Grafana 12 reads; classic JSON works with file provisioning on Grafana 10 and later.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// runs is authprobe_journey_runs_total of the selected journeys.
func runs(matchers ...string) string {
	return sel("authprobe_journey_runs_total", matchers...)
}

// increaseBy is the per-interval increase of counter, summed by labels.
func increaseBy(labels, counter string) string {
	return "sum by (" + labels + ") (increase(" + counter + "[$__rate_interval]))"
}

// quantile is the q quantile of a classic histogram, by labels.
func quantile(q, labels, histogram string) string {
	by := "le"
	if labels != "" {
		by = labels + ", le"
	}
	return "histogram_quantile(" + q + ", sum by (" + by + ") (rate(" + histogram + "[$__rate_interval])))"
}

func journeyDetail() *dashboard.DashboardBuilder {
	return newDashboard(UIDJourney, "authprobe / Journey",
		"One journey in depth: what fails, why, where, on which replica, and how slowly.", "now-6h").
		Annotation(annotation("Key set changes", "orange",
			"changes("+sel("authprobe_jwks_last_change_timestamp_seconds")+"[2m]) > 0",
			"Key set changed", "{{journey}} {{step}} {{location}} {{target}}", "journey,step")).
		Annotation(annotation("Expired tokens", "purple",
			"sum by (journey, location) (increase("+runs(`outcome="failure"`, `reason="expired"`)+"[2m])) > 0",
			"Token expired", "{{journey}} {{location}}: a run got an expired token", "journey,location")).
		Annotation(configReloadsAnnotation()).
		Annotation(alertsAnnotation()).
		WithPanel(journeySuccessTimeseries().Span(12).Height(8)).
		WithPanel(outcomesTimeseries().Span(12).Height(8)).
		WithPanel(reasonsTimeseries().Span(12).Height(8)).
		WithPanel(locationErrorTimeseries().Span(12).Height(8)).
		WithPanel(targetTimeline().Span(24).Height(8)).
		WithPanel(durationTimeseries().Span(12).Height(8)).
		WithPanel(stepDurationTimeseries().Span(12).Height(8)).
		WithPanel(tokenLifetimeTimeseries().Span(8).Height(8)).
		WithPanel(jwksKeysTimeseries().Span(8).Height(8)).
		WithPanel(jwksFingerprintTable().Span(8).Height(8)).
		WithPanel(tlsExpiryStat().Span(12).Height(8)).
		WithPanel(navigationTimeseries().Span(12).Height(8))
}

func journeySuccessTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Success ratio",
		"Successful runs ÷ (successful + failed) runs; outcome=\"error\" is authprobe's fault and stays out. Dashed: the objective.").
		WithTarget(query("A", increaseBy("journey", runs(`outcome="success"`))+" / "+
			increaseBy("journey", runs(`outcome=~"success|failure"`)), "{{journey}}")).
		WithTarget(query("B", "max by (journey) ("+sel("authprobe_journey_slo_objective_ratio")+")", "{{journey}} objective")).
		Unit("percentunit").
		Max(1).
		OverrideByRegexp("/ objective$/", []dashboard.DynamicConfigValue{dashed()})
}

func outcomesTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Runs by outcome",
		"success; failure: the target failed the user; error: authprobe itself failed (see the prober dashboard).").
		WithTarget(query("A", increaseBy("outcome", runs()), "{{outcome}}")).
		Unit("none").
		Decimals(0).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		OverrideByName("success", []dashboard.DynamicConfigValue{fixedColor("green")}).
		OverrideByName("failure", []dashboard.DynamicConfigValue{fixedColor("red")}).
		OverrideByName("error", []dashboard.DynamicConfigValue{fixedColor("purple")})
}

func reasonsTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Failures by reason",
		"Runs that did not succeed, by reason: the one word that names the cause (docs/reasons.md).").
		WithTarget(query("A", increaseBy("reason", runs(`outcome!="success"`)), "{{reason}}")).
		Unit("none").
		Decimals(0).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

func locationErrorTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Error ratio by location",
		"Failed ÷ (successful + failed) runs per location, over 5m and (dashed) 1h: one location alone is a network path; all of them, the service.").
		WithTarget(query("A", sel("journey_location:authprobe_sli_error:ratio_rate5m"), "{{journey}} {{location}} 5m")).
		WithTarget(query("B", sel("journey_location:authprobe_sli_error:ratio_rate1h"), "{{journey}} {{location}} 1h")).
		Unit("percentunit").
		Min(0).
		OverrideByRegexp("/ 1h$/", []dashboard.DynamicConfigValue{dashed()})
}

func targetTimeline() *statetimeline.PanelBuilder {
	return newStateTimeline("Last run by target",
		"One row per journey, location, variant and fan-out target (replica): a single red row is one bad replica.").
		WithTarget(query("A", "min by (journey, location, variant, target) ("+sel("authprobe_journey_success")+")",
			"{{journey}} {{location}} {{variant}} {{target}}")).
		Mappings(valueText([2]string{"failed", "red"}, [2]string{"ok", "green"})).
		Thresholds(thresholds("red", at(1, "green"))).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		FillOpacity(80)
}

func durationTimeseries() *timeseries.PanelBuilder {
	d := sel("authprobe_journey_duration_seconds_bucket")
	return newTimeseries("Journey duration",
		"Whole-run duration percentiles. The dots are exemplars: with tracing on, each links to the run's trace (trace_id).").
		WithTarget(query("A", quantile("0.99", "", d), "p99").Exemplar(true)).
		WithTarget(query("B", quantile("0.9", "", d), "p90")).
		WithTarget(query("C", quantile("0.5", "", d), "p50")).
		Unit("s").
		Min(0)
}

func stepDurationTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Step duration p95",
		"95th percentile of each step, retries included; browser actions appear as step/N:action.").
		WithTarget(query("A", quantile("0.95", "journey, step", sel("authprobe_step_duration_seconds_bucket")), "{{journey}} {{step}}")).
		Unit("s").
		Min(0)
}

func tokenLifetimeTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Token time left at validation",
		"exp of the token each jwt step validated, minus the time of that run: how long a fresh token is valid. A drop means the IdP issues shorter-lived (or already stale) tokens.").
		WithTarget(query("A", "min by (journey, step) ("+sel("authprobe_token_expiry_timestamp_seconds")+
			" - on (instance, journey, location, variant, target) group_left "+
			sel("authprobe_journey_last_run_timestamp_seconds")+")", "{{journey}} {{step}}")).
		Unit("s").
		Thresholds(thresholds("red", at(300, "green"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

func jwksKeysTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Signing keys in key set",
		"Usable keys in the key set each jwt step fetched; the orange annotations mark key set changes.").
		WithTarget(query("A", "max by (journey, step, target) ("+sel("authprobe_jwks_keys")+")", "{{journey}} {{step}} {{target}}")).
		Unit("none").
		Decimals(0).
		Min(0)
}

func jwksFingerprintTable() *table.PanelBuilder {
	return newTable("Key set fingerprints",
		"Series (locations × variants × targets) seeing each key set. Two fingerprints for one step is key drift: replicas serve different keys (AuthJWKSDrift).").
		WithTarget(instant("A", "count by (journey, step, fingerprint) ("+sel("authprobe_jwks_info")+")")).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true},
			"renameByName":  map[string]any{"Value": "series"},
			"indexByName":   map[string]any{"journey": 0, "step": 1, "fingerprint": 2, "Value": 3},
		}}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("journey")})
}

func tlsExpiryStat() *stat.PanelBuilder {
	return newStat("TLS certificate expiry",
		"Time until the earliest-expiring certificate a step's server presented expires.").
		WithTarget(query("A", "min by (journey, step) ("+sel("authprobe_tls_cert_expiry_timestamp_seconds")+") - time()", "{{journey}} {{step}}")).
		Unit("s").
		Decimals(0).
		Thresholds(thresholds("red", at(7*86400, "orange"), at(21*86400, "green"))).
		ColorMode(common.BigValueColorModeBackground).
		TextMode(common.BigValueTextModeValueAndName)
}

func navigationTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Browser navigation p95 by phase",
		"Pages loaded by browser steps: time to first byte, DOMContentLoaded and load (95th percentile).").
		WithTarget(query("A", quantile("0.95", "phase", sel("authprobe_browser_navigation_seconds_bucket")), "{{phase}}")).
		Unit("s").
		Min(0)
}
