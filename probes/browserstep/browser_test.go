package browserstep_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authprobe/authprobe/internal/browser"
	"github.com/authprobe/authprobe/internal/demo"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/browserstep"
)

func TestMain(m *testing.M) {
	browserstep.Configure(browser.Options{MaxTabs: 4})
	code := m.Run()
	browserstep.Shutdown()
	os.Exit(code)
}

// needChromium skips outside CI when Chromium is missing, and fails in CI.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
}

// runOne runs the config's first journey once, with its secrets known to
// the redactor as in authprobe run.
func runOne(t *testing.T, yaml string, args ...any) probes.Result {
	t.Helper()
	cfg, js := probetest.Compile(t, fmt.Sprintf(yaml, args...))
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	return js[0].Execute(context.Background(), env, js[0].Variants[0], "")
}

// The demo's single-page app: JavaScript signs in and keeps the token in
// localStorage; the browser step extracts it, a jwt step validates it and
// an http step uses it.
func TestSPAToken(t *testing.T) {
	needChromium(t)
	spa, srv := spaJourney(t)
	checkSPA(t, spa.Execute(context.Background(), nil, spa.Variants[0], ""))

	t.Run("wrong password", func(t *testing.T) {
		res := runOne(t, `
journeys:
  - name: j
    steps:
      - name: login
        browser:
          action_timeout: 2s
          actions:
            - navigate: "%s/spa/"
            - fill: { selector: "#username", value: probe }
            - fill: { selector: "#password", value: wrong }
            - click: "#submit"
            - wait_url: { contains: "/spa/home" }`, srv.URL)
		if res.Reason != probes.ReasonAssertion || !strings.Contains(res.Message, "want it to contain \"/spa/home\"") {
			t.Fatalf("%s: %s", res.Reason, res.Message)
		}
		if res.Artifact == nil || len(res.Artifact.Screenshot) == 0 || !strings.HasSuffix(res.Artifact.URL, "/spa/") {
			t.Errorf("artifact %+v", res.Artifact)
		}
	})
}

// spaJourney serves the demo realm and compiles the demo config's
// spa-login journey against it.
func spaJourney(t *testing.T) (*probes.Journey, *httptest.Server) {
	t.Helper()
	t.Setenv("AUTHPROBE_DEMO_PASSWORD", "pw-spa")
	t.Setenv("AUTHPROBE_DEMO_CLIENT_SECRET", "cs-spa")
	realm, err := demo.New("pw-spa", "cs-spa")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(realm.Handler())
	t.Cleanup(srv.Close)
	realm.SetIssuer(srv.URL)
	_, js := probetest.Compile(t, string(demo.Config(srv.URL, []string{"127.0.0.1:1"}, true)))
	for _, j := range js {
		if j.Name == "spa-login" {
			return j, srv
		}
	}
	t.Fatal("the demo config has no spa-login journey")
	return nil, nil
}

// checkSPA wants a successful spa-login run with its actions timed.
func checkSPA(t *testing.T, res probes.Result) {
	t.Helper()
	if res.Outcome != probes.OutcomeSuccess {
		t.Fatalf("%s at %s: %s", res.Reason, res.FailedStep, res.Message)
	}
	login := res.Steps[0]
	if len(login.Actions) != 7 || login.Actions[0].Name != "1:navigate" || login.Actions[0].Load <= 0 || login.Actions[0].TTFB <= 0 {
		t.Errorf("actions: %+v; want 7 timed actions, navigation timing on the first", login.Actions)
	}
}

