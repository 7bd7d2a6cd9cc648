package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
	"github.com/authprobe/authprobe/probes/httpstep"
	_ "github.com/authprobe/authprobe/probes/kinds"
)

// load is what authprobe check does: decode, then compile.
func load(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if _, err := probes.Compile(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Every error message a user can meet, pinned to the file that causes it.
func TestLoadBadConfigs(t *testing.T) {
	os.Unsetenv("AUTHPROBE_TEST_MISSING_PASSWORD")
	os.Unsetenv("AUTHPROBE_TEST_MISSING_TOKEN")
	tests := map[string]string{
		"invalid-unknown-field.yaml": `testdata/invalid-unknown-field.yaml:9: journeys[1].steps[0].htpp: unknown field; did you mean "http"?`,
		"invalid-missing-env.yaml": `testdata/invalid-missing-env.yaml:8: journeys[0].steps[0].http.form.password: environment variable AUTHPROBE_TEST_MISSING_PASSWORD is not set; set it, or remove ${env:AUTHPROBE_TEST_MISSING_PASSWORD}
testdata/invalid-missing-env.yaml:12: journeys[0].steps[1].http.headers.Authorization: environment variable AUTHPROBE_TEST_MISSING_TOKEN is not set; set it, or remove ${env:AUTHPROBE_TEST_MISSING_TOKEN}`,
		"invalid-duration.yaml": `testdata/invalid-duration.yaml:2: global.interval: "30" is not a duration; write a number with a unit, like 500ms, 30s or 1m30s
testdata/invalid-duration.yaml:5: journeys[0].timeout: "5 s" is not a duration; write a number with a unit, like 500ms, 30s or 1m30s`,
		"invalid-no-kind.yaml":   `testdata/invalid-no-kind.yaml:4: journeys[0].steps[0]: has no step kind; add one of: browser, http, introspect, jwt, oauth2, revoke, userinfo`,
		"invalid-two-kinds.yaml": `testdata/invalid-two-kinds.yaml:6: journeys[0].steps[0].http2: unknown field; did you mean "http"?`,
		"invalid-duplicate-journey.yaml": `testdata/invalid-duplicate-journey.yaml:6: journeys[0].steps[1].name: "home" is used by an earlier step; step names must be unique in a journey
testdata/invalid-duplicate-journey.yaml:8: journeys[1].name: "login" is also the name of journeys[0]; journey names must be unique`,
		"invalid-url.yaml": `testdata/invalid-url.yaml:5: journeys[0].steps[0].http.url: "ftp://files.example.com/" must start with http:// or https://
testdata/invalid-url.yaml:7: journeys[0].steps[1].http.url: "https:///path" has no host`,
		"invalid-regex.yaml": "testdata/invalid-regex.yaml:6: journeys[0].steps[0].extract.csrf.regex: is not a valid regular expression: missing closing ): `name=\"csrf\" value=\"([^\"]+\"`\n" +
			"testdata/invalid-regex.yaml:7: journeys[0].steps[0].expect.body_regex: is not a valid regular expression: missing closing ): `(unclosed`",
		"invalid-status.yaml": `testdata/invalid-status.yaml:6: journeys[0].steps[0].expect.status[1]: "999" is not a status; write a code from 100 to 599, like 200, or a class, like 2xx
testdata/invalid-status.yaml:6: journeys[0].steps[0].expect.status[2]: "6xx" is not a status; write a code from 100 to 599, like 200, or a class, like 2xx
testdata/invalid-status.yaml:6: journeys[0].steps[0].expect.status[3]: "ok" is not a status; write a code from 100 to 599, like 200, or a class, like 2xx
testdata/invalid-status.yaml:9: journeys[0].steps[1].expect.status: is empty; give a status like 200 or 2xx, or leave status out for the default`,
		"invalid-timeout.yaml":            `testdata/invalid-timeout.yaml:3: journeys[0].timeout: 1m0s is longer than the interval 10s (global.interval); a run must end before the next is due, so set timeout to 10s or less`,
		"invalid-undefined-variable.yaml": `testdata/invalid-undefined-variable.yaml:7: journeys[0].steps[1].http.headers.Authorization: uses {{ .acces_token }}, which no earlier step or vars sets; did you mean "access_token"?`,
		"invalid-extract.yaml": `testdata/invalid-extract.yaml:7: journeys[0].steps[0].extract.both: names several sources (regex, header); give one
testdata/invalid-extract.yaml:8: journeys[0].steps[0].extract.none: names no source; give one of regex, json, header, cookie, css, form_field
testdata/invalid-extract.yaml:9: journeys[0].steps[0].extract.attr-without-css.attr: only applies to css
testdata/invalid-extract.yaml:10: journeys[0].steps[0].extract["bad path"].json: "$.items[*].id": [*] is not an index or a quoted key; filters and wildcards are not supported`,
		"invalid-targets.yaml": `testdata/invalid-targets.yaml:3: journeys[0].targets: has both static and dns; give one
testdata/invalid-targets.yaml:8: journeys[1].targets.host: "api.example.com" is not host:port; write it like api.example.com:443
testdata/invalid-targets.yaml:8: journeys[1].targets: names no addresses; give static: [host:port, ...] or dns: name:port
testdata/invalid-targets.yaml:13: journeys[2].targets.static[0]: "10.0.0.7" is not host:port; write it like 10.0.0.7:443
testdata/invalid-targets.yaml:13: journeys[2].targets.static[2]: "10.0.0.8:443" is listed twice`,
		"invalid-names.yaml": `testdata/invalid-names.yaml:2: global.location: "eu west" is not a valid location; use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters
testdata/invalid-names.yaml:4: journeys[0].name: "password login" is not a valid name; use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters
testdata/invalid-names.yaml:4: journeys[0].variants[1].name: "beta" is used by an earlier variant; variant names must be unique
testdata/invalid-names.yaml:6: journeys[0].variants[0].vars.user-name: "user-name" is not a valid variable name; use letters, digits and '_', starting with a letter or '_'`,
		"invalid-lockout.yaml":     `testdata/invalid-lockout.yaml:3: global.lockout_protection.after: -1 is out of range; use 1 to 1000 refused runs, or 0 to turn the protection off`,
		"invalid-empty.yaml":       `testdata/invalid-empty.yaml: the config file is empty; it needs at least a journeys list`,
		"invalid-syntax.yaml":      `testdata/invalid-syntax.yaml:4: YAML syntax error: did not find expected ',' or '}'`,
		"invalid-secret-file.yaml": `testdata/invalid-secret-file.yaml:8: journeys[0].steps[0].http.basic_auth.password: secret file testdata/secrets/does-not-exist does not exist; create it, or fix the path in ${file:...}`,
		"invalid-slo.yaml": `testdata/invalid-slo.yaml:2: global.max_concurrency: 0 is out of range; use 1 to 100000
testdata/invalid-slo.yaml:5: journeys[0].slo.objective: 150 is not a percentage between 0 and 100 (exclusive); write 99.5 for 99.5%
testdata/invalid-slo.yaml:6: journeys[0].interval: 100ms is too short; the minimum is 1s`,
		"invalid-template.yaml": `testdata/invalid-template.yaml:6: journeys[0].steps[0].http.url: is not a valid template: unclosed action
testdata/invalid-template.yaml:7: journeys[0].steps[0].http.headers.X-Secret: ${env:HOME} is inside {{ }} but not a whole quoted argument; write {{ f "${env:HOME}" }}, or set it in vars
testdata/invalid-template.yaml:7: journeys[0].steps[0].http.headers.X-Ref: ${vault:thing} is not a reference authprobe knows; use ${env:NAME} or ${file:PATH} (write $${ for a literal ${)`,
		"invalid-body.yaml": `testdata/invalid-body.yaml:10: journeys[0].steps[0].http.redirects: "sometimes" is not a redirect policy; write none, follow (up to 10) or the most to follow, 0 to 100
testdata/invalid-body.yaml:11: journeys[0].steps[0].http.max_body_bytes: "2TB" is not a size; write bytes or a number with a unit, like 512KiB or 2MiB
testdata/invalid-body.yaml:12: journeys[0].steps[0].retry_until.for: 5s is shorter than every (10s); nothing would be retried`,
		"invalid-body-conflict.yaml": `testdata/invalid-body-conflict.yaml:6: journeys[0].steps[0].http.method: "post" is not an HTTP method; write it in capitals, like GET or POST
testdata/invalid-body-conflict.yaml:6: journeys[0].steps[0].http: sets form and json; a request has one body, so give one of them`,
		"invalid-shard.yaml": `testdata/invalid-shard.yaml:2: global.shard: "3/3" is out of range; with 3 shards the index runs from 0 to 2`,
		"invalid-types.yaml": `testdata/invalid-types.yaml:1: global: must be a mapping of fields, not a list
testdata/invalid-types.yaml:4: journeys[0].steps: must be a list, not a mapping`,
	}
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d invalid-*.yaml files but %d cases: every fixture needs its expected message", len(files), len(tests))
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			_, err := load(filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not config.Errors: %v", err, err)
			}
			if got := err.Error(); got != want {
				t.Errorf("wrong message\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AUTHPROBE_TEST_PASSWORD", "s3cret-{{ .not_a_template }}")
	t.Setenv("AUTHPROBE_TEST_LOCATION", "eu-west-1")
	if err := os.WriteFile(filepath.Join(dir, "client-secret"), []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "authprobe.yaml")
	writeFile(t, path, `
global:
  interval: 15s
  location: ${env:AUTHPROBE_TEST_LOCATION}
x-defaults: &login-page
  name: login-page
  http: { url: "https://app.example.com/login" }
journeys:
  - name: password-login
    timeout: 4s
    slo: { objective: 99.9 }
    steps:
      - <<: *login-page
        extract: { csrf: { form_field: csrf } }
        expect: { status: [200, 3xx], body_contains: Sign in }
      - name: submit
        http:
          method: POST
          url: "https://app.example.com/login"
          headers: { X-Requested-With: XMLHttpRequest, Authorization: "Basic ${file:client-secret}" }
          form: { user: probe, password: "${env:AUTHPROBE_TEST_PASSWORD}", csrf: "{{ .csrf }}", note: "costs $${HOME}" }
        expect:
          status: 302
          cookie: session
          json: { "$.b": 2, "$.a": "x" }
  - name: variants
    vars: { user: probe }
    variants:
      - { name: beta, vars: { cohort: beta } }
      - { name: stable, vars: { cohort: stable } }
    targets: { host: "api.example.com:443", static: ["10.0.0.7:443", "10.0.0.8:443"] }
    steps:
      - name: me
        http: { url: "https://api.example.com/me?u={{ .user }}&c={{ .cohort }}" }
`)
	cfg, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Global; g.Interval.D() != 15*time.Second || g.Timeout.D() != config.DefaultTimeout || g.Location != "eu-west-1" || g.MaxConcurrency != 64 {
		t.Errorf("global = %+v; want interval 15s, default timeout and concurrency, location from env", g)
	}
	pl, v := cfg.Journeys[0], cfg.Journeys[1]
	if pl.Interval.D() != 15*time.Second || pl.Timeout.D() != 4*time.Second || pl.Objective() != 0.999 {
		t.Errorf("password-login: interval %s timeout %s objective %v; want 15s from global, 4s, 0.999", pl.Interval, pl.Timeout, pl.Objective())
	}
	if v.Objective() != 0.995 || v.Targets.MaxTargets != config.DefaultMaxTargets {
		t.Errorf("variants: objective %v max_targets %d; want the defaults", v.Objective(), v.Targets.MaxTargets)
	}
	if pl.Steps[0].Name != "login-page" || pl.Steps[0].Kind != "http" {
		t.Errorf("the merge key was not applied: %+v", pl.Steps[0])
	}
	spec := pl.Steps[1].Spec.(*httpstep.Spec)
	if _, ok := spec.Headers["X-Requested-With"]; !ok {
		t.Errorf("header names lost their case: %v", spec.Headers)
	}
	vars := map[string]string{"csrf": "tok"}
	if got, _ := spec.Form["password"].Execute(vars); got != "s3cret-{{ .not_a_template }}" {
		t.Errorf("a secret containing {{ became template code: %q", got)
	}
	if got, _ := spec.Form["note"].Execute(vars); got != "costs ${HOME}" {
		t.Errorf("$${ should be a literal ${, got %q", got)
	}
	if got, _ := spec.Headers["Authorization"].Execute(vars); got != "Basic from-a-file" {
		t.Errorf("${file:} relative to the config, trailing newline dropped: got %q", got)
	}
	if got := spec.Form["password"].String(); got != "${env:AUTHPROBE_TEST_PASSWORD}" {
		t.Errorf("String() must show the reference, not the secret: %q", got)
	}
	want := map[string]bool{"s3cret-{{ .not_a_template }}": true, "from-a-file": true}
	for _, s := range cfg.Secrets {
		if !want[s] {
			t.Errorf("%q is treated as a secret; only values resolved into request fields are", s)
		}
		delete(want, s)
	}
	if len(want) > 0 {
		t.Errorf("secrets not recorded: %v", want)
	}
	exp := pl.Steps[1].Expect
	if len(exp.JSON) != 2 || exp.JSON[0].Path.String() != "$.b" {
		t.Errorf("json expectations lost their order: %v", exp.JSON)
	}
	if !pl.Steps[0].Expect.Status.Matches(301) || pl.Steps[0].Expect.Status.Matches(404) {
		t.Errorf("status [200, 3xx] matches wrongly")
	}

	// Fingerprints: stable for the same file, changed by a secret.
	again, _ := load(path)
	if again.Journeys[0].Fingerprint != pl.Fingerprint {
		t.Error("fingerprint changed without a change")
	}
	t.Setenv("AUTHPROBE_TEST_PASSWORD", "rotated")
	rotated, _ := load(path)
	if rotated.Journeys[0].Fingerprint == pl.Fingerprint {
		t.Error("fingerprint did not change when a secret did")
	}
}

// Values of references never reach error messages, and text fields that
// use them are secrets too.
func TestReferencesStayHidden(t *testing.T) {
	t.Setenv("AUTHPROBE_TEST_PASSWORD", "hunter2(")
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, `
global: { interval: "${env:AUTHPROBE_TEST_PASSWORD}" }
journeys:
  - name: j
    steps:
      - name: s
        http: { url: "https://x.example/" }
        expect: { body_regex: "${env:AUTHPROBE_TEST_PASSWORD}" }
`)
	_, err := load(path)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error shows the value of a reference: %v", err)
	}
	for _, want := range []string{`global.interval: "${env:AUTHPROBE_TEST_PASSWORD}" is not a duration`,
		"expect.body_regex: is not a valid regular expression: the value of ${env:AUTHPROBE_TEST_PASSWORD} does not compile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	t.Setenv("AUTHPROBE_TEST_ACCOUNT", "acct-999")
	t.Setenv("AUTHPROBE_TEST_LOCATION", "eu-west-1")
	t.Setenv("AUTHPROBE_TEST_BASE", "https://app.example.com")
	writeFile(t, path, `
global: { location: "${env:AUTHPROBE_TEST_LOCATION}" }
journeys:
  - name: j
    steps:
      - name: s
        http: { url: "${env:AUTHPROBE_TEST_BASE}/login" }
        expect: { body_contains: "${env:AUTHPROBE_TEST_ACCOUNT}" }
`)
	cfg, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := map[string]bool{}
	for _, s := range cfg.Secrets {
		secret[s] = true
	}
	if !secret["acct-999"] || !secret["https://app.example.com"] || secret["eu-west-1"] {
		t.Errorf("secrets %v: text fields are secret, the location label is not", cfg.Secrets)
	}
}

// A change to an anchor a journey uses, or to a secret it reads, changes
// its fingerprint; a secret it does not read does not.
func TestFingerprints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	conf := func(url, other string) *config.Config {
		t.Helper()
		t.Setenv("AUTHPROBE_TEST_OTHER", other)
		writeFile(t, path, `
x-get: &get { url: "`+url+`" }
journeys:
  - { name: a, steps: [{ name: s, http: *get }] }
  - { name: b, steps: [{ name: s, http: { url: "https://b.example/", headers: { X: "${env:AUTHPROBE_TEST_OTHER}" } } }] }
`)
		cfg, err := load(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	one, two, three := conf("https://one.example/", "x"), conf("https://two.example/", "x"), conf("https://two.example/", "y")
	if one.Journeys[0].Fingerprint == two.Journeys[0].Fingerprint {
		t.Error("changing an anchor did not change the journey using it")
	}
	if one.Journeys[1].Fingerprint != two.Journeys[1].Fingerprint {
		t.Error("changing an anchor changed a journey not using it")
	}
	if two.Journeys[0].Fingerprint != three.Journeys[0].Fingerprint || two.Journeys[1].Fingerprint == three.Journeys[1].Fingerprint {
		t.Error("a secret's change must change only the journey reading it")
	}
}

func TestEmptyEnvIsAnError(t *testing.T) {
	t.Setenv("AUTHPROBE_TEST_EMPTY", "")
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, "journeys:\n  - name: j\n    steps:\n      - name: s\n        http: { url: \"https://x.example/\", headers: { X: \"${env:AUTHPROBE_TEST_EMPTY}\" } }\n")
	_, err := load(path)
	if err == nil || !strings.Contains(err.Error(), "environment variable AUTHPROBE_TEST_EMPTY is empty") {
		t.Errorf("got %v; want an error naming the empty variable", err)
	}
}

func TestTamper(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9iZSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
	got := config.Tamper(jwt)
	if got == jwt {
		t.Fatal("tamper returned the token unchanged")
	}
	if got[:strings.LastIndexByte(got, '.')] != jwt[:strings.LastIndexByte(jwt, '.')] {
		t.Errorf("tamper changed the header or payload, not only the signature: %s", got)
	}
	if config.Tamper("abc") == "abc" || config.Tamper("") == "" {
		t.Error("tamper must change any input")
	}
}

func TestTemplate(t *testing.T) {
	tm, err := config.ParseTemplate(`Bearer {{ .token }} {{ b64enc .user | lower }}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.Vars(); len(got) != 2 || got[0] != "token" || got[1] != "user" {
		t.Errorf("Vars() = %v; want [token user]", got)
	}
	if _, err := tm.Execute(map[string]string{"token": "t"}); err == nil || err.Error() != `variable "user" is not set` {
		t.Errorf("missing variable: got %v", err)
	}
	got, err := tm.Execute(map[string]string{"token": "t", "user": "probe"})
	if err != nil || got != "Bearer t chjvymu=" {
		t.Errorf("got %q, %v", got, err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// RFC 6238 appendix B: the SHA1 test seed "12345678901234567890" at
// 59 s gives 94287082 (8 digits); here checked through the helper with
// the current time against the library's own validation.
func TestTOTP(t *testing.T) {
	seed := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // base32 of 12345678901234567890
	code, err := config.TOTP(seed)
	if err != nil || len(code) != 6 {
		t.Fatalf("TOTP = %q, %v", code, err)
	}
	if !totp.Validate(code, seed) {
		t.Errorf("code %s does not validate", code)
	}
	uri := "otpauth://totp/probe?secret=" + seed + "&digits=8&period=60"
	code8, err := config.TOTP(uri)
	if err != nil || len(code8) != 8 {
		t.Errorf("TOTP(uri) = %q, %v; want 8 digits", code8, err)
	}
	for _, bad := range []string{"not base32!", "", "otpauth://totp/x?secret=", "otpauth://totp/x?secret=" + seed + "&digits=9"} {
		if _, err := config.TOTP(bad); err == nil {
			t.Errorf("TOTP(%q) must be an error", bad)
		}
	}
	// A constant seed is checked when the config loads.
	t.Setenv("AUTHPROBE_TEST_SEED", "")
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, "journeys: [{ name: j, steps: [{ name: s, http: { url: 'https://x.example/', headers: { X: '{{ totp \"${env:AUTHPROBE_TEST_SEED}\" }}' } } }] }]")
	if _, err := load(path); err == nil || !strings.Contains(err.Error(), "environment variable AUTHPROBE_TEST_SEED is empty") {
		t.Errorf("an empty seed: %v", err)
	}
	t.Setenv("AUTHPROBE_TEST_SEED", "12345678")
	if _, err := load(path); err == nil || !strings.Contains(err.Error(), "headers.X: is not a valid template: totp: the seed is not base32") {
		t.Errorf("a bad seed: %v", err)
	}
}

// A reference may be a whole string argument of a helper; its value stays
// a value even when it looks like template code.
func TestReferenceAsArgument(t *testing.T) {
	t.Setenv("AUTHPROBE_TEST_SEED", `JBSWY3DPEHPK3PXP" }}{{ .x`)
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, `
journeys:
  - name: j
    steps:
      - name: s
        http: { url: "https://x.example/", headers: { X-Len: '{{ len "${env:AUTHPROBE_TEST_SEED}" }}' } }
`)
	cfg, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Journeys[0].Steps[0].Spec.(*httpstep.Spec).Headers["X-Len"].Execute(nil)
	if err != nil || got != "25" {
		t.Errorf("got %q, %v; want the length of the seed, 25", got, err)
	}
}
