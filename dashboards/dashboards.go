// Package dashboards builds authprobe's Grafana dashboards as Go code with
// the Grafana Foundation SDK, and the provisioning files that load them.
//
// The JSON under deploy/grafana/ is generated from here by make generate and
// committed; a test fails when the two drift. Every panel, query and
// annotation uses the dashboard's ${datasource} variable; every query is
// filtered by the journey variable and, where its series have the label, by
// the location variable.
package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (package dashboard) is deprecated in the SDK in favour of dashboardv2, which only Grafana 12 reads; classic JSON works with file provisioning on Grafana 10 and later.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The dashboard uids are a contract: alert dashboard_urls link to them
// (<grafana>/d/authprobe-journey/?var-journey=<journey>).
const (
	UIDSLOOverview = "authprobe-slo-overview"
	UIDJourney     = "authprobe-journey"
	UIDProber      = "authprobe-prober"
)

// tag is on every authprobe dashboard; the dashboards link to each other by it.
const tag = "authprobe"

// Files returns the generated dashboard and provisioning files by path relative to the repository root.
func Files() (map[string][]byte, error) {
	files := map[string][]byte{
		"deploy/grafana/provisioning/dashboards/authprobe.yaml":   []byte(dashboardProvider),
		"deploy/grafana/provisioning/datasources/prometheus.yaml": []byte(prometheusDatasource),
	}
	for _, d := range []struct {
		uid   string
		build func() *dashboard.DashboardBuilder
	}{
		{UIDSLOOverview, sloOverview},
		{UIDJourney, journeyDetail},
		{UIDProber, proberHealth},
	} {
		out, err := render(d.build())
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.uid, err)
		}
		files["deploy/grafana/dashboards/"+d.uid+".json"] = out
	}
	return files, nil
}

// render builds a dashboard and serialises it as classic dashboard JSON.
// Panels get ids in layout order, so that links to a panel (viewPanel=N)
// stay stable; Grafana would otherwise number them at load.
func render(b *dashboard.DashboardBuilder) ([]byte, error) {
	d, err := b.Build()
	if err != nil {
		return nil, err
	}
	for i := range d.Panels {
		if p := d.Panels[i].Panel; p != nil && p.Id == nil {
			p.Id = cog.ToPtr(uint32(i + 1))
		}
	}
	// The SDK puts annotation toggles and links in Grafana 12's dashboard
	// controls menu by default; without a placement Grafana shows them in
	// the bar above the panels, as every version does.
	for i := range d.Annotations.List {
		d.Annotations.List[i].Placement = nil
	}
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// newDashboard starts a dashboard with what all three share: the tag, the
// links to the other two, and the datasource, location and journey variables.
func newDashboard(uid, title, description, from string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{tag}).
		Refresh("1m").
		Time(from, "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("authprobe").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{tag}).
			AsDropdown(false).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(queryVariable("location", "Location",
			`label_values(authprobe_journey_slo_objective_ratio, location)`)).
		WithVariable(queryVariable("journey", "Journey",
			`label_values(authprobe_journey_slo_objective_ratio{location=~"$location"}, journey)`))
}

// queryVariable is a multi-value variable over a label of
// authprobe_journey_slo_objective_ratio, which exists for every configured
// journey from start-up. All is ".*" rather than the list of values, so that
// series without the label (ALERTS of the prober's own alerts) still match.
func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(datasource()).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

// datasource is the data source of every panel, query and annotation: the
// dashboard's variable, never a fixed uid.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// The variable filters every journey series gets.
const filter = `location=~"$location", journey=~"$journey"`

// sel is a selector of a journey metric, filtered by the dashboard's
// variables and by any further matchers.
func sel(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(append([]string{filter}, matchers...), ", ") + "}"
}

// jsel is a selector of a series that has only the journey label: the
// journey:* recording rules and ALERTS, which span every location.
func jsel(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(append(slices.Clip(matchers), `journey=~"$journey"`), ", ") + "}"
}

// firingAuthAlerts selects authprobe's firing alerts for the selected
// journeys (and, with All, the prober's own alerts, which have no journey
// label).
var firingAuthAlerts = jsel("ALERTS", `alertstate="firing"`, `alertname=~"Auth.*"`)

// onProbers keeps only the series of prober instances that run a selected
// journey in a selected location; it filters the prober's own metrics,
// which carry no journey or location labels.
const onProbers = ` and on (instance) authprobe_journey_interval_seconds{` + filter + `}`

// query is a range query drawn with legend.
func query(refID, expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		Range()
	if legend != "" {
		q.LegendFormat(legend)
	}
	return q
}

// instant is an instant query returned as a table, for stat and table panels.
func instant(refID, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		Instant().
		Format(prometheus.PromQueryFormatTable)
}

// annotation is a Prometheus annotation query: an event wherever expr has a
// value.
func annotation(name, color, expr, title, text, tagKeys string) *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().
		Name(name).
		Datasource(datasource()).
		Enable(true).
		IconColor(color).
		Target(prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			RefId("Anno").
			Expr(expr).
			Interval("60s")).
		TitleFormat(title).
		TextFormat(text).
		TagKeys(tagKeys)
}

