package httpstep_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authprobe/authprobe/internal/demo"
	"github.com/authprobe/authprobe/internal/probetest"
	"github.com/authprobe/authprobe/internal/redact"
	"github.com/authprobe/authprobe/internal/testdns"
	"github.com/authprobe/authprobe/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func compile(t *testing.T, yaml string) []*probes.Journey {
	t.Helper()
	_, js := probetest.Compile(t, yaml)
	return js
}

// run executes the first journey of a config once.
func run(t *testing.T, env *probes.Env, yaml string, args ...any) probes.Result {
	t.Helper()
	j := compile(t, fmt.Sprintf(yaml, args...))[0]
	return j.Execute(context.Background(), env, j.Variants[0], "")
}

func want(t *testing.T, res probes.Result, reason probes.Reason, step string) {
	t.Helper()
	if res.Reason != reason || res.FailedStep != step {
		t.Fatalf("got outcome %s reason %q at step %q (%s); want reason %q at step %q",
			res.Outcome, res.Reason, res.FailedStep, res.Message, reason, step)
	}
	if reason == "" && res.Outcome != probes.OutcomeSuccess {
		t.Fatalf("outcome %s, want success", res.Outcome)
	}
}

func TestFormLoginWithCSRFAndCookies(t *testing.T) {
	t.Setenv("AUTHPROBE_DEMO_PASSWORD", "correct horse")
	t.Setenv("AUTHPROBE_DEMO_CLIENT_SECRET", "client secret")
	realm, err := demo.New("correct horse", "client secret")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(realm.Handler())
	defer srv.Close()
	js := compile(t, string(demo.Config(srv.URL, []string{"127.0.0.1:1"}, false)))
	for _, j := range js {
		if j.Targets != nil {
			continue // the token journey; the demo's own tests run it
		}
		t.Run(j.Name, func(t *testing.T) {
			res := j.Execute(context.Background(), nil, j.Variants[0], "")
			want(t, res, "", "")
			for _, s := range res.Steps {
				if s.Outcome != probes.OutcomeSuccess || s.Status == 0 {
					t.Errorf("step %s: %+v", s.Name, s)
				}
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: page
        http: { url: "%[1]s/login" }
        extract: { csrf: { form_field: csrf } }
      - name: submit
        http: { method: POST, url: "%[1]s/login", form: { username: probe, password: wrong, csrf: "{{ .csrf }}" } }
        expect: { status: 302 }
      - name: logout
        always: true
        http: { method: POST, url: "%[1]s/logout" }
        expect: { status: 302 }`, srv.URL)
		want(t, res, probes.ReasonHTTPStatus, "submit")
		if !strings.Contains(res.Message, "status 200, want 302") || !strings.Contains(res.Message, "Invalid username or password") {
			t.Errorf("message should give the status and the page's error: %q", res.Message)
		}
		if last := res.Steps[2]; last.Skipped || last.Outcome != probes.OutcomeSuccess {
			t.Errorf("the always step must run after a failure: %+v", last)
		}
	})

	t.Run("without the CSRF token", func(t *testing.T) {
		res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: submit
        http: { method: POST, url: "%[1]s/login", form: { username: probe, password: "correct horse" } }
        expect: { status: 302 }
      - name: account
        http: { url: "%[1]s/account" }`, srv.URL)
		want(t, res, probes.ReasonHTTPStatus, "submit")
		if res.Steps[1].Skipped != true {
			t.Error("steps after a failure must be skipped")
		}
	})
}

func TestRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "hop", Value: "1"})
		http.Redirect(w, r, "/middle", http.StatusFound)
	})
	mux.HandleFunc("/middle", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/end", http.StatusFound) })
	mux.HandleFunc("/end", func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("hop"); err != nil {
			http.Error(w, "cookie from the first hop missing", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "arrived")
	})
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/a", http.StatusFound) })
	var n atomic.Int64
	mux.HandleFunc("/deeper", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("/deeper?n=%d", n.Add(1)), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name, redirects, path, expect string
		reason                        probes.Reason
		msg                           string
	}{
		{"not followed by default", "", "/start", "{ status: 302, cookie: hop }", "", ""},
		{"a 3xx fails a 2xx expectation with a hint", "", "/start", "{}", probes.ReasonHTTPStatus, "set redirects: follow"},
		{"followed, cookies carried", "follow", "/start", "{ status: 200, body_contains: arrived, cookie: hop }", "", ""},
		{"a loop", "follow", "/a", "{}", probes.ReasonRedirectLoop, "visited 3 times"},
		{"past the maximum", "3", "/deeper", "{}", probes.ReasonRedirectLoop, "more than 3 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redirects := ""
			if tt.redirects != "" {
				redirects = ", redirects: " + tt.redirects
			}
			res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: go
        http: { url: "%s%s"%s }
        expect: %s`, srv.URL, tt.path, redirects, tt.expect)
			step := ""
			if tt.reason != "" {
				step = "go"
			}
			want(t, res, tt.reason, step)
			if !strings.Contains(res.Message, tt.msg) {
				t.Errorf("message %q should contain %q", res.Message, tt.msg)
			}
		})
	}
}

func TestBodies(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; i < 16*1024 && r.Context().Err() == nil; i++ { // up to 1 GiB
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		for r.Context().Err() == nil {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-42")
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"method":%q,"body":%q,"q":%q,"n":3,"ok":true}`, r.Method, body, r.URL.Query().Get("q"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	t.Run("1 GiB body", func(t *testing.T) {
		res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%s/huge", max_body_bytes: 1MiB }`, srv.URL)
		want(t, res, probes.ReasonBodyTooLarge, "get")
		if !strings.Contains(res.Message, "larger than 1MiB") {
			t.Errorf("message: %q", res.Message)
		}
	})

	t.Run("body dripping a byte at a time", func(t *testing.T) {
		start := time.Now()
		res := run(t, nil, `
journeys:
  - name: j
    timeout: 1s
    steps:
      - name: get
        http: { url: "%s/drip" }`, srv.URL)
		took := time.Since(start)
		want(t, res, probes.ReasonTimeout, "get")
		if took > time.Second+100*time.Millisecond {
			t.Errorf("the run took %s; the 1s timeout must end it within 100ms", took)
		}
	})

	t.Run("json body, query and templates", func(t *testing.T) {
		res := run(t, nil, `
journeys:
  - name: j
    vars: { who: probe }
    steps:
      - name: post
        http:
          url: "%s/json"
          query: { q: "for {{ .who }}" }
          json: { user: "{{ .who }}", n: 1, nested: [true, null, "{{ upper .who }}"] }
        extract:
          method: { json: "$.method" }
          n: { json: "$.n" }
          rid: { header: X-Request-Id }
        expect:
          json: { "$.method": POST, "$.n": 3, "$.ok": true, "$.q": "for probe", "$.body": '{"user":"probe","n":1,"nested":[true,null,"PROBE"]}' }
          header: { Content-Type: "^application/json$" }
      - name: use
        http: { url: "%[1]s/json", query: { q: "{{ .method }}-{{ .n }}-{{ .rid }}" } }
        expect: { json: { "$.q": "POST-3-req-42", "$.method": GET } }`, srv.URL)
		want(t, res, "", "")
	})
}

func TestExtractAndExpect(t *testing.T) {
	page := `<html><head><title>Sign in</title></head><body>
<form id="login"><input type="hidden" name="csrf" value="tok-123"><select name="tenant"><option value="a">A</option><option value="b" selected>B</option></select>
<textarea name="note">hello</textarea></form><h1 class="greeting"> Welcome back </h1><a id="next" href="/next?x=1">next</a></body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "sess-9", Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "gone", Value: "", MaxAge: -1})
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()

	ok := []struct{ name, extract, want string }{
		{"regex group", `{ regex: 'value="(tok-[0-9]+)"' }`, "tok-123"},
		{"regex whole match", `{ regex: 'tok-[0-9]+' }`, "tok-123"},
		{"form field", `{ form_field: csrf }`, "tok-123"},
		{"form select", `{ form_field: tenant }`, "b"},
		{"form textarea", `{ form_field: note }`, "hello"},
		{"css text", `{ css: "h1.greeting" }`, "Welcome back"},
		{"css attribute", `{ css: "#next", attr: href }`, "/next?x=1"},
		{"header", `{ header: Content-Type }`, "text/html"},
		{"cookie", `{ cookie: session }`, "sess-9"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%[1]s/" }
        extract: { v: %[2]s }
      - name: check
        http: { url: "%[1]s/", headers: { X-Got: "{{ .v }}" } }
        expect: { body_contains: Welcome }`, srv.URL, tt.extract)
			want(t, res, "", "")
		})
	}

	failing := []struct{ name, extract, expect string }{
		{"regex no match", `{ v: { regex: 'nope-([0-9]+)' } }`, "{}"},
		{"no such form field", `{ v: { form_field: password } }`, "{}"},
		{"css no match", `{ v: { css: "#missing" } }`, "{}"},
		{"json of html", `{ v: { json: "$.x" } }`, "{}"},
		{"missing cookie", `{ v: { cookie: nope } }`, "{}"},
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%s/" }
        extract: %s`, srv.URL, tt.extract)
			want(t, res, probes.ReasonExtract, "get")
			if !strings.HasPrefix(res.Message, "extract v: ") {
				t.Errorf("message should name the variable: %q", res.Message)
			}
		})
	}

	expects := []struct {
		name, expect string
		reason       probes.Reason
	}{
		{"status class", `{ status: 2xx }`, ""},
		{"status list miss", `{ status: [201, 3xx] }`, probes.ReasonHTTPStatus},
		{"body contains", `{ body_contains: [Sign in, tok-123] }`, ""},
		{"body contains miss", `{ body_contains: Goodbye }`, probes.ReasonAssertion},
		{"body regex", `{ body_regex: 'value="tok-\d+"' }`, ""},
		{"body regex miss", `{ body_regex: '^\{' }`, probes.ReasonAssertion},
		{"header", `{ header: { Content-Type: html } }`, ""},
		{"header missing", `{ header: { X-Frame-Options: DENY } }`, probes.ReasonAssertion},
		{"cookie set", `{ cookie: session }`, ""},
		{"cookie deleted is not set", `{ cookie: gone }`, probes.ReasonAssertion},
		{"json of html", `{ json: { "$.a": 1 } }`, probes.ReasonAssertion},
		{"max duration", `{ max_duration: 1ns }`, probes.ReasonTimeout},
	}
	for _, tt := range expects {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%s/" }
        expect: %s`, srv.URL, tt.expect)
			step := ""
			if tt.reason != "" {
				step = "get"
			}
			want(t, res, tt.reason, step)
		})
	}
}

