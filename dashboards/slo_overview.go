package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (package dashboard) is deprecated in the SDK in favour of dashboardv2, which only Grafana 12 reads; classic JSON works with file provisioning on Grafana 10 and later.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The SLO figures come from the journey:* recording rules, which span every
// location: an SLO is per journey. The location variable narrows only the
// panels built on raw series (last success).

// burnRate is the error ratio over window divided by the error budget
// (1 − objective): 1 spends the budget exactly in 30 days; the paging
// alerts fire at 14.4 (1h) and 6 (6h).
func burnRate(window string) string {
	return jsel("journey:authprobe_sli_error:ratio_rate"+window) +
		" / on (journey) (1 - " + jsel("journey:authprobe_slo_objective:ratio") + ")"
}

func sloOverview() *dashboard.DashboardBuilder {
	return newDashboard(UIDSLOOverview, "authprobe / SLO overview",
		"Can users log in? Every journey's SLO, error budget, burn rate and firing alerts.", "now-24h").
		Annotation(alertsAnnotation()).
		WithPanel(firingAlertsStat().Span(6).Height(5)).
		WithPanel(budgetStat().Span(18).Height(5)).
		WithPanel(journeysTable().Span(24).Height(9)).
		WithPanel(burnRateTimeseries().Span(12).Height(8)).
		WithPanel(budgetTimeseries().Span(12).Height(8)).
		WithPanel(successRatioTimeseries().Span(12).Height(8)).
		WithPanel(lastSuccessStat().Span(12).Height(8)).
		WithPanel(burnRateByLocationTimeseries().Span(24).Height(8)).
		WithPanel(firingAlertsTable().Span(24).Height(7))
}

func firingAlertsStat() *stat.PanelBuilder {
	return newStat("Firing auth alerts",
		"authprobe alerts firing now (ALERTS{alertname=~\"Auth.*\"}); the table at the bottom lists them.").
		WithTarget(instant("A", "count("+firingAuthAlerts+") or vector(0)")).
		Unit("none").
		Decimals(0).
		Thresholds(thresholds("green", at(1, "red"))).
		ColorMode(common.BigValueColorModeBackground)
}

func budgetStat() *stat.PanelBuilder {
	return newStat("Error budget remaining (30d)",
		"1 − (30-day error ratio ÷ (1 − objective)). Below 0 the journey has missed its SLO over the last 30 days.").
		WithTarget(query("A", jsel("journey:authprobe_error_budget_remaining:ratio"), "{{journey}}")).
		Unit("percentunit").
		Decimals(1).
		Thresholds(thresholds("red", at(0, "orange"), at(0.25, "green"))).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeArea).
		TextMode(common.BigValueTextModeValueAndName)
}

// journeysTable has one row per journey, one column per query, joined by
// the merge transformation on the journey label.
func journeysTable() *table.PanelBuilder {
	columns := []struct{ ref, name, expr string }{
		{"A", "Objective", jsel("journey:authprobe_slo_objective:ratio")},
		{"B", "Success 30d", "1 - " + jsel("journey:authprobe_sli_error:ratio_rate30d")},
		{"C", "Success 1h", "1 - " + jsel("journey:authprobe_sli_error:ratio_rate1h")},
		{"D", "Budget left", jsel("journey:authprobe_error_budget_remaining:ratio")},
		{"E", "Burn 1h", burnRate("1h")},
		{"F", "Burn 6h", burnRate("6h")},
		// 0 rather than no row for journeys without a firing alert.
		{"G", "Alerts", "count by (journey) (" + firingAuthAlerts + ") or on (journey) 0 * " +
			jsel("journey:authprobe_slo_objective:ratio")},
		{"H", "Last success", "time() - max by (journey) (" + sel("authprobe_journey_last_success_timestamp_seconds") + ")"},
	}
	p := newTable("Journeys",
		"One row per journey. Success ratios count failures only (outcome=\"error\" is authprobe's own fault). "+
			"Burn rate is the error ratio ÷ (1 − objective): at 1 the budget lasts exactly 30 days; the paging alerts fire at 14.4 (1h) and 6 (6h). "+
			"Click a journey for its detail dashboard.").
		Unit("percentunit").
		Decimals(2).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Budget left")})
	rename, order := map[string]any{"journey": "Journey"}, map[string]any{"journey": 0}
	for i, c := range columns {
		p.WithTarget(instant(c.ref, c.expr))
		rename["Value #"+c.ref] = c.name
		order["Value #"+c.ref] = i + 1
	}
	return p.
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true},
			"renameByName":  rename,
			"indexByName":   order,
		}}).
		OverrideByName("Journey", []dashboard.DynamicConfigValue{
			prop("links", []map[string]any{{
				"title": "Journey detail",
				"url":   "/d/" + UIDJourney + "/?var-journey=${__value.raw}&${datasource:queryparam}&${location:queryparam}&${__url_time_range}",
			}}),
		}).
		OverrideByName("Budget left", []dashboard.DynamicConfigValue{
			prop("thresholds", thresholdsValue("red", at(0, "orange"), at(0.25, "green"))),
			cellColor(),
		}).
		OverrideByName("Burn 1h", burnRateColumn()).
		OverrideByName("Burn 6h", burnRateColumn()).
		OverrideByName("Alerts", []dashboard.DynamicConfigValue{
			unit("none"), decimals(0),
			prop("thresholds", thresholdsValue("green", at(1, "red"))),
			cellColor(),
		}).
		OverrideByName("Last success", []dashboard.DynamicConfigValue{
			unit("s"), decimals(0),
			prop("thresholds", thresholdsValue("green", at(120, "orange"), at(300, "red"))),
			cellColor(),
		})
}

