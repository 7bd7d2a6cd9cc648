// Package alerting generates authprobe's Prometheus rules and Alertmanager
// configuration (deploy/prometheus, deploy/alertmanager) from one source, so
// that the files the tests run, time-scaled or not, are the shipped ones.
//
// The rules are static: they work for every journey, with the objective read
// from authprobe_journey_slo_objective_ratio. The SLI counts runs with
// outcome="failure" against success + failure; outcome="error" (authprobe's
// own fault) is kept out of it and alerted on by itself.
package alerting

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Options shape the generated files. The zero value is not valid; start from
// Shipped.
type Options struct {
	// Scale divides every window, `for` duration and Alertmanager timer, so
	// that a test can watch an hour pass in Scale-th of it. 1 ships.
	Scale int
	// Job is the scrape job authprobe runs under (up{job=…}).
	Job string
	// GrafanaURL is where the dashboards are, for dashboard_url.
	GrafanaURL string
	// RunbookURL is docs/runbooks.md as users can read it; each alert links
	// to its section.
	RunbookURL string

	// Quorum, when 2 or more, makes the burn-rate alerts of a journey need
	// that many locations burning each on its own: for one deployment per
	// region shipping to a global store, so one region's network does not
	// page as a login outage. 0 or 1: all locations pooled.
	Quorum int

	// NoAnnotations leaves the annotations out: promtool's unit tests compare
	// them too, so the tests of expressions use this copy and only
	// annotations.yaml checks the shipped texts.
	NoAnnotations bool

	// Alertmanager only.
	PagerDutyURL       string // Events API v2 endpoint
	RoutingKeyFile     string // the PagerDuty integration key, in a file
	WatchdogURL        string // a dead man's switch that expects a ping
	AlertmanagerPrefix string // a comment at the top of the file
}

// Shipped are the options of the committed files.
var Shipped = Options{
	Scale:          1,
	Job:            "authprobe",
	GrafanaURL:     "http://localhost:3000",
	RunbookURL:     "https://github.com/authprobe/authprobe/blob/main/docs/runbooks.md",
	PagerDutyURL:   "https://events.pagerduty.com/v2/enqueue",
	RoutingKeyFile: "/etc/alertmanager/secrets/pagerduty-routing-key",
	WatchdogURL:    "http://deadmansswitch.invalid/ping",
}

// Windows of the SLI recording rules, in the order they are written.
var Windows = []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour, 30 * 24 * time.Hour}

// Tier is one multiwindow burn-rate condition (SRE Workbook, table 5-8).
type Tier struct {
	Severity    string
	Long, Short time.Duration
	Factor      float64
	For         time.Duration
}

// Tiers page at 14.4× (2 % of a 30-day budget in an hour) and 6× (5 % in
// six hours), and open a ticket at 3× and 1×.
var Tiers = []Tier{
	{"critical", time.Hour, 5 * time.Minute, 14.4, 2 * time.Minute},
	{"critical", 6 * time.Hour, 30 * time.Minute, 6, 15 * time.Minute},
	{"warning", 24 * time.Hour, 2 * time.Hour, 3, time.Hour},
	{"warning", 72 * time.Hour, 6 * time.Hour, 1, 3 * time.Hour},
}

// pageKeepFiring holds a burn-rate page after its short window clears. A
// journey that runs every 10 minutes has no run in most 5m windows, so its
// short-window ratio is undefined between runs and the page would flap; the
// cost is a page that resolves up to 10 minutes later.
const pageKeepFiring = 10 * time.Minute

// MinFailures is how many failed runs a burn-rate tier needs in its long
// window: one blip at a low probe rate is a large ratio, not an outage.
const MinFailures = 3

// HardDownWindow is how long a journey may go without a successful run from
// any location, while runs fail, before it pages: with a 15 s rule
// evaluation and a 5 s group wait, a total outage pages within 2 minutes of
// the last success.
const HardDownWindow = 90 * time.Second

// hardDownEvidence is where the hard-down page looks for its two failed runs.
const hardDownEvidence = 5 * time.Minute