func TestFailClosedAndTokenRejected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api":
			if r.Header.Get("Authorization") != "Bearer good" {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				http.Error(w, "invalid token", http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, "ok")
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/open":
			fmt.Fprint(w, "anyone may enter")
		}
	}))
	defer srv.Close()
	// A token held in a variable was obtained at run time (by an earlier
	// step, in a real journey); an Authorization written in the config is a
	// configured credential.
	tests := []struct {
		name, path, auth, expect string
		reason                   probes.Reason
	}{
		{"good token accepted", "/api", "Bearer {{ .good }}", "{ status: 200 }", ""},
		{"an obtained token refused is token_rejected", "/api", "Bearer {{ .bad }}", "{ status: 200 }", probes.ReasonTokenRejected},
		{"a configured credential refused is invalid_credentials", "/api", "Bearer bad", "{ status: 200 }", probes.ReasonInvalidCredentials},
		{"401 without credentials is http_status", "/api", "", "{ status: 200 }", probes.ReasonHTTPStatus},
		{"tampered token refused passes", "/api", "Bearer {{ tamper .good }}", "{ rejected: true }", ""},
		{"accepted token fails the check", "/open", "Bearer {{ .bad }}", "{ rejected: true }", probes.ReasonNotRejected},
		{"a 500 is inconclusive", "/broken", "Bearer {{ .bad }}", "{ rejected: true }", probes.ReasonHTTPStatus},
		{"rejection body checked", "/api", "Bearer {{ .bad }}", "{ rejected: true, body_contains: invalid token }", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := "{}"
			if tt.auth != "" {
				headers = fmt.Sprintf(`{ Authorization: '%s' }`, tt.auth)
			}
			res := run(t, nil, `
journeys:
  - name: j
    vars: { good: good, bad: bad }
    steps:
      - name: call
        http: { url: "%s%s", headers: %s }
        expect: %s`, srv.URL, tt.path, headers, tt.expect)
			step := ""
			if tt.reason != "" {
				step = "call"
			}
			want(t, res, tt.reason, step)
		})
	}
}

