package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

const composeFile = "deploy/docker/compose.yaml"

// loadCompose loads the stack as `docker compose` does (compose-go is its
// loader): validated against the Compose specification, interpolated with
// env alone (not this process's environment), paths resolved.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{repo(composeFile)}, cli.WithEnv(env), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return p
}

// The services of the local stack and the one port each publishes, on the
// host's loopback, the same number inside and out (the README and the
// alerts' links name these).
var stackPorts = map[string]uint32{"authprobe": 9741, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000}

// TestCompose checks the stack's shape: its services, pinned images, the
// ports, and that every file it mounts or builds from is in the
// repository.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	if want := []string{"alertmanager", "authprobe", "grafana", "prometheus"}; !slices.Equal(names, want) {
		t.Errorf("services %q, want %q", names, want)
	}
	for name, s := range p.Services {
		if s.Build == nil || s.Image != "" {
			if err := pinned(s.Image); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if want, ok := stackPorts[name]; ok {
			if len(s.Ports) != 1 || s.Ports[0].Target != want || s.Ports[0].Published != strconv.Itoa(int(want)) || s.Ports[0].HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %+v; want 127.0.0.1:%d:%d", name, s.Ports, want, want)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if !strings.HasPrefix(v.Source, root+string(filepath.Separator)) {
				t.Errorf("%s mounts %s, outside the repository", name, v.Source)
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts a file that is not there: %v", name, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s writable; the stack only reads the repository", name, v.Source)
			}
		}
	}
	for name, s := range p.Secrets {
		if _, err := os.Stat(s.File); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}

	// authprobe is built from the repository with either Dockerfile
	// (TestDockerfiles checks both).
	for _, env := range [][]string{nil, {"DOCKERFILE=Dockerfile.browser"}} {
		b := loadCompose(t, env...).Services["authprobe"].Build
		if b == nil {
			t.Fatal("the authprobe service is not built from the repository")
		}
		if b.Context != root {
			t.Errorf("build context %s, want the repository %s (.dockerignore is there)", b.Context, root)
		}
		if df := filepath.Join(b.Context, b.Dockerfile); !slices.Contains([]string{repo("deploy/docker/Dockerfile"), repo("deploy/docker/Dockerfile.browser")}, df) {
			t.Errorf("with %q the Dockerfile is %s", env, df)
		}
	}
	// authprobe listens where the service publishes and Prometheus scrapes.
	if addr := flagValue(p.Services["authprobe"].Command, "--web.listen-address"); addr != "0.0.0.0:9741" {
		t.Errorf("authprobe listens on %q; want 0.0.0.0:9741, reachable from the other containers", addr)
	}
}

// flagValue is the value of --name=value or --name value in argv.
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

