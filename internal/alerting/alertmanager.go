package alerting

import (
	"bytes"
	"time"

	"go.yaml.in/yaml/v3"
)

// Route receivers, for the routing tests.
const (
	ReceiverPagerDuty = "pagerduty"
	ReceiverWatchdog  = "deadmansswitch"
	ReceiverNone      = "blackhole"
)

// first is the first firing alert of a notification's group. A journey's
// group holds all its alerts of one severity (one PagerDuty incident per
// journey and severity), so CommonAnnotations would often be empty.
const first = `{{ with .Alerts.Firing }}{{ with index . 0 }}`

type amRoute struct {
	Receiver       string    `yaml:"receiver"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	GroupBy        []string  `yaml:"group_by,omitempty"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Routes         []amRoute `yaml:"routes,omitempty"`
}

type amInhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal,omitempty"`
}

type amLink struct {
	Href string `yaml:"href"`
	Text string `yaml:"text"`
}

type amPagerDuty struct {
	RoutingKeyFile string            `yaml:"routing_key_file"`
	URL            string            `yaml:"url"`
	SendResolved   bool              `yaml:"send_resolved"`
	Severity       string            `yaml:"severity"`
	Description    string            `yaml:"description"`
	Source         string            `yaml:"source"`
	Component      string            `yaml:"component"`
	Group          string            `yaml:"group"`
	Class          string            `yaml:"class"`
	Links          []amLink          `yaml:"links"`
	Details        map[string]string `yaml:"details"`
}

type amWebhook struct {
	URL          string `yaml:"url"`
	SendResolved bool   `yaml:"send_resolved"`
}

type amReceiver struct {
	Name      string        `yaml:"name"`
	PagerDuty []amPagerDuty `yaml:"pagerduty_configs,omitempty"`
	Webhooks  []amWebhook   `yaml:"webhook_configs,omitempty"`
}

type amConfig struct {
	Global       map[string]string `yaml:"global"`
	Route        amRoute           `yaml:"route"`
	InhibitRules []amInhibit       `yaml:"inhibit_rules"`
	Receivers    []amReceiver      `yaml:"receivers"`
}

// journeyAlerts matches the alerts about a journey's target that a broken
// prober mutes. An accepted bad credential is not among them: authprobe saw
// it happen.
const journeyAlerts = `alertname=~"AuthJourneyDown|AuthJourneyErrorBudgetBurn|AuthJWKSDrift|AuthTokenExpiringSoon|AuthTLSCertExpiringSoon"`

// availability matches the alerts that say a journey's login is failing.
const availability = `alertname=~"AuthJourneyDown|AuthJourneyErrorBudgetBurn"`