// alertsAnnotation marks when authprobe's alerts for the selected journeys fired.
func alertsAnnotation() *dashboard.AnnotationQueryBuilder {
	return annotation("Auth alerts", "red", firingAuthAlerts,
		"{{alertname}}", "{{severity}} {{journey}} {{location}}", "alertname,severity,journey")
}

// configReloadsAnnotation marks successful config loads of the probers that
// run the selected journeys.
func configReloadsAnnotation() *dashboard.AnnotationQueryBuilder {
	return annotation("Config reloads", "blue",
		`changes(authprobe_config_last_reload_success_timestamp_seconds[2m]) > 0`+onProbers,
		"Config reloaded", "{{instance}}", "instance")
}

// thresholds are absolute steps: the base color, then each color from a
// value up (at).
func thresholds(base string, steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().
		Mode(dashboard.ThresholdsModeAbsolute).
		Steps(append([]dashboard.Threshold{{Color: base}}, steps...))
}

func at(value float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: cog.ToPtr(value), Color: color}
}

// valueText maps the exact values of a 0/1 gauge to a word and a color.
func valueText(zero, one [2]string) []dashboard.ValueMapping {
	result := func(i int32, textColor [2]string) dashboard.ValueMappingResult {
		return dashboard.ValueMappingResult{Text: cog.ToPtr(textColor[0]), Color: cog.ToPtr(textColor[1]), Index: cog.ToPtr(i)}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
		Type:    dashboard.MappingTypeValueToText,
		Options: map[string]dashboard.ValueMappingResult{"0": result(0, zero), "1": result(1, one)},
	}}}
}

// Field overrides: small constructors for the properties the panels set.

func unit(u string) dashboard.DynamicConfigValue { return prop("unit", u) }

func decimals(n int) dashboard.DynamicConfigValue { return prop("decimals", n) }

func fixedColor(c string) dashboard.DynamicConfigValue {
	return prop("color", map[string]any{"mode": "fixed", "fixedColor": c})
}

func dashed() dashboard.DynamicConfigValue {
	return prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []int{10, 10}})
}

func prop(id string, value any) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: id, Value: value}
}

// Panel constructors: the settings every panel of a kind shares.

// newTimeseries has a table legend at the bottom with the last and max
// values, which is what one reads during an incident.
func newTimeseries(title, description string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(tooltip())
}

// newStat shows the last value of each series.
func newStat(title, description string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Orientation(common.VizOrientationAuto).
		GraphMode(common.BigValueGraphModeNone)
}

func newTable(title, description string) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{}))
}

// newStateTimeline has no legend: the rows are labelled.
func newStateTimeline(title, description string) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(false)).
		Tooltip(tooltip())
}

func tooltip() *common.VizTooltipOptionsBuilder {
	return common.NewVizTooltipOptionsBuilder().
		Mode(common.TooltipDisplayModeMulti).
		Sort(common.SortOrderDescending)
}
