package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/probes"
)

// fileRef finds ${file:...} references, which would read any file.
var fileRef = regexp.MustCompile(`\$\{file:([^}]*)\}`)

// FuzzParse decodes arbitrary YAML as a config: it never panics, and
// every error names the file and where in it — a line or a field path —
// except for a file with nothing in it.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../examples/*.yaml", "../examples/*/*.yaml", "testdata/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		``,
		`journeys: []`,
		"global: { interval: 30s, timeout: 10s, location: eu-west-1, max_concurrency: 64 }\njourneys:\n  - name: j\n    steps:\n      - { name: s, http: { url: \"https://app.example.com/\" } }\n",
		"x-idp: &idp { issuer: \"https://idp.example.com\", client_id: c, client_secret: \"${file:secret.txt}\" }\njourneys:\n  - name: t\n    steps:\n      - { name: tok, oauth2: { <<: *idp, grant: client_credentials } }\n      - { name: v, jwt: { token: \"{{ .access_token }}\", issuer: \"https://idp.example.com\", audience: api } }\n",
		"journeys:\n  - name: j\n    vars: { user: probe }\n    variants: [ { name: a, vars: { user: a } } ]\n    steps:\n      - name: s\n        http: { method: POST, url: \"https://x.example/{{ .user }}\", json: { a: [1, true, null, \"{{ upper .user }}\"] }, redirects: follow, max_body_bytes: 1MiB }\n        extract: { csrf: { css: \"input[name=csrf]\", attr: value }, tok: { json: \"$.a[0]\" }, h: { header: X-A }, c: { cookie: s }, f: { form_field: f }, r: { regex: \"a(b)\" } }\n        expect: { status: [200, 3xx], body_contains: ok, body_regex: \"o+k\", json: { \"$.ok\": true }, header: { X-A: \"^a\" }, cookie: s, max_duration: 1s }\n        retry_until: { every: 1s, for: 5s }\n",
		"journeys:\n  - name: j\n    targets: { host: \"api.example.com:443\", dns: \"api-headless:443\", max_targets: 4 }\n    steps: [ { name: s, always: true, browser: { actions: [ { navigate: \"https://x.example/\" } ] } } ]\n",
		"journeys: [ { name: j, steps: [ { name: s, http: { url: \"https://x/\", headers: { A: \"{{ totp \\\"${env:SEED}\\\" }}\" } } } ] } ]",
		"journeys:\n\t- name: tab",
		"\x00journeys: []",
		"journeys: [\xff]",
		"a: &a [*a]",
		"--- a\n--- b\n",
		"journeys: !!binary aGk=",
		"journeys: [ { name: j, steps: [ { name: s, http: { url: \"$${literal}\" } } ] } ]",
		"x-l: &l [lol, lol]\nx-m: &m [*l, *l, *l]\njourneys: [ { name: j, steps: [ { name: s, http: { url: \"https://x/\", json: [*m, *m] } } ] } ]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	file := filepath.Join(dir, "authprobe.yaml")
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("s3cret\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	os.Setenv("SEED", "JBSWY3DPEHPK3PXP")
	f.Fuzz(func(t *testing.T, data []byte) {
		// A reference reads a file: only the one prepared here, never
		// /dev/stdin or anything else on the machine.
		for _, m := range fileRef.FindAllSubmatch(data, -1) {
			if string(m[1]) != "secret.txt" {
				t.Skip()
			}
		}
		start := time.Now()
		cfg, err := config.Parse(data, file)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Parse took %s for %d bytes", took, len(data))
		}
		if err == nil {
			if cfg == nil {
				t.Fatal("Parse returned neither a config nor an error")
			}
			if _, err := probes.Compile(cfg); err != nil {
				checkErrors(t, err, file)
			}
			return
		}
		if cfg != nil {
			t.Fatal("Parse returned a config with an error")
		}
		checkErrors(t, err, file)
	})
}