func alertmanager(o Options) amConfig {
	d := o.Dur
	page := func(matchers ...string) amRoute {
		return amRoute{Receiver: ReceiverPagerDuty, Matchers: matchers,
			GroupWait: d(5 * time.Second), GroupInterval: d(time.Minute), RepeatInterval: d(4 * time.Hour)}
	}
	ticket := func(matchers ...string) amRoute {
		return amRoute{Receiver: ReceiverPagerDuty, Matchers: matchers,
			GroupWait: d(time.Minute), GroupInterval: d(5 * time.Minute), RepeatInterval: d(24 * time.Hour)}
	}
	perJourney := func(r amRoute) amRoute { r.GroupBy = []string{"journey", "severity"}; return r }
	perJourneyAlert := func(r amRoute) amRoute { r.GroupBy = []string{"alertname", "journey", "severity"}; return r }
	perAlert := func(r amRoute) amRoute { r.GroupBy = []string{"alertname", "severity"}; return r }
	return amConfig{
		Global: map[string]string{"resolve_timeout": d(5 * time.Minute)},
		Route: amRoute{
			Receiver:       ReceiverNone,
			GroupBy:        []string{"alertname"},
			GroupWait:      d(30 * time.Second),
			GroupInterval:  d(5 * time.Minute),
			RepeatInterval: d(4 * time.Hour),
			Routes: []amRoute{
				{Receiver: ReceiverWatchdog, Matchers: []string{`alertname="Watchdog"`},
					GroupWait: "0s", GroupInterval: d(time.Minute), RepeatInterval: d(time.Minute)},
				// The login of a journey being down is one incident whatever
				// alerts say it: the hard-down page and the burn-rate page
				// that follows it, and outlives it by the short window, page
				// once. Other alerts of the journey (an accepted bad
				// password, a certificate) are incidents of their own, so an
				// open one never absorbs a new outage.
				perJourney(page(`severity="critical"`, availability)),
				perJourney(ticket(`severity="warning"`, availability)),
				perJourneyAlert(page(`severity="critical"`, `journey=~".+"`)),
				perJourneyAlert(ticket(`severity="warning"`, `journey=~".+"`)),
				perAlert(page(`severity="critical"`)),
				perAlert(ticket(`severity="warning"`)),
			},
		},
		InhibitRules: []amInhibit{
			// A dead or stalled prober is not a login outage. Only a
			// prober down for a whole location mutes: absent(up) (no
			// instance label, like the journey alerts) or, in a global
			// store, a location gone quiet (up carries the region's
			// location). One of several instances or shards down (up == 0
			// has an instance) mutes nothing: the others still watch
			// their journeys.
			{SourceMatchers: []string{`alertname="AuthProberDown"`}, TargetMatchers: []string{journeyAlerts}, Equal: []string{"location", "instance"}},
			{SourceMatchers: []string{`alertname="AuthProberDown"`}, TargetMatchers: []string{`alertname=~"AuthProberStalled|AuthProberErrors"`}, Equal: []string{"location", "instance"}},
			{SourceMatchers: []string{`alertname="AuthProberStalled"`}, TargetMatchers: []string{journeyAlerts}, Equal: []string{"journey", "location"}},
			// The hard-down page says it all; the burn rate follows from it.
			{SourceMatchers: []string{`alertname="AuthJourneyDown"`}, TargetMatchers: []string{`alertname="AuthJourneyErrorBudgetBurn"`}, Equal: []string{"journey"}},
			// A page mutes the ticket for the same thing.
			{SourceMatchers: []string{`severity="critical"`}, TargetMatchers: []string{`severity="warning"`}, Equal: []string{"alertname", "journey", "variant", "step", "target"}},
		},
		Receivers: []amReceiver{
			{Name: ReceiverNone},
			{Name: ReceiverWatchdog, Webhooks: []amWebhook{{URL: o.WatchdogURL, SendResolved: false}}},
			{Name: ReceiverPagerDuty, PagerDuty: []amPagerDuty{{
				RoutingKeyFile: o.RoutingKeyFile,
				URL:            o.PagerDutyURL,
				SendResolved:   true,
				Severity:       `{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}`,
				Description:    first + `{{ .Annotations.summary }}{{ end }}{{ else }}resolved{{ end }}`,
				Source:         `authprobe{{ with .CommonLabels.location }}/{{ . }}{{ end }}`,
				Component:      `{{ with .CommonLabels.journey }}{{ . }}{{ else }}authprobe{{ end }}`,
				Group:          `{{ .CommonLabels.location }}`,
				Class:          `{{ with .CommonLabels.alertname }}{{ . }}{{ else }}` + first + `{{ .Labels.alertname }}{{ end }}{{ end }}{{ end }}`,
				Links: []amLink{
					{Href: first + `{{ .Annotations.runbook_url }}{{ end }}{{ end }}`, Text: "Runbook"},
					{Href: first + `{{ .Annotations.dashboard_url }}{{ end }}{{ end }}`, Text: "Dashboard"},
				},
				Details: map[string]string{
					"firing":       `{{ range .Alerts.Firing }}{{ .Labels.alertname }}{{ with .Labels.long }} {{ . }}{{ end }}: {{ .Annotations.description }}` + "\n" + `{{ end }}`,
					"num_firing":   `{{ .Alerts.Firing | len }}`,
					"num_resolved": `{{ .Alerts.Resolved | len }}`,
				},
			}}},
		},
	}
}

// AlertmanagerFile renders the Alertmanager configuration.
func AlertmanagerFile(o Options) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Generated by `make generate` from internal/alerting; do not edit by hand.\n")
	b.WriteString("# Alertmanager for authprobe's rules: PagerDuty Events API v2 (put the\n")
	b.WriteString("# integration key in routing_key_file), one incident per journey and\n")
	b.WriteString("# severity, a dead man's switch for Watchdog (set its URL). docs/alerting.md\n")
	if o.Scale > 1 {
		b.WriteString("# TIME-SCALED COPY FOR TESTS.\n")
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(alertmanager(o)); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