func TestRetryUntil(t *testing.T) {
	var polls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/never" || polls.Add(1) < 4 {
			fmt.Fprint(w, `{"status":"pending"}`)
			return
		}
		fmt.Fprint(w, `{"status":"processed"}`)
	}))
	defer srv.Close()

	res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: poll
        http: { url: "%s/job" }
        expect: { json: { "$.status": processed } }
        retry_until: { every: 20ms, for: 2s }`, srv.URL)
	want(t, res, "", "")
	if a := res.Steps[0].Attempts; a != 4 {
		t.Errorf("%d attempts; want 4 (3 pending, then processed)", a)
	}

	start := time.Now()
	res = run(t, nil, `
journeys:
  - name: j
    steps:
      - name: poll
        http: { url: "%s/never" }
        expect: { json: { "$.status": processed } }
        retry_until: { every: 50ms, for: 300ms }`, srv.URL)
	took := time.Since(start)
	want(t, res, probes.ReasonAssertion, "poll")
	if !strings.HasPrefix(res.Message, "after ") || !strings.Contains(res.Message, `$.status is "pending", want "processed"`) {
		t.Errorf("message: %q", res.Message)
	}
	if took > 400*time.Millisecond || took < 250*time.Millisecond {
		t.Errorf("polling for 300ms took %s", took)
	}
}

func TestNetworkFailures(t *testing.T) {
	dns, err := testdns.Start(map[string][]net.IP{"app.test.": {net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	env := &probes.Env{Resolver: dns.Resolver()}

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := closed.Addr().String()
	closed.Close()

	hung, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close() // never answer
		}
	}()

	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	tests := []struct {
		name, url string
		reason    probes.Reason
	}{
		{"connection refused", "http://" + refused + "/", probes.ReasonConnect},
		{"NXDOMAIN", "http://nope.test/", probes.ReasonDNS},
		{"SERVFAIL", "http://x.servfail/", probes.ReasonDNS},
		{"self-signed certificate", tlsSrv.URL, probes.ReasonTLS},
		{"server that never answers", "http://" + hung.Addr().String() + "/", probes.ReasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := run(t, env, `