// Rule is a Prometheus recording or alerting rule.
type Rule struct {
	Record string `yaml:"record,omitempty"`
	Alert  string `yaml:"alert,omitempty"`
	Expr   string `yaml:"expr"`
	For    string `yaml:"for,omitempty"`
	// KeepFiringFor (Prometheus 2.42+) holds an alert after its condition
	// clears: pages of journeys that run less often than the short window
	// would flap between runs otherwise.
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// Group is a Prometheus rule group.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Alert describes one alert name for docs and routing tests.
type Alert struct {
	Name       string
	Severities []string // the severity labels its rules set
	Dashboard  string   // uid of the dashboard it links to
	PerJourney bool     // it has a journey label
}

// Recording rule names (a contract with the dashboards).
const (
	ratioJourney   = "journey:authprobe_sli_error:ratio_rate"
	ratioLocation  = "journey_location:authprobe_sli_error:ratio_rate"
	failuresPrefix = "journey:authprobe_failures:increase"
	objectiveRule  = "journey:authprobe_slo_objective:ratio"
	budgetLeftRule = "journey:authprobe_error_budget_remaining:ratio"
)

// Dur formats d the way Prometheus does (1h, 30m, 3d, 90s), after scaling.
func (o Options) Dur(d time.Duration) string {
	return promDuration(o.scaled(d))
}

func (o Options) scaled(d time.Duration) time.Duration {
	if o.Scale <= 1 {
		return d
	}
	s := d / time.Duration(o.Scale)
	if s < time.Second {
		s = time.Second
	}
	return s.Round(time.Second)
}

func promDuration(d time.Duration) string {
	units := []struct {
		s string
		d time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	for _, u := range units {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.s)
		}
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// window names a recording rule's window by its unscaled length, so the
// scaled copy has the same rule names as the shipped one.
func window(d time.Duration) string { return promDuration(d) }

// Groups returns the rule groups.
func Groups(o Options) []Group {
	runs := "authprobe_journey_runs_total"
	var sli []Rule
	for _, w := range Windows {
		ow := o.Dur(w)
		sli = append(sli,
			Rule{Record: ratioJourney + window(w), Expr: fmt.Sprintf(
				"sum by (journey) (rate(%[1]s{outcome=\"failure\"}[%[2]s]))\n/\nsum by (journey) (rate(%[1]s{outcome=~\"success|failure\"}[%[2]s]))", runs, ow)},
			Rule{Record: ratioLocation + window(w), Expr: fmt.Sprintf(
				"sum by (journey, location) (rate(%[1]s{outcome=\"failure\"}[%[2]s]))\n/\nsum by (journey, location) (rate(%[1]s{outcome=~\"success|failure\"}[%[2]s]))", runs, ow)})
	}
	longs := map[time.Duration]bool{}
	for _, t := range Tiers {
		if !longs[t.Long] {
			longs[t.Long] = true
			sli = append(sli, Rule{Record: failuresPrefix + window(t.Long), Expr: fmt.Sprintf(
				"sum by (journey) (increase(%s{outcome=\"failure\"}[%s]))", runs, o.Dur(t.Long))})
		}
	}
	meta := []Rule{
		// last_over_time: one missed scrape or a restart must not drop the
		// objective, which would resolve every burn-rate alert and restart
		// their `for`.
		{Record: objectiveRule, Expr: fmt.Sprintf("max by (journey) (last_over_time(authprobe_journey_slo_objective_ratio[%s]))", o.Dur(10*time.Minute))},
		{Record: budgetLeftRule, Expr: fmt.Sprintf("1 - %s30d / on (journey) (1 - %s)", ratioJourney, objectiveRule)},
	}

	var burn []Rule
	for _, t := range Tiers {
		cond := func(w time.Duration) string {
			return fmt.Sprintf("%s%s > on (journey) (%g * (1 - %s))", ratioJourney, window(w), t.Factor, objectiveRule)
		}
		kind := "page"
		if t.Severity != "critical" {
			kind = "ticket"
		}
		expr := fmt.Sprintf("%s\nand on (journey)\n%s\nand on (journey)\n%s%s >= %d",
			cond(t.Long), cond(t.Short), failuresPrefix, window(t.Long), MinFailures)
		description := fmt.Sprintf("Journey {{ $labels.journey }} failed {{ $value | humanizePercentage }} of its runs over the last %s (all locations), %g× what its error budget allows; at this rate a 30-day budget lasts %s. The %s ratio is above the same threshold, so it is still happening.",
			window(t.Long), t.Factor, budgetLasts(t.Factor), window(t.Short))
		if o.Quorum > 1 {
			// Each location's own ratios must burn; count the locations.
			loc := func(w time.Duration) string {
				return fmt.Sprintf("%s%s > on (journey) group_left () (%g * (1 - %s))", ratioLocation, window(w), t.Factor, objectiveRule)
			}
			expr = fmt.Sprintf("count by (journey) (\n  %s\n  and on (journey, location)\n  %s\n) >= %d\nand on (journey)\n%s%s >= %d",
				loc(t.Long), loc(t.Short), o.Quorum, failuresPrefix, window(t.Long), MinFailures)
			description = fmt.Sprintf("Journey {{ $labels.journey }} fails %g× faster than its error budget allows in {{ $value }} locations (over %s and %s); at this rate a 30-day budget lasts %s. One location alone does not page: its network is more likely than the login.",
				t.Factor, window(t.Long), window(t.Short), budgetLasts(t.Factor))
		}
		keep := ""
		if t.Severity == "critical" {
			keep = o.Dur(pageKeepFiring)
		}
		burn = append(burn, Rule{
			Alert:         "AuthJourneyErrorBudgetBurn",
			Expr:          expr,
			For:           o.Dur(t.For),
			KeepFiringFor: keep,
			Labels:        map[string]string{"severity": t.Severity, "long": window(t.Long), "short": window(t.Short)},
			Annotations: o.annotations("AuthJourneyErrorBudgetBurn", "authprobe-journey", true,
				fmt.Sprintf("Journey {{ $labels.journey }} is failing too often%s: error budget burning %g× too fast (%s, %s).", o.reason(t.Short), t.Factor, tierWindows(t), kind),
				description),
		})
	}
	// $value above is the long-window ratio: `and` keeps its left operand.

	journeyAlerts := []Rule{
		{
			Alert: "AuthJourneyDown",
			// The last success is authprobe's own timestamp of the run, so
			// scrape delay does not add to the window. A journey that has not
			// succeeded since authprobe started has no such series and counts
			// as down too. The failed runs are counted exactly (max − min of
			// each counter in the window), not with increase(), whose
			// extrapolation can turn one failed run into two; after a counter
			// reset (a restart) only the failures since count. The latest run
			// of every location, variant and target must have failed: one
			// healthy replica of a slow journey is no hard-down.
			Expr: fmt.Sprintf("(\n"+
				"  time() - max by (journey) (authprobe_journey_last_success_timestamp_seconds) > %[3]g\n"+
				"  or on (journey)\n"+
				"  (max by (journey) (authprobe_journey_last_run_timestamp_seconds) unless on (journey) authprobe_journey_last_success_timestamp_seconds)\n"+
				")\n"+
				"and on (journey)\n"+
				"max by (journey) (authprobe_journey_success) == 0\n"+
				"and on (journey)\n"+
				"sum by (journey) (\n"+
				"  (max_over_time(%[1]s{outcome=\"failure\"}[%[2]s]) - min_over_time(%[1]s{outcome=\"failure\"}[%[2]s]) unless resets(%[1]s{outcome=\"failure\"}[%[2]s]) > 0)\n"+
				"  or\n"+
				"  (%[1]s{outcome=\"failure\"} unless resets(%[1]s{outcome=\"failure\"}[%[2]s]) == 0)\n"+
				") >= 2",
				runs, o.Dur(hardDownEvidence), o.scaled(HardDownWindow).Seconds()),
			// Held after it clears, so that authprobe restarting during an
			// outage (its series absent until the first run) does not
			// resolve the incident and page again a minute later.
			KeepFiringFor: o.Dur(pageKeepFiring),
			Labels:        map[string]string{"severity": "critical"},
			Annotations: o.annotations("AuthJourneyDown", "authprobe-journey", true,
				"Nobody can complete journey {{ $labels.journey }}"+o.reason(hardDownEvidence)+": no successful run from any location for "+window(HardDownWindow)+".",
				"No run of {{ $labels.journey }} has succeeded in any location for "+window(HardDownWindow)+" or more, and at least two failed in the last "+window(hardDownEvidence)+". The journey detail dashboard names the failing step and reason."),
		},
		{
			Alert: "AuthJourneyNotRejected",
			Expr:  fmt.Sprintf("sum by (journey, location) (increase(%s{reason=\"not_rejected\"}[%s])) > 0", runs, o.Dur(5*time.Minute)),
			// A security incident stays open for an hour after the last
			// accepted credential, so it is not resolved before anyone looks.
			KeepFiringFor: o.Dur(time.Hour),
			Labels:        map[string]string{"severity": "critical"},
			Annotations: o.annotations("AuthJourneyNotRejected", "authprobe-journey", true,
				"Journey {{ $labels.journey }}: a credential that must be refused was accepted.",
				"A fail-closed check of {{ $labels.journey }} in {{ $labels.location }} got a success: a wrong password, or an expired, tampered or revoked token was accepted. This is a security incident, not an outage."),
		},
		{
			Alert:  "AuthJWKSDrift",
			Expr:   "count by (journey, variant, step) (count by (journey, variant, step, fingerprint) (authprobe_jwks_info)) > 1",
			For:    o.Dur(15 * time.Minute),
			Labels: map[string]string{"severity": "warning"},
			Annotations: o.annotations("AuthJWKSDrift", "authprobe-journey", true,
				"Journey {{ $labels.journey }}: replicas of the identity provider serve different signing keys.",
				"Step {{ $labels.step }} of {{ $labels.journey }} sees {{ $value }} different key sets across its targets and locations for "+window(15*time.Minute)+". Tokens signed by one replica will be refused by consumers that fetched keys from another."),
		},
		{
			Alert:  "AuthTokenExpiringSoon",
			Expr:   fmt.Sprintf("authprobe_token_expiry_timestamp_seconds - time() < 7 * 86400\nand\nchanges(authprobe_token_expiry_timestamp_seconds[%s]) == 0", o.Dur(6*time.Hour)),
			For:    o.Dur(time.Hour),
			Labels: map[string]string{"severity": "warning"},
			Annotations: o.annotations("AuthTokenExpiringSoon", "authprobe-journey", true,
				"A long-lived token that journey {{ $labels.journey }} uses expires in {{ $value | humanizeDuration }}.",
				"Step {{ $labels.step }} of {{ $labels.journey }} validates the same token every run (its exp has not changed for "+window(6*time.Hour)+"), and that token expires within 7 days. Tokens obtained fresh on every run never match."),
		},
		{
			Alert:  "AuthTLSCertExpiringSoon",
			Expr:   "authprobe_tls_cert_expiry_timestamp_seconds - time() < 14 * 86400",
			For:    o.Dur(time.Hour),
			Labels: map[string]string{"severity": "warning"},
			Annotations: o.annotations("AuthTLSCertExpiringSoon", "authprobe-journey", true,
				"A TLS certificate on journey {{ $labels.journey }} expires in {{ $value | humanizeDuration }}.",
				"The server that step {{ $labels.step }} of {{ $labels.journey }} talks to (target {{ $labels.target }}) presents a certificate expiring within 14 days; automated renewal usually happens at 30."),
		},
	}
	// The same alert pages at 3 days.
	journeyAlerts = append(journeyAlerts, Rule{
		Alert:  "AuthTLSCertExpiringSoon",
		Expr:   "authprobe_tls_cert_expiry_timestamp_seconds - time() < 3 * 86400",
		For:    o.Dur(10 * time.Minute),
		Labels: map[string]string{"severity": "critical"},
		Annotations: o.annotations("AuthTLSCertExpiringSoon", "authprobe-journey", true,
			"A TLS certificate on journey {{ $labels.journey }} expires in {{ $value | humanizeDuration }}.",
			"The server that step {{ $labels.step }} of {{ $labels.journey }} talks to (target {{ $labels.target }}) presents a certificate expiring within 3 days: renewal has failed for weeks."),
	})

	job := fmt.Sprintf("job=%q", o.Job)
	prober := []Rule{
		{
			Alert:  "AuthProberDown",
			Expr:   fmt.Sprintf("up{%[1]s} == 0\nor\nabsent(up{%[1]s})", job),
			For:    o.Dur(2 * time.Minute),
			Labels: map[string]string{"severity": "critical"},
			Annotations: o.annotations("AuthProberDown", "authprobe-prober", false,
				"authprobe is down: logins are not being checked{{ with $labels.instance }} from {{ . }}{{ end }}.",
				"Prometheus cannot scrape authprobe ({{ $labels.job }}), or no instance of it is discovered. The journey alerts of its location are muted meanwhile, and burn-rate alerts would resolve by themselves because their series go stale: until this is fixed nothing watches the logins."),
		},
		{
			Alert: "AuthProberStalled",
			// Per instance: one stalled shard or replica is enough.
			Expr: "time() - max by (journey, location, instance) (authprobe_journey_last_run_timestamp_seconds)\n" +
				"> on (journey, location, instance)\n3 * max by (journey, location, instance) (authprobe_journey_interval_seconds)",
			For:    o.Dur(5 * time.Minute),
			Labels: map[string]string{"severity": "critical"},
			Annotations: o.annotations("AuthProberStalled", "authprobe-prober", true,
				"Journey {{ $labels.journey }} has not run for over 3 intervals in {{ $labels.location }}.",
				"authprobe is up but journey {{ $labels.journey }} last finished a run {{ $value | humanizeDuration }} ago. Look at authprobe_runs_skipped_total and the status page."),
		},
		{
			Alert:  "AuthProberErrors",
			Expr:   fmt.Sprintf("sum by (journey, location) (rate(%[1]s{outcome=\"error\"}[%[2]s]))\n/\nsum by (journey, location) (rate(%[1]s[%[2]s]))\n> 0.1", runs, o.Dur(15*time.Minute)),
			For:    o.Dur(15 * time.Minute),
			Labels: map[string]string{"severity": "warning"},
			Annotations: o.annotations("AuthProberErrors", "authprobe-prober", true,
				"authprobe itself fails {{ $value | humanizePercentage }} of journey {{ $labels.journey }}'s runs.",
				"Runs of {{ $labels.journey }} in {{ $labels.location }} end with outcome=\"error\" (reason internal): a bad template, a crashed browser, no free browser tab. They are kept out of the SLO, so the journey is partly unwatched."),
		},
		{
			Alert:  "AuthProberErrors",
			Expr:   fmt.Sprintf("sum by (journey, location) (increase(%[1]s{outcome=\"error\"}[%[2]s])) > 0\nunless on (journey, location)\nsum by (journey, location) (increase(%[1]s{outcome=~\"success|failure\"}[%[2]s])) > 0", runs, o.Dur(15*time.Minute)),
			For:    o.Dur(5 * time.Minute),
			Labels: map[string]string{"severity": "critical"},
			Annotations: o.annotations("AuthProberErrors", "authprobe-prober", true,
				"Journey {{ $labels.journey }} is unwatched in {{ $labels.location }}: every run for "+window(15*time.Minute)+" failed inside authprobe.",
				"No run of {{ $labels.journey }} reached a verdict on the target in "+window(15*time.Minute)+"; all ended with outcome=\"error\". Its SLO alerts cannot fire."),
		},
		{
			Alert:  "AuthConfigReloadFailed",
			Expr:   "authprobe_config_last_reload_successful == 0",
			For:    o.Dur(5 * time.Minute),
			Labels: map[string]string{"severity": "warning"},
			Annotations: o.annotations("AuthConfigReloadFailed", "authprobe-prober", false,
				"authprobe refused its new configuration{{ with $labels.instance }} on {{ . }}{{ end }}; the previous one keeps running.",
				"The last config reload failed validation. authprobe keeps probing with the previous config, so the change you made is not live. The status page and the log name the field and the fix."),
		},
		{
			Alert:  "Watchdog",
			Expr:   "vector(1)",
			Labels: map[string]string{"severity": "none"},
			Annotations: o.annotations("Watchdog", "authprobe-prober", false,
				"Always firing: the alerting pipeline works.",
				"This alert always fires. A dead man's switch outside this Prometheus and Alertmanager expects it, and pages when it stops arriving."),
		},
	}
	// A shard that stops reporting while the other shards of the same split
	// still do: a third of the journeys unwatched, which up alone misses
	// when the pod has no endpoint any more (stuck Pending after a drain)
	// or the replicas were scaled below the shard count. Resharding (a new
	// total) leaves no shard of the old total, so it does not fire.
	prober = append(prober[:1:1], append([]Rule{{
		Alert: "AuthProberDown",
		Expr: fmt.Sprintf("group by (location, index, total) (max_over_time(authprobe_shard_info{%[1]s}[%[2]s]))\n"+
			"unless on (location, index, total)\ngroup by (location, index, total) (authprobe_shard_info{%[1]s})\n"+
			"and on (location, total)\ngroup by (location, total) (authprobe_shard_info{%[1]s})", job, o.Dur(24*time.Hour)),
		For: o.Dur(2 * time.Minute),
		// scope tells the variants of AuthProberDown apart (promtool
		// refuses two rules with one name and the same labels).
		Labels: map[string]string{"severity": "critical", "scope": "shard"},
		Annotations: o.annotations("AuthProberDown", "authprobe-prober", false,
			"authprobe shard {{ $labels.index }} of {{ $labels.total }} stopped reporting: its journeys are not being checked.",
			"The other shards of the same split still report, but shard {{ $labels.index }}/{{ $labels.total }} has not been scraped for a while (it was in the last day): its pod is gone or has no endpoint, or the replicas were scaled below the shard count."),
	}}, prober[1:]...)...)
	if o.Quorum > 1 {
		// In a global store, a region whose Prometheus stopped shipping has
		// no up series at all, and absent() cannot say which location is
		// missing: compare with the last day.
		prober = append(prober[:1:1], append([]Rule{{
			Alert:  "AuthProberDown",
			Expr:   fmt.Sprintf("count by (location) (max_over_time(up{%[1]s}[%[2]s]))\nunless on (location)\ncount by (location) (up{%[1]s})", job, o.Dur(24*time.Hour)),
			For:    o.Dur(2 * time.Minute),
			Labels: map[string]string{"severity": "critical", "scope": "location"},
			Annotations: o.annotations("AuthProberDown", "authprobe-prober", false,
				"authprobe in {{ $labels.location }} stopped reporting: logins are not being checked from there.",
				"The global store has no up{"+job+"} series from location {{ $labels.location }} any more, though it had some in the last day (a location retired on purpose keeps this firing for a day: silence it): authprobe, its Prometheus or the remote write from that region is down."),
		}}, prober[1:]...)...)
	}
	// The burn rates move slowly; the hard-down and prober alerts are
	// evaluated twice as often to page sooner.
	slow, fast := o.Dur(30*time.Second), o.Dur(15*time.Second)
	return []Group{
		{Name: "authprobe-sli", Interval: slow, Rules: append(sli, meta...)},
		{Name: "authprobe-slo-alerts", Interval: slow, Rules: burn},
		{Name: "authprobe-journey-alerts", Interval: fast, Rules: journeyAlerts},
		{Name: "authprobe-prober-alerts", Interval: fast, Rules: prober},
	}
}

// reason is a template naming the most frequent failure reason of the
// alert's journey over w, as " (reason: connect)".
func (o Options) reason(w time.Duration) string {
	return `{{ with printf "topk(1, sum by (reason) (increase(authprobe_journey_runs_total{journey=%q, outcome=\"failure\"}[` + o.Dur(w) + `])))" $labels.journey | query }}` +
		`{{ with . | first | label "reason" }} (reason: {{ . }}){{ end }}{{ end }}`
}

func tierWindows(t Tier) string {
	return window(t.Long) + " and " + window(t.Short)
}

// budgetLasts is how long a 30-day budget lasts at a burn rate.
func budgetLasts(factor float64) string {
	h := 30 * 24 / factor
	if h < 48 {
		return fmt.Sprintf("%.0f hours", h)
	}
	return fmt.Sprintf("%.0f days", h/24)
}

func (o Options) annotations(alert, dashboard string, perJourney bool, summary, description string) map[string]string {
	if o.NoAnnotations {
		return nil
	}
	dash := o.GrafanaURL + "/d/" + dashboard + "/"
	if perJourney {
		dash += "?var-journey={{ $labels.journey }}"
	}
	return map[string]string{
		"summary":       summary,
		"description":   description,
		"runbook_url":   o.RunbookURL + "#" + strings.ToLower(alert),
		"dashboard_url": dash,
	}
}

// Alerts lists every alert name once, in file order.
func Alerts() []Alert {
	var out []Alert
	seen := map[string]int{}
	for _, g := range Groups(Shipped) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			i, ok := seen[r.Alert]
			if !ok {
				i = len(out)
				seen[r.Alert] = i
				dash := strings.TrimPrefix(r.Annotations["dashboard_url"], Shipped.GrafanaURL+"/d/")
				dash, _, _ = strings.Cut(dash, "/")
				out = append(out, Alert{Name: r.Alert, Dashboard: dash,
					PerJourney: strings.Contains(r.Annotations["dashboard_url"], "var-journey")})
			}
			sev := r.Labels["severity"]
			if !contains(out[i].Severities, sev) {
				out[i].Severities = append(out[i].Severities, sev)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// RulesFile renders the rule file.
func RulesFile(o Options) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Generated by `make generate` from internal/alerting; do not edit by hand.\n")
	b.WriteString("# authprobe's SLO recording rules and alerts. They serve every journey: the\n")
	b.WriteString("# objective comes from authprobe_journey_slo_objective_ratio. Runbooks: docs/runbooks.md.\n")
	if o.Quorum > 1 {
		fmt.Fprintf(&b, "# MULTI-LOCATION VARIANT: a burn-rate alert needs %d locations burning (docs/multi-location.md).\n", o.Quorum)
	}
	if o.Scale > 1 {
		fmt.Fprintf(&b, "# TIME-SCALED COPY FOR TESTS: every window and `for` is 1/%d of the shipped one.\n", o.Scale)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any{"groups": Groups(o)}); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