// chromium-headless-shell (Debian's build of the old headless mode, half
// the CPU and memory per journey in bench/README.md) works with the same
// pool: journeys pass, the browser is the shell, and a crash is recovered.
func TestHeadlessShell(t *testing.T) {
	const shell = "/usr/lib/chromium/chromium-headless-shell"
	if _, err := os.Stat(shell); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium-headless-shell is not installed (apt-get install chromium-headless-shell)")
		}
		t.Skip("chromium-headless-shell is not installed (apt-get install chromium-headless-shell)")
	}
	browserstep.Configure(browser.Options{ExecPath: shell, MaxTabs: 4})
	t.Cleanup(func() { browserstep.Configure(browser.Options{MaxTabs: 4}) })
	spa, _ := spaJourney(t)
	checkSPA(t, spa.Execute(context.Background(), nil, spa.Variants[0], ""))
	pids := browserstep.PIDs()
	if len(pids) != 1 {
		t.Fatalf("browsers %v; want one", pids)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pids[0]))
	if err != nil || exe != shell {
		t.Fatalf("the browser runs %q (%v); want %s", exe, err, shell)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checkSPA(t, spa.Execute(context.Background(), nil, spa.Variants[0], ""))
	if after := browserstep.PIDs(); len(after) != 1 || after[0] == pids[0] {
		t.Errorf("browsers after the kill %v; want one new one", after)
	}
}

// A page whose login button is missing: element_not_found, and a PNG in
// which the filled password input, the configured selector and the input
// filled with a secret are black.
func TestElementNotFoundMasksPasswords(t *testing.T) {
	needChromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `<!doctype html><html><body style="margin:0;background:#fff">
<input id="user" style="position:absolute;left:20px;top:20px;width:200px;height:40px;background:#fff;border:0">
<input id="pass" type="password" style="position:absolute;left:20px;top:100px;width:200px;height:40px;background:#fff;border:0">
<input id="otp" style="position:absolute;left:20px;top:180px;width:200px;height:40px;background:#fff;border:0">
<input id="key" style="position:absolute;left:20px;top:260px;width:200px;height:40px;background:#fff;border:0">
<script>console.error("login widget failed to load", 'said "no"'); fetch("/missing.js")</script>
</body></html>`)
	}))
	defer srv.Close()
	t.Setenv("T_PASSWORD", "hunter2-hunter2")
	t.Setenv("T_KEY", "k3y-k3y-k3y-k3y")
	res := runOne(t, `
journeys:
  - name: j
    steps:
      - name: login
        browser:
          action_timeout: 1s
          mask: ["#otp"]
          actions:
            - navigate: "%s/"
            - fill: { selector: "#user", value: probe }
            - fill: { selector: "#pass", value: "${env:T_PASSWORD}" }
            - fill: { selector: "#otp", value: "123456" }
            - fill: { selector: "#key", value: "${env:T_KEY}" }
            - click: "#submit"`, srv.URL)
	if res.Reason != probes.ReasonElementNotFound || res.FailedStep != "login" || !strings.Contains(res.Message, "#submit did not appear") {
		t.Fatalf("%s at %s: %s", res.Reason, res.FailedStep, res.Message)
	}
	a := res.Artifact
	if a == nil || a.Step != "login" {
		t.Fatalf("artifact %+v", a)
	}
	img, err := png.Decode(bytes.NewReader(a.Screenshot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	dark := func(x0, y0, x1, y1 int) float64 {
		n, black := 0, 0
		for x := x0; x < x1; x++ {
			for y := y0; y < y1; y++ {
				r, g, b, _ := img.At(x, y).RGBA()
				n++
				if r < 0x1000 && g < 0x1000 && b < 0x1000 {
					black++
				}
			}
		}
		return float64(black) / float64(n)
	}
	if d := dark(25, 105, 215, 135); d < 0.99 {
		t.Errorf("the password input is %.0f%% black; it must be masked", d*100)
	}
	if d := dark(25, 185, 215, 215); d < 0.99 {
		t.Errorf("the configured #otp is %.0f%% black; it must be masked", d*100)
	}
	if d := dark(25, 265, 215, 295); d < 0.99 {
		t.Errorf("the text input filled with a secret is %.0f%% black; it must be masked", d*100)
	}
	if d := dark(25, 25, 215, 55); d > 0.5 {
		t.Errorf("the username input is %.0f%% black; only secrets are masked", d*100)
	}
	if !containsAny(a.Console, `login widget failed to load said "no"`) || !containsAny(a.Network, "/missing.js answered 404") {
		t.Errorf("console %q network %q", a.Console, a.Network)
	}
	if strings.Contains(fmt.Sprint(a.Console, a.Network, a.URL, res.Message), "hunter2") {
		t.Error("the password reached the artifact or the message")
	}
}

func containsAny(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Runs at the same time never see each other's cookies or storage.
func TestConcurrentRunsAreIsolated(t *testing.T) {
	needChromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("set"); v != "" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: v, Path: "/"})
		}
		c, _ := r.Cookie("who")
		who := "nobody"
		if c != nil {
			who = c.Value
		}
		fmt.Fprintf(w, `<html><body><p id="who">%s</p><script>localStorage.setItem("seen", (localStorage.getItem("seen") || "") + %q)</script></body></html>`, who, r.URL.Query().Get("set"))
	}))
	defer srv.Close()
	var yaml strings.Builder
	yaml.WriteString("journeys:\n")
	for _, who := range []string{"alice", "bob", "carol"} {
		fmt.Fprintf(&yaml, `  - name: %[1]s
    steps:
      - name: b
        browser:
          actions:
            - navigate: "%[2]s/?set=%[1]s"
            - navigate: "%[2]s/"
            - assert_text: { selector: "#who", contains: %[1]s }
            - extract: { seen: { local_storage: seen } }
      - name: check
        http: { url: "%[2]s/?seen={{ .seen }}" }
        expect: { status: 200 }
`, who, srv.URL)
	}
	_, js := probetest.Compile(t, yaml.String())
	for round := range 3 {
		var wg sync.WaitGroup
		results := make([]probes.Result, len(js))
		for i, j := range js {
			wg.Go(func() { results[i] = j.Execute(context.Background(), nil, j.Variants[0], "") })
		}
		wg.Wait()
		for _, r := range results {
			if r.Outcome != probes.OutcomeSuccess {
				t.Errorf("round %d, %s: %s %s", round, r.Journey, r.Reason, r.Message)
			}
		}
	}
}

