package probes

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/cascadia"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/jsonpath"
	"github.com/authprobe/authprobe/internal/redact"
)

// FuzzExtract runs every extraction source — regex, json, header, cookie,
// css, form_field — with an arbitrary pattern over an arbitrary response,
// and the excerpt a failure message quotes: none panics, and what a regex
// extracts is part of the body.
func FuzzExtract(f *testing.F) {
	page := `<html><head><title>Sign in</title></head><body>
<form id="login" action="/login" method="post"><input type="hidden" name="csrf" value="tok-123">
<select name="tenant"><option value="a">A</option><option value="b" selected>B</option></select>
<textarea name="note">hello</textarea><input name="user"></form>
<h1 class="greeting"> Welcome back </h1><a id="next" href="/next?x=1">next</a></body></html>`
	token := `{"access_token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln","token_type":"Bearer","expires_in":300,"scope":"api","items":[{"id":7}],"n":1.5e3,"ok":true,"nil":null}`
	for _, s := range [][3]string{
		{page, "text/html; charset=utf-8", `name="csrf" value="([^"]+)"`},
		{page, "text/html", "csrf"},
		{page, "text/html", "#next"},
		{page, "text/html", "form#login input[type=hidden]"},
		{page, "text/html", "h1.greeting"},
		{page, "", "select option[selected]"},
		{token, "application/json", "$.access_token"},
		{token, "application/json", "$.items[0].id"},
		{token, "application/json", `$["expires_in"]`},
		{token, "application/json", "$.items[-1]"},
		{"[1,2,3]", "application/json", "$[1]"},
		{`{"a":` + strings.Repeat("[", 100) + `}`, "application/json", "$.a"},
		{strings.Repeat("<div>", 600) + `<input name="x" value="y">`, "text/html", "x"},
		{"<form><form><input name=a value=1></form></form><table><form><input name=a value=2>", "text/html", "a"},
		{"<select name=s><option>one<option>two</select><textarea name=t>&lt;b&gt;</textarea>", "text/html", "s"},
		{"\xff\xfe<\x00input name=\"\x00\">", "text/html", "\x00"},
		{"session=abc; Path=/; HttpOnly", "text/plain", "session"},
		{"", "", ""},
		{"plain text, token=abc123", "text/plain", `token=(\w+)`},
		{"a\nb\nc", "text/plain", `(?m)^b$`},
	} {
		f.Add([]byte(s[0]), s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, pattern string) {
		run := newRun(nil, &Journey{}, &Variant{}, "")
		run.redactor = redact.New("tok-123", "s3cret")
		u, _ := url.Parse("http://app.test/login")
		header := http.Header{}
		header.Set("Content-Type", contentType)
		header.Add("Set-Cookie", pattern+"=v; Path=/")
		header.Add("Set-Cookie", string(body))
		if n := strings.IndexByte(pattern, ':'); n > 0 {
			header.Add(pattern[:n], pattern[n+1:])
		}
		run.Jar.SetCookies(u, (&http.Response{Header: header}).Cookies())
		resp := &Response{Status: 200, Header: header, Body: body, URL: u.String()}

		var sources []config.Extract
		if re, err := regexp.Compile(pattern); err == nil {
			sources = append(sources, config.Extract{Regex: &config.Regexp{Regexp: re}})
		}
		if p, err := jsonpath.Parse(pattern); err == nil {
			sources = append(sources, config.Extract{JSON: config.JSONPath{Path: p}})
		}
		if sel, err := cascadia.Compile(pattern); err == nil {
			css := config.CSS{Src: pattern, Selector: sel}
			sources = append(sources, config.Extract{CSS: css}, config.Extract{CSS: css, Attr: "value"})
		}
		if pattern != "" {
			sources = append(sources, config.Extract{Header: pattern}, config.Extract{Cookie: pattern}, config.Extract{FormField: pattern})
		}
		start := time.Now()
		defer func() {
			if took := time.Since(start); took > time.Second {
				t.Errorf("extracting from %d bytes took %s", len(body), took)
			}
		}()
		for _, ex := range sources {
			v, err := extract(run, resp, ex)
			if err == nil && ex.Regex != nil && !bytes.Contains(body, []byte(v)) {
				t.Fatalf("regex %q extracted %q, which is not in the body", pattern, v)
			}
		}
		if ex := excerpt(run, resp); strings.Contains(ex, "tok-123") || strings.Contains(ex, "s3cret") {
			t.Fatalf("the excerpt shows a secret: %q", ex)
		}
	})
}