journeys:
  - name: j
    timeout: 500ms
    steps:
      - name: get
        http: { url: "%s" }`, tt.url)
			took := time.Since(start)
			want(t, res, tt.reason, "get")
			if took > 600*time.Millisecond {
				t.Errorf("took %s; the 500ms timeout must end the run within 100ms", took)
			}
		})
	}

	t.Run("trusted through ca_file", func(t *testing.T) {
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		cert := tlsSrv.Certificate()
		os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
		res := run(t, env, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%s", tls: { ca_file: %q } }
        expect: { body_contains: secure }`, tlsSrv.URL, caFile)
		want(t, res, "", "")
		if len(res.Gauges) != 1 || res.Gauges[0].Value != float64(cert.NotAfter.Unix()) {
			t.Errorf("certificate expiry gauge: %+v; want %d", res.Gauges, cert.NotAfter.Unix())
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		res := run(t, env, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%s", tls: { insecure_skip_verify: true } }`, tlsSrv.URL)
		want(t, res, "", "")
	})
	t.Run("resolved through DNS", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host) }))
		defer srv.Close()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		res := run(t, env, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "http://app.test:%s/" }
        expect: { body_contains: "app.test:%[1]s" }`, port)
		want(t, res, "", "")
	})
}

func TestSecretsAreRedactedFromMessages(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	t.Setenv("AUTHPROBE_TEST_TOKEN", "tok-very-secret")
	cfg, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "http://%s/${env:AUTHPROBE_TEST_TOKEN}/x?token=${env:AUTHPROBE_TEST_TOKEN}" }`, addr))
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	res := js[0].Execute(context.Background(), env, js[0].Variants[0], "")
	want(t, res, probes.ReasonConnect, "get")
	if strings.Contains(res.Message, "tok-very-secret") || !strings.Contains(res.Message, redact.Mask) {
		t.Errorf("the secret must be masked in %q", res.Message)
	}
}