// Killing Chromium mid-run ends that run with outcome error; the next run
// gets a new browser and succeeds; after many runs nothing is left.
func TestBrowserCrash(t *testing.T) {
	needChromium(t)
	slow := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { close(slow) })
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
		fmt.Fprint(w, `<html><body><h1>ok</h1></body></html>`)
	}))
	defer srv.Close()
	_, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: slow
    timeout: 8s
    interval: 10s
    steps: [{ name: b, browser: { actions: [{ navigate: "%[1]s/slow" }] } }]
  - name: quick
    steps: [{ name: b, browser: { actions: [{ navigate: "%[1]s/" }, { assert_text: { selector: h1, contains: ok } }] } }]`, srv.URL))
	done := make(chan probes.Result)
	go func() { done <- js[0].Execute(context.Background(), nil, js[0].Variants[0], "") }()
	<-slow
	pids := browserstep.PIDs()
	if len(pids) == 0 {
		t.Fatal("no browser running")
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	res := <-done
	if res.Outcome != probes.OutcomeError || res.Reason != probes.ReasonInternal {
		t.Fatalf("the run in flight: %s %s (%s); want error/internal", res.Outcome, res.Reason, res.Message)
	}
	for i := range 50 {
		if r := js[1].Execute(context.Background(), nil, js[1].Variants[0], ""); r.Outcome != probes.OutcomeSuccess {
			t.Fatalf("run %d after the crash: %s %s", i, r.Reason, r.Message)
		}
	}
	if st, _ := browserstep.Stats(); st.Restarts["crash"] != 1 {
		t.Errorf("restarts %v; want one for the crash", st.Restarts)
	}
	browserstep.Shutdown()
	if left := chromiumChildren(); len(left) > 0 {
		t.Errorf("processes left after shutdown: %v", left)
	}
}

// chromiumChildren lists Chromium processes and zombies descended from
// this test process.
func chromiumChildren() []string {
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	parents := map[int]int{}
	info := map[int]string{}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		rest := s[strings.LastIndexByte(s, ')')+2:]
		var state string
		var ppid int
		fmt.Sscan(rest, &state, &ppid)
		parents[pid] = ppid
		info[pid] = state + " " + s[strings.IndexByte(s, '(')+1:strings.LastIndexByte(s, ')')]
	}
	var out []string
	for pid := range parents {
		for p := parents[pid]; p > 1; p = parents[p] {
			if p == me {
				out = append(out, fmt.Sprintf("%d %s", pid, info[pid]))
				break
			}
		}
	}
	return out
}
