package alerting

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/internal/testtool"
)

// tool finds a Prometheus program from Debian's packages (prometheus,
// prometheus-alertmanager). CI installs them (.ci/run); elsewhere a missing
// one skips with the command that installs it.
func tool(t *testing.T, name string) string {
	return testtool.Require(t, name, "prometheus prometheus-alertmanager")
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The shipped rules pass promtool's checks, and every unit test in
// deploy/prometheus/tests passes: the expressions run against rules.yaml (the
// shipped file without annotations), annotations.yaml against the shipped file.
func TestPromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := t.TempDir()
	shipped, err := RulesFile(Shipped)
	if err != nil {
		t.Fatal(err)
	}
	bare := Shipped
	bare.NoAnnotations = true
	stripped, err := RulesFile(bare)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "authprobe-rules.yaml"), shipped)
	write(t, filepath.Join(dir, "rules.yaml"), stripped)
	bare.Quorum = 2
	quorum, err := RulesFile(bare)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "rules-quorum.yaml"), quorum)
	out := run(t, dir, promtool, "check", "rules", "authprobe-rules.yaml", "rules-quorum.yaml")
	if strings.Count(out, "SUCCESS") != 2 {
		t.Fatalf("promtool check rules: %s", out)
	}
	tests, err := filepath.Glob("../../deploy/prometheus/tests/*.yaml")
	if err != nil || len(tests) < 3 {
		t.Fatalf("expected the unit tests in deploy/prometheus/tests, found %v (%v)", tests, err)
	}
	var names []string
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, filepath.Base(f)), b)
		names = append(names, filepath.Base(f))
	}
	out = run(t, dir, promtool, append([]string{"test", "rules"}, names...)...)
	if strings.Count(out, "SUCCESS") != len(names) {
		t.Fatalf("promtool test rules:\n%s", out)
	}

	// The time-scaled copy is valid too, and differs only in durations.
	scaled := Shipped
	scaled.Scale = 20
	b, err := RulesFile(scaled)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "scaled.yaml"), b)
	run(t, dir, promtool, "check", "rules", "scaled.yaml")
}

// The multi-location example's Prometheus configs are valid, with the rule
// file they name.
func TestMultiLocationExample(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, f := range []string{"prometheus-regional.yml", "prometheus-global.yml"} {
		out := run(t, "../../examples/multi-location", promtool, "check", "config", f)
		if !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool check config %s: %s", f, out)
		}
	}
}

// Every alert, at every severity it has, reaches the receiver it should.
func TestAlertmanagerRoutes(t *testing.T) {
	amtool := tool(t, "amtool")
	dir := t.TempDir()
	o := Shipped
	o.RoutingKeyFile = filepath.Join(dir, "key")
	write(t, o.RoutingKeyFile, []byte("0123456789abcdef0123456789abcdef\n"))
	b, err := AlertmanagerFile(o)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "alertmanager.yml"), b)
	if out := run(t, dir, amtool, "check-config", "alertmanager.yml"); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config: %s", out)
	}
	alerts := Alerts()
	if len(alerts) < 10 {
		t.Fatalf("only %d alerts", len(alerts))
	}
	route := func(labels ...string) string {
		out := run(t, dir, amtool, append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, labels...)...)
		return strings.TrimSpace(out)
	}
	for _, a := range alerts {
		for _, sev := range a.Severities {
			labels := []string{"alertname=" + a.Name, "severity=" + sev}
			if a.PerJourney {
				labels = append(labels, "journey=login", "location=eu")
			}
			want := ReceiverPagerDuty
			switch {
			case a.Name == "Watchdog":
				want = ReceiverWatchdog
			case sev != "critical" && sev != "warning":
				want = ReceiverNone
			}
			if got := route(labels...); got != want {
				t.Errorf("%v goes to %q, want %q", labels, got, want)
			}
		}
	}
	if got := route("alertname=SomethingElse", "severity=info"); got != ReceiverNone {
		t.Errorf("an info alert goes to %q", got)
	}
}

// Every alert has a runbook section where its runbook_url points, and links to
// a dashboard that exists.
func TestRunbooksAndDashboards(t *testing.T) {
	doc, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\w+)$`).FindAllStringSubmatch(string(doc), -1) {
		headings[strings.ToLower(m[1])] = true
	}
	for _, a := range Alerts() {
		if !headings[strings.ToLower(a.Name)] {
			t.Errorf("docs/runbooks.md has no section \"## %s\"", a.Name)
		}
		if _, err := os.Stat("../../deploy/grafana/dashboards/" + a.Dashboard + ".json"); err != nil {
			t.Errorf("%s links to dashboard %q: %v", a.Name, a.Dashboard, err)
		}
	}
}

func TestScaledDurations(t *testing.T) {
	o := Options{Scale: 20}
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "15s", time.Hour: "3m", 30 * 24 * time.Hour: "36h", 2 * time.Minute: "6s", 10 * time.Second: "1s",
	} {
		if got := o.Dur(d); got != want {
			t.Errorf("%v/20 = %s, want %s", d, got, want)
		}
	}
	if got := Shipped.Dur(72 * time.Hour); got != "3d" {
		t.Errorf("3 days = %s", got)
	}
}