// containerFiles lays out under a temporary directory what a service's
// container sees of the repository: its bind mounts and secrets at their
// paths in the container. It returns that directory.
func containerFiles(t *testing.T, p *types.Project, service string) string {
	t.Helper()
	s, ok := p.Services[service]
	if !ok {
		t.Fatalf("no service %s", service)
	}
	dir := t.TempDir()
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			if err := copyTree(v.Source, filepath.Join(dir, v.Target)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ref := range s.Secrets {
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		if err := copyTree(p.Secrets[ref.Source].File, filepath.Join(dir, target)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hostPort checks that address names a service of the stack at a port
// its container listens on.
func hostPort(t *testing.T, p *types.Project, address string) {
	t.Helper()
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		t.Errorf("%s: %v", address, err)
		return
	}
	if want, ok := stackPorts[host]; !ok || strconv.Itoa(int(want)) != port {
		t.Errorf("%s is not a service of the stack at its port", address)
	}
	if _, ok := p.Services[host]; !ok {
		t.Errorf("%s: no service %s", address, host)
	}
}

// TestComposePrometheus checks Prometheus' config as the container sees
// it: promtool accepts it and finds the mounted rules, it scrapes
// authprobe every 15s as job="authprobe" (the rules' prober-down alert
// matches that job), and alerts go to the stack's Alertmanager.
func TestComposePrometheus(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	p := loadCompose(t)
	s := p.Services["prometheus"]
	if !slices.Contains(s.Command, "--enable-feature=exemplar-storage") {
		t.Error("Prometheus runs without exemplar storage: the trace_id exemplars are dropped")
	}
	config := flagValue(s.Command, "--config.file")
	if config == "" {
		t.Fatalf("no --config.file in %q", s.Command)
	}
	dir := containerFiles(t, p, "prometheus")
	out := run(t, dir, nil, promtool, "check", "config", filepath.Join(dir, config))
	if !strings.Contains(out, "SUCCESS: 1 rule files found") {
		t.Errorf("promtool does not find the rules:\n%s", out)
	}
	// The mounted rules are the shipped ones.
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			ScrapeInterval string `yaml:"scrape_interval"`
			StaticConfigs  []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAML(t, filepath.Join(dir, config), &cfg)
	if len(cfg.RuleFiles) != 1 {
		t.Fatalf("rule_files %q, want the shipped rules", cfg.RuleFiles)
	}
	rules := filepath.Join(filepath.Dir(filepath.Join(dir, config)), cfg.RuleFiles[0])
	if got, err := os.ReadFile(rules); err != nil {
		t.Error(err)
	} else if want, _ := os.ReadFile(repo("deploy/prometheus/authprobe-rules.yaml")); string(got) != string(want) {
		t.Errorf("%s is not deploy/prometheus/authprobe-rules.yaml", cfg.RuleFiles[0])
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "authprobe" {
			continue
		}
		found = true
		interval := sc.ScrapeInterval
		if interval == "" {
			interval = cfg.Global.ScrapeInterval
		}
		if interval != "15s" {
			t.Errorf("authprobe is scraped every %q, want 15s (the rules and dashboards assume it)", interval)
		}
		if len(sc.StaticConfigs) != 1 || !slices.Equal(sc.StaticConfigs[0].Targets, []string{"authprobe:9741"}) {
			t.Errorf("job authprobe scrapes %+v, want authprobe:9741", sc.StaticConfigs)
		}
		for _, c := range sc.StaticConfigs {
			for _, target := range c.Targets {
				hostPort(t, p, target)
			}
		}
	}
	if !found {
		t.Error(`no scrape job "authprobe"`)
	}
	var alertmanagers []string
	for _, am := range cfg.Alerting.Alertmanagers {
		for _, c := range am.StaticConfigs {
			alertmanagers = append(alertmanagers, c.Targets...)
		}
	}
	if !slices.Equal(alertmanagers, []string{"alertmanager:9093"}) {
		t.Errorf("alerts go to %q, want alertmanager:9093", alertmanagers)
	}
}

// TestComposeAlertmanager checks the shipped Alertmanager config as the
// container sees it: amtool accepts it, and the PagerDuty routing key file
// it names is there (the compose secret).
func TestComposeAlertmanager(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	p := loadCompose(t)
	s := p.Services["alertmanager"]
	config := flagValue(s.Command, "--config.file")
	if config == "" {
		t.Fatalf("no --config.file in %q", s.Command)
	}
	dir := containerFiles(t, p, "alertmanager")
	run(t, dir, nil, amtool, "check-config", filepath.Join(dir, config))
	if got, err := os.ReadFile(filepath.Join(dir, config)); err != nil {
		t.Fatal(err)
	} else if want, _ := os.ReadFile(repo("deploy/alertmanager/alertmanager.yml")); string(got) != string(want) {
		t.Errorf("%s is not deploy/alertmanager/alertmanager.yml", config)
	}
	var cfg struct {
		Receivers []struct {
			Name      string `yaml:"name"`
			PagerDuty []struct {
				RoutingKeyFile string `yaml:"routing_key_file"`
			} `yaml:"pagerduty_configs"`
		} `yaml:"receivers"`
	}
	decodeYAML(t, filepath.Join(dir, config), &cfg)
	keys := 0
	for _, r := range cfg.Receivers {
		for _, pd := range r.PagerDuty {
			keys++
			key, err := os.ReadFile(filepath.Join(dir, pd.RoutingKeyFile))
			if err != nil {
				t.Errorf("receiver %s: routing_key_file %s is not in the container: %v", r.Name, pd.RoutingKeyFile, err)
				continue
			}
			// Alertmanager sends the file's content, so it holds the key only.
			if !regexp.MustCompile(`^[0-9a-z]{32}\n?$`).Match(key) {
				t.Errorf("%s holds %q, not a 32-character integration key alone", pd.RoutingKeyFile, key)
			}
		}
	}
	if keys == 0 {
		t.Error("the config has no PagerDuty receiver")
	}
}

// TestComposeGrafana checks Grafana's provisioning as the container sees
// it: the data source is the stack's Prometheus, the dashboard provider's
// folder holds the shipped dashboards, the home dashboard exists, and the
// alerts' dashboard links open those dashboards in this Grafana.
func TestComposeGrafana(t *testing.T) {
	p := loadCompose(t)
	s := p.Services["grafana"]
	dir := containerFiles(t, p, "grafana")
	prov := filepath.Join(dir, "etc/grafana/provisioning")

	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, URL string
		} `yaml:"datasources"`
	}
	files, _ := filepath.Glob(filepath.Join(prov, "datasources", "*.yaml"))
	if len(files) != 1 {
		t.Fatalf("datasource provisioning files %q, want one", files)
	}
	decodeYAML(t, files[0], &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID != "prometheus" {
		t.Fatalf("datasources: %+v", ds)
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	hostPort(t, p, u.Host)
	if u.Hostname() != "prometheus" {
		t.Errorf("the data source is %s, not the stack's Prometheus", u)
	}

	var providers struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		} `yaml:"providers"`
	}
	files, _ = filepath.Glob(filepath.Join(prov, "dashboards", "*.yaml"))
	if len(files) != 1 {
		t.Fatalf("dashboard provisioning files %q, want one", files)
	}
	decodeYAML(t, files[0], &providers)
	if providers.APIVersion != 1 || len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers: %+v", providers)
	}
	dashboards, _ := filepath.Glob(filepath.Join(dir, providers.Providers[0].Options.Path, "*.json"))
	if len(dashboards) == 0 {
		t.Fatalf("no dashboards at %s in the container", providers.Providers[0].Options.Path)
	}
	uids := map[string]bool{}
	for _, f := range dashboards {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ UID, Title string }
		if err := json.Unmarshal(b, &d); err != nil || d.UID == "" || d.Title == "" {
			t.Errorf("%s: not a dashboard with a uid and a title: %v", filepath.Base(f), err)
		}
		uids[d.UID] = true
	}
	if home := s.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home == nil {
		t.Error("no home dashboard")
	} else if _, err := os.Stat(filepath.Join(dir, *home)); err != nil {
		t.Errorf("the home dashboard is not in the container: %v", err)
	}

	// Every dashboard_url of the shipped rules opens a dashboard here.
	b, err := os.ReadFile(repo("deploy/prometheus/authprobe-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`dashboard_url: (http://[^/]+)/d/([^/?]+)`).FindAllStringSubmatch(string(b), -1)
	if len(links) == 0 {
		t.Fatal("no dashboard_url in the rules")
	}
	for _, l := range links {
		if want := fmt.Sprintf("http://localhost:%d", stackPorts["grafana"]); l[1] != want || !uids[l[2]] {
			t.Errorf("dashboard_url %s/d/%s: not a dashboard of this stack's Grafana at %s (uids %v)", l[1], l[2], want, uids)
		}
	}
}

// TestComposeAuthprobe runs the authprobe service's command with the
// binary of the image (TestDockerBuild), listening on loopback instead of
// 0.0.0.0:9741: it becomes ready, probes the demo realm, and exports the
// stamped version and commit in authprobe_build_info. The distroless image
// has no Chromium, so neither does this run.
func TestComposeAuthprobe(t *testing.T) {
	bin := authprobe(t)
	s := loadCompose(t).Services["authprobe"]
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var argv []string
	for _, a := range s.Command {
		if strings.HasPrefix(a, "--web.listen-address=") {
			a = "--web.listen-address=" + addr
		}
		argv = append(argv, a)
	}
	cmd := exec.Command(bin, argv...)
	cmd.Env = append(os.Environ(), "AUTHPROBE_BROWSER_PATH="+filepath.Join(t.TempDir(), "no-chromium"))
	for k, v := range s.Environment {
		if v != nil {
			cmd.Env = append(cmd.Env, k+"="+*v)
		}
	}
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	client := http.Client{Timeout: 2 * time.Second}
	get := func(p string) (int, string) {
		resp, err := client.Get("http://" + addr + p)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	wantInfo := regexp.MustCompile(`authprobe_build_info\{goversion="go[^"]+",revision="` + stampCommit + `",version="` + stampVersion + `"\} 1`)
	wantRun := regexp.MustCompile(`authprobe_journey_runs_total\{journey="password-login",location="demo",outcome="success"[^}]*\} [1-9]`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := get("/-/ready")
		_, metrics := get("/metrics")
		if code == 200 && wantInfo.MatchString(metrics) && wantRun.MatchString(metrics) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: /-/ready %d; /metrics lacks %s or %s\nlogs:\n%s", code, wantInfo, wantRun, logs.String())
		}
		select {
		case <-exited:
			t.Fatalf("authprobe %s exited: %v\n%s", strings.Join(argv, " "), waitErr, logs.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func decodeYAML(t *testing.T, file string, v any) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