func burnRateColumn() []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{
		unit("none"), decimals(2),
		prop("thresholds", thresholdsValue("green", at(1, "yellow"), at(6, "orange"), at(14.4, "red"))),
		cellColor(),
	}
}

// cellColor colors a table cell by the field's thresholds.
func cellColor() dashboard.DynamicConfigValue {
	return prop("custom.cellOptions", map[string]any{"type": "color-background", "mode": "basic"})
}

// thresholdsValue is a thresholds config as an override property value.
func thresholdsValue(base string, steps ...dashboard.Threshold) dashboard.ThresholdsConfig {
	t, _ := thresholds(base, steps...).Build()
	return t
}

func burnRateTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Burn rate (1h)",
		"Error ratio over the last hour ÷ (1 − objective). Lines: 1 (budget lasts 30 days), 6 and 14.4 (page thresholds of the 6h and 1h windows).").
		WithTarget(query("A", burnRate("1h"), "{{journey}}")).
		Unit("none").
		Decimals(2).
		Min(0).
		Thresholds(thresholds("green", at(1, "yellow"), at(6, "orange"), at(14.4, "red"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

// burnRateByLocationTimeseries splits the burn rate by location: one
// location burning alone is its network; all of them, the login. The
// multi-location rules page only when two locations burn.
func burnRateByLocationTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Burn rate by location (1h)",
		"Each location's own error ratio over the last hour ÷ (1 − objective). One location alone usually means its network or DNS; the multi-location alert rules page only when at least two burn.").
		WithTarget(query("A", sel("journey_location:authprobe_sli_error:ratio_rate1h")+
			" / on (journey) group_left () (1 - "+jsel("journey:authprobe_slo_objective:ratio")+")", "{{journey}} @ {{location}}")).
		Unit("none").
		Decimals(2).
		Min(0).
		Thresholds(thresholds("green", at(1, "yellow"), at(6, "orange"), at(14.4, "red"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

func budgetTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Error budget remaining (30d) over time",
		"How fast each journey's budget is being spent; a step down is an incident.").
		WithTarget(query("A", jsel("journey:authprobe_error_budget_remaining:ratio"), "{{journey}}")).
		Unit("percentunit").
		Thresholds(thresholds("transparent", at(0, "red"))).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
}

func successRatioTimeseries() *timeseries.PanelBuilder {
	return newTimeseries("Success ratio (5m)",
		"1 − error ratio over 5 minutes, all locations; dashed: the objective.").
		WithTarget(query("A", "1 - "+jsel("journey:authprobe_sli_error:ratio_rate5m"), "{{journey}}")).
		WithTarget(query("B", jsel("journey:authprobe_slo_objective:ratio"), "{{journey}} objective")).
		Unit("percentunit").
		Max(1).
		OverrideByRegexp("/ objective$/", []dashboard.DynamicConfigValue{dashed()})
}

func lastSuccessStat() *stat.PanelBuilder {
	return newStat("Time since last success",
		"Per journey and location. The hard-down alert (AuthJourneyDown) fires when no location has succeeded for 2 minutes.").
		WithTarget(query("A", "time() - max by (journey, location) ("+
			sel("authprobe_journey_last_success_timestamp_seconds")+")", "{{journey}} {{location}}")).
		Unit("s").
		Decimals(0).
		Thresholds(thresholds("green", at(120, "orange"), at(300, "red"))).
		ColorMode(common.BigValueColorModeBackground).
		TextMode(common.BigValueTextModeValueAndName)
}

func firingAlertsTable() *table.PanelBuilder {
	return newTable("Firing alerts",
		"authprobe's firing alerts. Each alert's runbook_url and dashboard_url are in Alertmanager.").
		WithTarget(instant("A", firingAuthAlerts)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true, "alertstate": true},
			"indexByName":   map[string]any{"alertname": 0, "severity": 1, "journey": 2, "location": 3},
		}})
}
