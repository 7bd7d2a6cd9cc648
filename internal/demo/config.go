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
        http: { url: [[ url . "/login" ]] }
        extract: { csrf: { form_field: csrf } }
        expect: { status: 200 }
      - name: submit
        http:
          method: POST
          url: [[ url . "/login" ]]
          form: { username: probe, password: "${env:AUTHPROBE_DEMO_PASSWORD}", csrf: "{{ .csrf }}" }
        expect: { status: 302, cookie: session }
      - name: account
        http: { url: [[ url . "/account" ]] }
        expect: { status: 200, body_contains: "Welcome, probe" }
      - name: logout
        always: true
        http: { method: POST, url: [[ url . "/logout" ]] }
        expect: { status: 302 }
  - name: wrong-password-refused
    steps:
      - name: login-page
        http: { url: [[ url . "/login" ]] }
        extract: { csrf: { form_field: csrf } }
      - name: submit-wrong-password
        http:
          method: POST
          url: [[ url . "/login" ]]
          form: { username: probe, password: "not-the-password", csrf: "{{ .csrf }}" }
        # Fail-closed: the login form must come back with its error (200);
        # a redirect into the account would fail the run with not_rejected.
        expect: { rejected: true, status: 200, body_contains: "Invalid username or password" }
  - name: api-token
    slo: { objective: 99.9 }
    steps:
      - name: token
        http:
          method: POST
          url: [[ url . "/oauth/token" ]]
          basic_auth: { username: probe, password: "${env:AUTHPROBE_DEMO_CLIENT_SECRET}" }
          form: { grant_type: client_credentials, scope: api }
        extract: { access_token: { json: "$.access_token", secret: true } }
        expect: { status: 200 }
      - name: use-token
        http:
          url: [[ url . "/api/me" ]]
          headers: { Authorization: "Bearer {{ .access_token }}" }
        expect: { status: 200, json: { "$.scope": api } }
      - name: tampered-token-refused
        http:
          url: [[ url . "/api/me" ]]
          headers: { Authorization: "Bearer {{ tamper .access_token }}" }
        expect: { rejected: true }
`))

// Config returns the built-in authprobe YAML config that probes the realm at baseURL (e.g. "http://127.0.0.1:9742").
// The password and client secret are referenced as ${env:AUTHPROBE_DEMO_PASSWORD} and ${env:AUTHPROBE_DEMO_CLIENT_SECRET} — never inlined.
func Config(baseURL string) []byte {
	var buf bytes.Buffer
	// The template is a constant and its only input is a string, so
	// execution cannot fail short of running out of memory.
	_ = configTmpl.Execute(&buf, baseURL)
	return buf.Bytes()
}