func TestFanOutStatic(t *testing.T) {
	// Two replicas of one API behind the logical name example.com, which the
	// test certificate is issued for; one replica has a rotated key.
	replica := func(name string, accept bool) *httptest.Server {
		return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host != "example.com" || r.TLS.ServerName != "example.com" {
				http.Error(w, "wrong host "+r.Host+" / SNI "+r.TLS.ServerName, http.StatusMisdirectedRequest)
				return
			}
			if !accept {
				http.Error(w, "unknown kid", http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, name)
		}))
	}
	a, b := replica("replica-a", true), replica("replica-b", false)
	defer a.Close()
	defer b.Close()
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"access_token":"tok"}`)
	}))
	defer idp.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw}), 0o644)

	js := compile(t, fmt.Sprintf(`
journeys:
  - name: api
    targets: { host: "example.com:443", static: [%q, %q] }
    steps:
      - name: token
        http: { method: POST, url: "%s/token" }
        extract: { access_token: { json: "$.access_token" } }
      - name: use
        http: { url: "https://example.com/me", headers: { Authorization: "Bearer {{ .access_token }}" }, tls: { ca_file: %q } }
        expect: { status: 200 }`, a.Listener.Addr(), b.Listener.Addr(), idp.URL, caFile))
	results := probes.RunOnce(context.Background(), nil, js, 4)
	if len(results) != 2 {
		t.Fatalf("%d results; want one per address", len(results))
	}
	byTarget := map[string]probes.Result{}
	for _, r := range results {
		byTarget[r.Target] = r
	}
	want(t, byTarget[a.Listener.Addr().String()], "", "")
	want(t, byTarget[b.Listener.Addr().String()], probes.ReasonTokenRejected, "use")
}

func TestFanOutDNS(t *testing.T) {
	// Two replicas on 127.0.0.1 and 127.0.0.2 with the same port, found
	// through a DNS name as a headless service would be.
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l1.Addr().String())
	l2, err := net.Listen("tcp", "127.0.0.2:"+port)
	if err != nil {
		t.Fatalf("127.0.0.2 is not usable here: %v", err)
	}
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name+" "+r.Host) })
	}
	s1 := &httptest.Server{Listener: l1, Config: &http.Server{Handler: handler("one")}}
	s2 := &httptest.Server{Listener: l2, Config: &http.Server{Handler: handler("two")}}
	s1.Start()
	s2.Start()
	defer s1.Close()
	defer s2.Close()
	dns, err := testdns.Start(map[string][]net.IP{"api-headless.test.": {net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")}})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	env := &probes.Env{Resolver: dns.Resolver()}
	js := compile(t, fmt.Sprintf(`
