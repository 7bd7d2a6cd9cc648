package demo

import (
	"bytes"
	"strconv"
	"strings"
	"text/template"
)

// configTmpl uses [[ ]] so that the probe's own {{ }} run-time templates pass
// through untouched.
var configTmpl = template.Must(template.New("config").Delims("[[", "]]").Funcs(template.FuncMap{
	"quote": strconv.Quote,
	"url": func(base, path string) string {
		// A Go-quoted string is a valid YAML double-quoted scalar, so no
		// base URL can break out of the value it is placed in.
		return strconv.Quote(strings.TrimRight(base, "/") + path)
	},
}).Parse(`global:
  interval: 5s
  timeout: 3s
  location: demo
  max_concurrency: 16
journeys:
  - name: password-login
    slo: { objective: 99.5 }
    steps:
      - name: login-page
        http: { url: [[ url .Base "/login" ]] }
        extract: { csrf: { form_field: csrf } }
        expect: { status: 200 }
      - name: submit
        http:
          method: POST
          url: [[ url .Base "/login" ]]
          form: { username: probe, password: "${env:AUTHPROBE_DEMO_PASSWORD}", csrf: "{{ .csrf }}" }
        expect: { status: 302, cookie: session }
      - name: account
        http: { url: [[ url .Base "/account" ]] }
        expect: { status: 200, body_contains: "Welcome, probe" }
      - name: logout
        always: true
        http: { method: POST, url: [[ url .Base "/logout" ]] }
        expect: { status: 302 }
  - name: wrong-password-refused
    steps:
      - name: login-page
        http: { url: [[ url .Base "/login" ]] }
        extract: { csrf: { form_field: csrf } }
      - name: submit-wrong-password
        http:
          method: POST
          url: [[ url .Base "/login" ]]
          form: { username: probe, password: "not-the-password", csrf: "{{ .csrf }}" }
        # Fail-closed: the login form must come back with its error (200);
        # a redirect into the account would fail the run with not_rejected.
        expect: { rejected: true, status: 200, body_contains: "Invalid username or password" }
  # A real token journey: get a token, validate it against the issuer's
  # keys, use it on every API replica (fan-out: the logical host
  # api.demo.internal is dialed to each replica in turn, one series each),
  # and check that a tampered token is refused. The key-drift switch
  # breaks one replica, and only its series turns red.
  - name: api-token
    slo: { objective: 99.9 }
    targets:
      host: "api.demo.internal:80"
      static: [[ .APIs ]]
    steps:
      - name: token
        oauth2:
          issuer: [[ quote .Base ]]
          grant: client_credentials
          client_id: probe
          client_secret: "${env:AUTHPROBE_DEMO_CLIENT_SECRET}"
          scopes: [api]
      - name: validate
        jwt: { token: "{{ .access_token }}", issuer: [[ quote .Base ]], audience: "urn:demo:api", algorithms: [RS256] }
        expect: { json: { "$.scope": api } }
      - name: use-token
        http:
          url: "http://api.demo.internal/api/me"
          headers: { Authorization: "Bearer {{ .access_token }}" }
        expect: { status: 200, json: { "$.scope": api } }
      - name: tampered-token-refused
        http:
          url: "http://api.demo.internal/api/me"
          headers: { Authorization: "Bearer {{ tamper .access_token }}" }
        expect: { rejected: true }
[[- if .Browser ]]
  # A single-page app in real Chromium: JavaScript signs in and keeps the
  # token in localStorage; the browser step hands it to the token checks.
  - name: spa-login
    interval: 10s
    timeout: 10s
    steps:
      - name: browser-login
        browser:
          actions:
            - navigate: [[ url .Base "/spa/" ]]
            - fill: { selector: "#username", value: probe }
            - fill: { selector: "#password", value: "${env:AUTHPROBE_DEMO_PASSWORD}" }
            - click: "#submit"
            - wait_url: { contains: "/spa/home" }
            - wait_text: { selector: "#greeting", contains: "Welcome, probe" }
            - extract: { access_token: { local_storage: token, secret: true } }
      - name: validate
        jwt: { token: "{{ .access_token }}", issuer: [[ quote .Base ]], audience: "urn:demo:api" }
      - name: session
        http: { url: [[ url .Base "/spa/api/session" ]], headers: { Authorization: "Bearer {{ .access_token }}" } }
        expect: { json: { "$.sub": probe } }
[[- end ]]
`))

// Config returns the built-in authprobe YAML config that probes the realm
// at baseURL (e.g. "http://127.0.0.1:9742") and its API replicas at
// apiAddrs (host:port each, replica 1 first); with browser, it includes
// the journey through the single-page app in Chromium. The password and
// client secret are referenced as ${env:AUTHPROBE_DEMO_PASSWORD} and
// ${env:AUTHPROBE_DEMO_CLIENT_SECRET}, never inlined.
func Config(baseURL string, apiAddrs []string, browser bool) []byte {
	var buf bytes.Buffer
	quoted := make([]string, len(apiAddrs))
	for i, a := range apiAddrs {
		quoted[i] = strconv.Quote(a)
	}
	// The template is a constant and its inputs are strings, so execution
	// cannot fail short of running out of memory.
	_ = configTmpl.Execute(&buf, struct {
		Base    string
		APIs    string
		Browser bool
	}{strings.TrimRight(baseURL, "/"), "[" + strings.Join(quoted, ", ") + "]", browser})
	return buf.Bytes()
}
