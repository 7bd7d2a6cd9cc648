package pipeline

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authprobe/authprobe/internal/alerting"
	"github.com/authprobe/authprobe/internal/testtool"
)

// tool finds a program from Debian's packages. CI installs them (.ci/run);
// elsewhere a missing one skips with the command that installs it.
func tool(t *testing.T, name, pkg string) string {
	return testtool.Require(t, name, pkg)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a program the test runs in a process group of its own, killed with
// its children when the test ends; its output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func start(t *testing.T, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output (last 6 KiB) ---\n%s", name, tail(p.out.String(), 6<<10))
		}
	})
	return p
}

// kill sends SIGKILL to the process group and waits for the process.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitHTTP waits until url answers 200, asking every 100 ms.
func waitHTTP(t *testing.T, p *proc, url string, timeout time.Duration) {
	t.Helper()
	waitHTTPEvery(t, p, url, timeout, 100*time.Millisecond)
}

// waitHTTPEvery is waitHTTP asking every period: a short one keeps a time
// to ready it measures from being rounded up.
func waitHTTPEvery(t *testing.T, p *proc, url string, timeout, period time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited while starting:\n%s", p.name, tail(p.out.String(), 4<<10))
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(period)
	}
	t.Fatalf("%s did not answer %s within %v", p.name, url, timeout)
}

// waitFor polls cond until it returns true or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	for time.Since(begin) < timeout {
		if cond() {
			return time.Since(begin)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
	return 0
}

// sample is one element of a Prometheus instant-vector result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query on Prometheus; a parse error is an error.
func query(promURL, q string) ([]sample, error) {
	resp, err := http.Get(promURL + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", body.ErrorType, body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var v []sample
		err := json.Unmarshal(body.Data.Result, &v)
		return v, err
	case "scalar":
		var s [2]any
		err := json.Unmarshal(body.Data.Result, &s)
		return []sample{{Value: s}}, err
	}
	return nil, fmt.Errorf("result type %s", body.Data.ResultType)
}

// pdEvent is a PagerDuty Events API v2 request as Alertmanager sends it.
type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     struct {
		Summary       string            `json:"summary"`
		Source        string            `json:"source"`
		Severity      string            `json:"severity"`
		Component     string            `json:"component"`
		Group         string            `json:"group"`
		Class         string            `json:"class"`
		CustomDetails map[string]string `json:"custom_details"`
	} `json:"payload"`
	Links []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
	at time.Time
}

// pagerDuty records what Alertmanager sends to the Events API and to the
// dead man's switch.
type pagerDuty struct {
	mu       sync.Mutex
	events   []pdEvent
	watchdog int
}

func (p *pagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.URL.Path {
	case "/v2/enqueue":
		var e pdEvent
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.at = time.Now()
		p.events = append(p.events, e)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"success","message":"Event processed","dedup_key":"`+e.DedupKey+`"}`)
	case "/watchdog":
		p.watchdog++
	default:
		http.NotFound(w, r)
	}
}

func (p *pagerDuty) find(match func(pdEvent) bool) (pdEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if match(e) {
			return e, true
		}
	}
	return pdEvent{}, false
}

func (p *pagerDuty) all() []pdEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pdEvent(nil), p.events...)
}

// otlpSink accepts OTLP/HTTP trace exports and keeps the raw requests.
type otlpSink struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *otlpSink) contains(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, body := range s.bodies {
		if bytes.Contains(body, b) {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// stack is Prometheus and Alertmanager with the shipped rules and routing,
// time-scaled, paging a local PagerDuty receiver, around an authprobe the
// test starts at apAddr.
type stack struct {
	pd                     *pagerDuty
	apAddr, promURL, amURL string
	promAddr, amAddr       string
	promFile, amFile, dir  string
}

// newStack writes the scaled rules, the routing and Prometheus's config into
// dir; start runs the programs.
func newStack(t *testing.T, dir string) *stack {
	t.Helper()
	s := &stack{pd: &pagerDuty{}, dir: dir, apAddr: freePort(t), promAddr: freePort(t), amAddr: freePort(t)}
	s.promURL, s.amURL = "http://"+s.promAddr, "http://"+s.amAddr
	pdServer := httptest.NewServer(s.pd)
	t.Cleanup(pdServer.Close)

	o := alerting.Shipped
	o.Scale = scale
	o.GrafanaURL = "http://grafana.test"
	o.PagerDutyURL = pdServer.URL + "/v2/enqueue"
	o.WatchdogURL = pdServer.URL + "/watchdog"
	o.RoutingKeyFile = writeFile(t, dir, "routing-key", []byte(routingKey+"\n"))
	rules, err := alerting.RulesFile(o)
	if err != nil {
		t.Fatal(err)
	}
	amConfig, err := alerting.AlertmanagerFile(o)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "rules.yaml", rules)
	s.amFile = writeFile(t, dir, "alertmanager.yml", amConfig)
	s.promFile = writeFile(t, dir, "prometheus.yml", []byte(fmt.Sprintf(`
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [rules.yaml]
alerting:
  alertmanagers: [{ static_configs: [{ targets: [%q] }] }]
scrape_configs:
  - job_name: authprobe
    static_configs: [{ targets: [%q] }]
`, s.amAddr, s.apAddr)))
	return s
}

// start runs Alertmanager and Prometheus (with promFlags) and waits until
// both are ready.
func (s *stack) start(t *testing.T, promFlags ...string) {
	t.Helper()
	promBin := tool(t, "prometheus", "prometheus")
	amBin := tool(t, "prometheus-alertmanager", "prometheus-alertmanager")
	am := start(t, "alertmanager", nil, amBin, "--config.file", s.amFile, "--storage.path", filepath.Join(s.dir, "am"),
		"--web.listen-address", s.amAddr, "--cluster.listen-address=")
	prom := start(t, "prometheus", nil, promBin, append([]string{"--config.file", s.promFile,
		"--storage.tsdb.path", filepath.Join(s.dir, "tsdb"), "--web.listen-address", s.promAddr,
		"--rules.alert.resend-delay=1s"}, promFlags...)...)
	waitHTTP(t, am, s.amURL+"/-/ready", 30*time.Second)
	waitHTTP(t, prom, s.promURL+"/-/ready", 30*time.Second)
}