journeys:
  - name: api
    targets: { host: "api.example.com:80", dns: "api-headless.test:%s" }
    steps:
      - name: get
        http: { url: "http://api.example.com/" }
        expect: { body_contains: "api.example.com" }
  - name: gone
    targets: { host: "api.example.com:80", dns: "gone.test:%[1]s" }
    steps:
      - name: get
        http: { url: "http://api.example.com/" }`, port))
	results := probes.RunOnce(context.Background(), env, js, 4)
	got := map[string]probes.Reason{}
	for _, r := range results {
		got[r.Journey+" "+r.Target] = r.Reason
		if r.Outcome != probes.OutcomeSuccess {
			t.Logf("%s %s: %s %s", r.Journey, r.Target, r.Reason, r.Message)
		}
	}
	wantResults := map[string]probes.Reason{
		"api 127.0.0.1:" + port:  "",
		"api 127.0.0.2:" + port:  "",
		"gone gone.test:" + port: probes.ReasonDNS,
	}
	if fmt.Sprint(got) != fmt.Sprint(wantResults) {
		t.Errorf("results %v; want %v", got, wantResults)
	}
}

// A template that cannot be executed is authprobe's fault, not the target's:
// outcome error, reason internal, kept out of the SLI.
func TestProberFaultsAreErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"v":"not base64!"}`) }))
	defer srv.Close()
	res := run(t, nil, `
journeys:
  - name: j
    steps:
      - name: get
        http: { url: "%[1]s/" }
        extract: { v: { json: "$.v" } }
      - name: decode
        http: { url: "%[1]s/", headers: { X-Decoded: "{{ b64dec .v }}" } }`, srv.URL)
	want(t, res, probes.ReasonInternal, "decode")
	if res.Outcome != probes.OutcomeError || !strings.Contains(res.Message, "b64dec: input is not base64") {
		t.Errorf("outcome %s, message %q", res.Outcome, res.Message)
	}
}

// Messages quote what a target said, but never a secret in it: bodies are
// redacted before they are cut, and redirect targets lose their query.
func TestMessagesQuoteTargetsSafely(t *testing.T) {
	const secret = "S3cr3t-value-0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "https://app.example.com/cb?code=AUTHCODE123&state=x#access_token=TOKEN456", http.StatusFound)
			return
		}
		http.Error(w, strings.Repeat("x", 100)+" password="+r.FormValue("password"), http.StatusInternalServerError)
	}))
	defer srv.Close()
	t.Setenv("AUTHPROBE_TEST_SECRET", secret)
	cfg, js := probetest.Compile(t, fmt.Sprintf(`
journeys:
  - name: echo
    steps:
      - { name: post, http: { url: "%[1]s/", form: { password: "${env:AUTHPROBE_TEST_SECRET}" } } }
  - name: redirect
    steps:
      - { name: get, http: { url: "%[1]s/redirect" } }`, srv.URL))
	env := &probes.Env{}
	env.SetRedactor(redact.New(cfg.Secrets...))
	echo := js[0].Execute(context.Background(), env, js[0].Variants[0], "")
	if strings.Contains(echo.Message, secret[:5]) || !strings.Contains(echo.Message, "password=<secret>") {
		t.Errorf("body excerpt: %q", echo.Message)
	}
	redir := js[1].Execute(context.Background(), env, js[1].Variants[0], "")
	if strings.Contains(redir.Message, "AUTHCODE") || strings.Contains(redir.Message, "TOKEN456") || !strings.Contains(redir.Message, "a redirect to https://app.example.com/cb;") {
		t.Errorf("redirect message: %q", redir.Message)
	}
}
