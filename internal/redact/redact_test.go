package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	r := New("p@ss word", "tok", "tok-longer")
	for in, want := range map[string]string{
		"password p@ss word here":          "password <secret> here",
		"url ?p=p%40ss+word&x=1":           "url ?p=<secret>&x=1",
		"path /p@ss%20word/":               "path /<secret>/",
		"bearer tok-longer":                "bearer <secret>",
		"nothing to hide":                  "nothing to hide",
		"tok and tok-longer and tok again": "<secret> and <secret> and <secret> again",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if got := r.With("more").String("more tok"); got != "<secret> <secret>" {
		t.Errorf("With: %q", got)
	}
	var nilR *Redactor
	if nilR.String("x") != "x" || New().String("x") != "x" {
		t.Error("an empty redactor must change nothing")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	r := New("hunter2")
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil), func() *Redactor { return r }))
	log.With("ctx", "with hunter2").Info("login with hunter2 failed",
		"err", errors.New("bad password hunter2"), slog.Group("req", "url", "https://x/?p=hunter2"), "n", 3)
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("the secret reached the log: %s", out)
	}
	if strings.Count(out, Mask) != 4 || !strings.Contains(out, "n=3") {
		t.Errorf("log: %s", out)
	}
}

// A secret is hidden in the forms it takes on the way to a target and
// back: escaped in a URL's query or path, base64 (a basic credential
// decoded and quoted), JSON-escaped (an API echoing its input).
func TestRedactorForms(t *testing.T) {
	const pw = `zq"ss &<w>/rd+`
	r := New(pw)
	for _, in := range []string{
		`{"detail":"invalid password: zq\"ss \u0026\u003cw\u003e/rd+"}`, // encoding/json
		`{"detail":"invalid password: zq\"ss &<w>/rd+"}`,                // encoders that keep HTML
		"GET /login/zq%22ss%20&%3Cw%3E/rd+ failed",                      // a URL printing its path
		"echo enEic3MgJjx3Pi9yZCs=",                                     // base64
		"echo enEic3MgJjx3Pi9yZCs",                                      // base64, unpadded
		"q=zq%22ss+%26%3Cw%3E%2Frd%2B",                                  // a query
	} {
		if got := r.String(in); strings.Contains(got, "zq") || !strings.Contains(got, Mask) {
			t.Errorf("String(%q) = %q; the secret is not hidden", in, got)
		}
	}
	// Redactors built up with With hold the secrets once each, not their
	// forms' forms: reloads and runs call With all the time.
	grown := New(pw)
	for range 5 {
		grown = grown.With(pw, "tok")
	}
	if len(grown.secrets) != 2 {
		t.Errorf("after 5 With calls the redactor holds %d secrets, want 2", len(grown.secrets))
	}
}