// checkErrors says what is wrong with an error Parse or Compile returned:
// every problem must say in which file and where.
func checkErrors(t *testing.T, err error, file string) {
	t.Helper()
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("the error is a %T, not config.Errors: %v", err, err)
	}
	for _, e := range errs {
		switch {
		case e.File != file:
			t.Errorf("the error %q names the file %q, not %q", e, e.File, file)
		case e.Msg == "":
			t.Errorf("the error %q says nothing", e)
		case e.Line <= 0 && e.Path == "" && !strings.HasPrefix(e.Msg, "the config file is empty"):
			t.Errorf("the error %q names neither a line nor a path", e)
		}
	}
}

// FuzzTemplate parses and executes arbitrary templates with an arbitrary
// variable: neither panics, and a template that parses lists the
// variables it reads, which must be set for it to execute.
func FuzzTemplate(f *testing.F) {
	for _, s := range [][3]string{
		{`{{ .csrf }}`, "csrf", "tok-123"},
		{`Bearer {{ .access_token }}`, "access_token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
		{`Bearer {{ tamper .access_token }}`, "access_token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
		{`{{ totp .seed }}`, "seed", "JBSWY3DPEHPK3PXP"},
		{`{{ totp .seed }}`, "seed", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8&period=60&algorithm=SHA256"},
		{`{{ b64enc .u }}:{{ b64url .u }}:{{ b64dec .u }}`, "u", "aGVsbG8="},
		{`{{ sha256 .v }} {{ s256 .v }} {{ randhex 16 }} {{ uuid }} {{ unix }} {{ now }}`, "v", "verifier"},
		{`{{ if eq .a "x" }}{{ upper .a }}{{ else }}{{ lower .a | trim }}{{ end }}`, "a", " X "},
		{`{{ range $i, $c := .s }}{{ $c }}{{ end }}`, "s", "abc"},
		{`{{ with .a }}{{ . }}{{ end }}{{ len .a }}{{ index .a 0 }}{{ slice .a 1 }}`, "a", "abc"},
		{`{{ printf "%q %d" .a 3 }} {{ urlquery .a }} {{ jsonquote .a }} {{ html .a }} {{ js .a }}`, "a", `"<a&b>"`},
		{`{{ define "t" }}{{ template "t" . }}{{ end }}{{ template "t" . }}`, "a", ""},
		{`{{ .missing }}`, "other", "x"},
		{`{{ randhex 0 }}`, "", ""},
		{`{{`, "", ""},
		{`{{ .a.b.c }}`, "a", "x"},
		{`{{ call .a }}`, "a", "x"},
		{`plain text, no actions`, "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, src, name, value string) {
		tmpl, err := config.ParseTemplate(src)
		if err != nil {
			return
		}
		if tmpl.String() != src {
			t.Fatalf("String() is %q, not the source %q", tmpl.String(), src)
		}
		if !strings.Contains(src, "{{") {
			if out, err := tmpl.Execute(nil); err != nil || out != src {
				t.Fatalf("a template without actions executed to %q, %v; want itself", out, err)
			}
			return
		}
		vars := map[string]string{name: value}
		out, err := tmpl.Execute(vars)
		if err == nil && len(out) > 64<<20 {
			t.Fatalf("a template of %d bytes rendered %d bytes", len(src), len(out))
		}
		for _, v := range tmpl.Vars() {
			if _, ok := vars[v]; !ok && err == nil {
				t.Fatalf("the template reads {{ .%s }}, which is not set, and executed anyway", v)
			}
		}
	})
}

// A billion laughs: nine levels of aliases, each ten of the one below,
// would expand to 10⁹ values. The load refuses it at once, at the alias.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-a0: &a0 lol\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("journeys:\n  - name: j\n    steps:\n      - name: s\n        http: { url: \"https://x.example/\", json: *a9 }\n")
	start := time.Now()
	_, err := config.Parse([]byte(b.String()), "bomb.yaml")
	if took := time.Since(start); took > time.Second {
		t.Errorf("refusing the bomb took %s", took)
	}
	want := "bomb.yaml:15: the aliases in the file (*a9 and others) expand it to more than 1048576 values"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v; want %s…", err, want)
	}
}
